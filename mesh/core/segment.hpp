// A media segment: numbered by the broadcaster, signed with the stream's Ed25519 key.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "mesh/core/types.hpp"

namespace meshcast::mesh {

using Signature = std::array<uint8_t, 64>;
using Digest = std::array<uint8_t, 32>;

struct SegmentHeader {
  uint64_t stream_id = 0;
  uint32_t number = 0;
  TimeUs created_us = 0;  // broadcaster clock
  uint32_t size = 0;      // payload bytes (counted even when the payload is absent in the sim)
  uint8_t hops = 0;       // relay count; NOT covered by the signature (relays increment it)
};

struct Segment {
  SegmentHeader header;
  Signature signature{};
  // Opaque payload; shared so relaying never copies it. May be null in the simulator
  // (then header.size bytes are accounted but not carried).
  std::shared_ptr<const std::vector<uint8_t>> payload;

  std::span<const uint8_t> payload_bytes() const {
    return payload ? std::span<const uint8_t>(*payload) : std::span<const uint8_t>();
  }
};

// The payload is signed through a list of piece digests (SHA-256 of each kPieceBytes
// slice, the last one shorter), so a relay can check each piece as it arrives and pass it on
// before the whole segment is in (cut-through); verifying a whole segment recomputes them.
inline constexpr size_t kPieceBytes = 4096;
inline size_t piece_count(size_t payload_bytes) {
  return (payload_bytes + kPieceBytes - 1) / kPieceBytes;
}
std::vector<Digest> piece_digests(std::span<const uint8_t> payload);
// SHA-256 over the concatenated piece digests.
Digest digest_list_hash(std::span<const Digest> pieces);

// The bytes the broadcaster signs: stream id (8, BE) | number (4, BE) | created (8, BE) |
// digest_list_hash (32). Size is implied by the piece digests.
std::array<uint8_t, 52> signing_input(const SegmentHeader& h, const Digest& list_hash);
Digest sha256(std::span<const uint8_t> data);

}  // namespace meshcast::mesh
