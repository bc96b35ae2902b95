#include "mesh/core/segment.hpp"

#include <openssl/sha.h>

#include <algorithm>

namespace meshcast::mesh {

std::array<uint8_t, 52> signing_input(const SegmentHeader& h, const Digest& list_hash) {
  std::array<uint8_t, 52> out{};
  size_t p = 0;
  for (int i = 7; i >= 0; --i) out[p++] = uint8_t(h.stream_id >> (8 * i));
  for (int i = 3; i >= 0; --i) out[p++] = uint8_t(h.number >> (8 * i));
  const uint64_t t = uint64_t(h.created_us);
  for (int i = 7; i >= 0; --i) out[p++] = uint8_t(t >> (8 * i));
  for (uint8_t b : list_hash) out[p++] = b;
  return out;
}

Digest sha256(std::span<const uint8_t> data) {
  Digest d{};
  SHA256(data.data(), data.size(), d.data());
  return d;
}

std::vector<Digest> piece_digests(std::span<const uint8_t> payload) {
  std::vector<Digest> out(piece_count(payload.size()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = sha256(
        payload.subspan(i * kPieceBytes, std::min(kPieceBytes, payload.size() - i * kPieceBytes)));
  return out;
}

Digest digest_list_hash(std::span<const Digest> pieces) {
  return sha256({reinterpret_cast<const uint8_t*>(pieces.data()), pieces.size() * sizeof(Digest)});
}

}  // namespace meshcast::mesh
