#include "mesh/link/impairment.hpp"

#include <algorithm>

namespace meshcast::link {

void ImpairmentStage::set(const Impairment& imp) {
  imp_ = imp;
  rng_.seed(imp.seed);
}

bool ImpairmentStage::chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p;
}

void ImpairmentStage::push(Packet pkt, bool may_corrupt, int64_t now_us,
                           std::vector<Packet>& ready) {
  if (chance(imp_.drop)) {
    ++counters_.dropped;
    return;
  }
  // Offset >= 12 keeps the RTP header (and its sequence number) intact, so a
  // corrupted packet is rejected by SRTP authentication, not by the demux or replay check.
  if (may_corrupt && pkt.size() > 12 && chance(imp_.corrupt)) {
    size_t at = 12 + std::uniform_int_distribution<size_t>(0, pkt.size() - 13)(rng_);
    pkt[at] ^= static_cast<uint8_t>(1 + std::uniform_int_distribution<int>(0, 254)(rng_));
    ++counters_.corrupted;
  }
  if (chance(imp_.duplicate)) {
    ++counters_.duplicated;
    schedule(pkt, now_us, ready);
  }
  schedule(std::move(pkt), now_us, ready);
}

void ImpairmentStage::schedule(Packet pkt, int64_t now_us, std::vector<Packet>& ready) {
  int64_t delay_us = int64_t{std::max(0, imp_.delay_ms)} * 1000;
  if (imp_.jitter_ms > 0) {
    int64_t j = int64_t{imp_.jitter_ms} * 1000;
    delay_us += std::uniform_int_distribution<int64_t>(-j, j)(rng_);
  }
  // Held back long enough for the following packets to overtake it.
  if (chance(imp_.reorder)) delay_us += std::max<int64_t>(5000, 2000 * int64_t{imp_.jitter_ms});
  delay_us = std::max<int64_t>(0, delay_us);
  if (delay_us == 0) {
    ready.push_back(std::move(pkt));
    return;
  }
  if (queue_.size() >= max_queued_) {
    ++counters_.overflow;
    return;
  }
  queue_.push(Held{now_us + delay_us, order_++, std::move(pkt)});
}

void ImpairmentStage::pop_due(int64_t now_us, std::vector<Packet>& ready) {
  while (!queue_.empty() && queue_.top().due_us <= now_us) {
    // priority_queue::top is const; the packet is moved out via const_cast, then popped.
    ready.push_back(std::move(const_cast<Held&>(queue_.top()).data));
    queue_.pop();
  }
}

}  // namespace meshcast::link
