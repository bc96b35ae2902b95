#include "mesh/sim/network_model.hpp"

#include <algorithm>
#include <cmath>
#include <variant>

#include "mesh/core/codec.hpp"
#include "mesh/core/fragmenter.hpp"

namespace meshcast::mesh::sim {

TimeUs NetworkModel::latency(const IdInfo& a, const IdInfo& b) const {
  const double dx = a.x - b.x, dy = a.y - b.y;
  const double d = std::sqrt(dx * dx + dy * dy) / std::sqrt(2.0);
  const double rtt_ms = cfg_.rtt_min_ms + (cfg_.rtt_max_ms - cfg_.rtt_min_ms) * d;
  return TimeUs(rtt_ms * 500.0);
}

NetworkModel::Delivery NetworkModel::send(SimPeer& p, const IdInfo& self, const IdInfo* dst,
                                          const Message& msg, uint8_t priority, TimeUs now,
                                          LinkLoss& loss, Metrics& m) const {
  size_t bytes = encoded_size(msg);
  const bool media = is_media(msg);
  const size_t chunks = Fragmenter::chunk_count(bytes);
  bytes += chunks * kChunkHeaderBytes;
  // The upload serves priority levels (Output::priority, 0 first): a fluid approximation
  // of a strict-priority pacer (node::UploadPacer), where a send already on its way is
  // not delayed further by a more urgent one queued later.
  // A relay passes a segment it is receiving on to its first child piece by piece
  // (mesh::ChunkRelay in real peers): that copy may start once the first piece is in,
  // and cannot finish before one chunk after the last one is. Later copies queue behind
  // it, so they start after the whole segment is in.
  const TimeUs chunk_us = TimeUs(double(kMaxChunkBytes) * 8e6 / double(p.upload_bps));
  const size_t level = std::min<size_t>(priority, p.up_free.size() - 1);
  TimeUs& lane = p.up_free[level];
  TimeUs start = std::max(now, lane), not_before = 0;
  if (cfg_.cut_through && media && priority != kBulkPriority) {
    const uint32_t n = std::get<SegmentMsg>(msg).segment.header.number;
    const SimPeer::Arrival& a = p.arr[n % 64];
    if (a.num == n + 1 && a.done_at == now && a.head_at < now) {
      start = std::max(a.head_at, lane);
      not_before = now + chunk_us;
    }
  }
  const TimeUs busy = TimeUs(double(bytes) * 8e6 / double(p.upload_bps));
  lane = std::max(start + busy, not_before);
  TimeUs done_at = lane;
  for (size_t l = level + 1; l < p.up_free.size(); ++l)
    p.up_free[l] = std::max(p.up_free[l], now) + busy;
  if (!dst) return {};
  // Chunk NACK (the link's reassembler reports missing chunks): each round costs one RTT
  // plus the resent chunk.
  const int rounds = loss.draw(chunks, media && cfg_.nack);
  if (rounds == LinkLoss::kLost) return {};
  const TimeUs lat = latency(self, *dst);
  TimeUs extra = 0;
  if (rounds > 0) {
    extra = rounds * (2 * lat + chunk_us);
    lane += rounds * chunk_us;
    for (size_t l = level + 1; l < p.up_free.size(); ++l) p.up_free[l] += rounds * chunk_us;
    done_at += rounds * chunk_us;
    m.retransmitted_bytes += uint64_t(rounds) * kMaxChunkBytes;
  }
  TimeUs head = 0;
  if (media) {  // where a hop's time goes (lag = hops x per-hop + playout)
    m.record_send(start - now, done_at - start, lat, extra);
    if (cfg_.cut_through) {
      // When the receiver has the first piece (and all before it) and may pass it on.
      const size_t first = std::min(
          bytes, segment_head_bytes(std::get<SegmentMsg>(msg).segment.header.size) + kPieceBytes);
      head = start + TimeUs(double(first) * 8e6 / double(p.upload_bps)) + lat;
    }
  }
  return {true, done_at + lat + extra, head};
}

}  // namespace meshcast::mesh::sim
