#include "mesh/core/stripes.hpp"

#include <algorithm>

namespace meshcast::mesh {

std::vector<Segment> split_stripes(const Segment& seg, uint32_t k) {
  k = std::clamp<uint32_t>(k, 1, kMaxSubstreams);
  std::vector<Segment> out(k);
  const uint64_t size = seg.header.size;
  for (uint32_t j = 0; j < k; ++j) {
    const uint64_t from = size * j / k, to = size * (j + 1) / k;
    Segment& u = out[j];
    u.header = seg.header;
    u.header.number = unit_number(seg.header.number, k, j);
    u.header.size = uint32_t(to - from);
    if (seg.payload) {
      const auto& p = *seg.payload;
      const size_t a = std::min<size_t>(from, p.size()), b = std::min<size_t>(to, p.size());
      u.payload =
          std::make_shared<const std::vector<uint8_t>>(p.begin() + long(a), p.begin() + long(b));
    }
  }
  return out;
}

std::optional<Segment> join_stripes(std::span<const Segment> stripes, uint32_t k) {
  if (k == 0 || stripes.size() != k) return std::nullopt;
  const SegmentHeader& h0 = stripes[0].header;
  if (stripe_of_unit(h0.number, k) != 0) return std::nullopt;
  Segment seg;
  seg.header = h0;
  seg.header.number = segment_of_unit(h0.number, k);
  seg.header.size = 0;
  seg.header.hops = 0;
  seg.signature = stripes[0].signature;
  const bool carried = stripes[0].payload != nullptr;
  auto payload = std::make_shared<std::vector<uint8_t>>();
  for (uint32_t j = 0; j < k; ++j) {
    const Segment& u = stripes[j];
    if (u.header.number != h0.number + j || u.header.stream_id != h0.stream_id ||
        u.header.created_us != h0.created_us || (u.payload != nullptr) != carried ||
        (carried && u.payload->size() != u.header.size))
      return std::nullopt;
    seg.header.size += u.header.size;
    seg.header.hops = std::max(seg.header.hops, u.header.hops);
    if (carried) payload->insert(payload->end(), u.payload->begin(), u.payload->end());
  }
  if (carried) seg.payload = std::move(payload);
  return seg;
}

}  // namespace meshcast::mesh
