#include "mesh/core/reassembler.hpp"

#include <algorithm>
#include <cstring>

namespace meshcast::mesh {

Reassembler::Reassembler(size_t max_pending, size_t max_message_bytes)
    : max_pending_(std::max<size_t>(1, max_pending)),
      max_chunks_(std::min<size_t>(0xFFFF, Fragmenter::chunk_count(max_message_bytes))) {}

std::vector<uint16_t> Reassembler::missing(uint32_t id) const {
  std::vector<uint16_t> out;
  for (auto& p : pending_) {
    if (p.id != id) continue;
    for (uint16_t i = 0; i < p.count; ++i)
      if (p.slot[i] == kMissing) out.push_back(i);
  }
  return out;
}

size_t Reassembler::held_bytes() const {
  size_t n = 0;
  for (auto& p : pending_) n += p.data.capacity() + p.slot.capacity() * sizeof(uint16_t);
  return n;
}

Reassembler::Result Reassembler::feed(std::span<const uint8_t> chunk, std::vector<uint8_t>& out) {
  if (chunk.size() < kChunkHeaderBytes || chunk.size() > kMaxChunkBytes) return Result::kMalformed;
  const uint32_t id =
      uint32_t(chunk[0]) << 24 | uint32_t(chunk[1]) << 16 | uint32_t(chunk[2]) << 8 | chunk[3];
  const uint16_t index = uint16_t(chunk[4] << 8 | chunk[5]);
  const uint16_t count = uint16_t(chunk[6] << 8 | chunk[7]);
  const auto data = chunk.subspan(kChunkHeaderBytes);
  if (count == 0 || index >= count) return Result::kMalformed;
  if (count > max_chunks_) return Result::kTooLarge;
  // Every chunk but the last is full; the last holds 1..kChunkDataBytes (or 0 for an empty
  // single-chunk message).
  const bool last = index + 1 == count;
  if (!last && data.size() != kChunkDataBytes) return Result::kMalformed;
  if (last && data.empty() && count != 1) return Result::kMalformed;

  if (count == 1) {
    out.assign(data.begin(), data.end());
    return Result::kComplete;
  }
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](auto& p) { return p.id == id; });
  if (it == pending_.end()) {
    if (pending_.size() >= max_pending_) {
      auto oldest = std::min_element(pending_.begin(), pending_.end(),
                                     [](auto& a, auto& b) { return a.id < b.id; });
      pending_.erase(oldest);
      ++evicted_;
    }
    Partial p;
    p.id = id;
    p.count = count;
    p.slot.assign(count, kMissing);
    pending_.push_back(std::move(p));
    it = pending_.end() - 1;
  }
  Partial& p = *it;
  if (p.count != count) {
    pending_.erase(it);
    return Result::kMalformed;
  }
  if (p.slot[index] != kMissing) return Result::kDuplicate;
  p.slot[index] = p.received++;
  // Grows with what arrived (doubling, as vectors do, so in-order arrival is amortised O(1)).
  const size_t at = p.data.size();
  p.data.resize(at + kChunkDataBytes);
  std::memcpy(p.data.data() + at, data.data(), data.size());
  if (last) p.last_len = data.size();
  if (p.received < p.count) return Result::kIncomplete;
  const size_t total = size_t(p.count - 1) * kChunkDataBytes + p.last_len;
  out.resize(total);
  for (uint16_t i = 0; i < p.count; ++i) {
    const size_t len = i + 1 == p.count ? p.last_len : kChunkDataBytes;
    std::memcpy(out.data() + size_t(i) * kChunkDataBytes,
                p.data.data() + size_t(p.slot[i]) * kChunkDataBytes, len);
  }
  pending_.erase(it);
  return Result::kComplete;
}

}  // namespace meshcast::mesh
