// Striping: the broadcaster cuts each signed segment into K stripes (byte ranges), one per
// push tree, so a relay's copy is 1/K of a segment and every tree carries every segment
// (SplitStream / CoopNet). Each stripe travels as a Segment of its own ("unit"): number
// segment * K + j, the segment's creation time, its own size and its own signature, so
// relays verify and forward stripes exactly as whole segments. A viewer plays a segment
// when all its K stripes are in. K = 1 is a whole segment per unit.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "mesh/core/segment.hpp"

namespace meshcast::mesh {

inline uint32_t unit_number(uint32_t segment, uint32_t k, uint32_t stripe) {
  return segment * k + stripe;
}
inline uint32_t segment_of_unit(uint32_t unit, uint32_t k) { return unit / k; }
inline uint32_t stripe_of_unit(uint32_t unit, uint32_t k) { return unit % k; }

// The K stripes of `seg` (unsigned: the broadcaster signs each). Stripe j holds bytes
// [j * size / K, (j + 1) * size / K), so sizes differ by at most one byte. A null payload (the
// simulator) gives null stripe payloads with the sizes set. K is clamped to [1, 16].
std::vector<Segment> split_stripes(const Segment& seg, uint32_t k);

// The segment back from its K stripes in order (numbers segment * K + 0..K-1, one creation
// time); nullopt if they do not fit together. Hops: the most any stripe took.
std::optional<Segment> join_stripes(std::span<const Segment> stripes, uint32_t k);

}  // namespace meshcast::mesh
