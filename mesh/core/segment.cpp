#include "mesh/core/segment.hpp"

#include <openssl/sha.h>

namespace meshcast::mesh {

std::array<uint8_t, 52> signing_input(const SegmentHeader& h, const Digest& payload_sha256) {
  std::array<uint8_t, 52> out{};
  size_t p = 0;
  for (int i = 7; i >= 0; --i) out[p++] = uint8_t(h.stream_id >> (8 * i));
  for (int i = 3; i >= 0; --i) out[p++] = uint8_t(h.number >> (8 * i));
  const uint64_t t = uint64_t(h.created_us);
  for (int i = 7; i >= 0; --i) out[p++] = uint8_t(t >> (8 * i));
  for (uint8_t b : payload_sha256) out[p++] = b;
  return out;
}

Digest sha256(std::span<const uint8_t> data) {
  Digest d{};
  SHA256(data.data(), data.size(), d.data());
  return d;
}

}  // namespace meshcast::mesh
