// Compact binary encoding of mesh messages (big-endian, 1-byte type first).
// decode() never throws and never reads out of bounds: any malformed input yields an error.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "mesh/core/messages.hpp"

namespace meshcast::mesh {

enum class DecodeError : uint8_t {
  kOk = 0,
  kEmpty,
  kUnknownType,
  kTruncated,
  kBadValue,
  kTrailingBytes,
  kTooLarge,
};
const char* to_string(DecodeError e);

// Exact number of bytes encode() appends.
size_t encoded_size(const Message& m);
// Appends the encoding of m to out. For SegmentMsg, a null payload is encoded as
// header.size zero bytes (so the length on the wire always matches the header).
void encode(const Message& m, std::vector<uint8_t>& out);
std::vector<uint8_t> encode(const Message& m);
// Decodes exactly one message occupying all of `in`.
DecodeError decode(std::span<const uint8_t> in, Message& out);

}  // namespace meshcast::mesh
