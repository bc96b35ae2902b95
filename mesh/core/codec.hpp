// Compact binary encoding of mesh messages (big-endian, 1-byte type first).
// decode() never throws and never reads out of bounds: any malformed input yields an error.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "mesh/base/expected.hpp"
#include "mesh/core/messages.hpp"

namespace meshcast::mesh {

enum class DecodeError : uint8_t {
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
Expected<Message, DecodeError> decode(std::span<const uint8_t> in);

// An encoded segment message starts with a fixed prefix (type, header, signature, piece
// count), then the piece digests, then the payload. A cut-through relay reads the prefix
// before the rest has arrived.
inline constexpr size_t kSegmentPrefixBytes = 1 + 8 + 4 + 8 + 4 + 1 + 64 + 2;
inline constexpr size_t kSegmentHopsOffset = 1 + 8 + 4 + 8 + 4;  // not signed: relays bump it
// Bytes before the payload of a segment of `payload_size` bytes.
inline size_t segment_head_bytes(size_t payload_size) {
  return kSegmentPrefixBytes + sizeof(Digest) * piece_count(payload_size);
}
// What an encoded segment message says before its digests and payload.
struct SegmentPrefix {
  SegmentHeader header;
  Signature signature{};
};
// Parses the first kSegmentPrefixBytes of an encoded segment message with the checks
// decode() applies to them (type, size bound, piece count).
Expected<SegmentPrefix, DecodeError> decode_segment_prefix(std::span<const uint8_t> prefix);

}  // namespace meshcast::mesh
