#include "mesh/node/upload_pacer.hpp"

#include <algorithm>
#include <cmath>

namespace meshcast::node {

UploadPacer::UploadPacer(uint64_t rate_bps, size_t burst_bytes, size_t max_bulk_bytes,
                         size_t max_queued_bytes, int64_t max_age_us)
    : rate_bps_(rate_bps),
      burst_(double(std::max<size_t>(burst_bytes, 1))),
      max_bulk_(max_bulk_bytes),
      max_queued_(max_queued_bytes),
      max_age_us_(max_age_us),
      tokens_(burst_) {}

void UploadPacer::refill(int64_t now_us) {
  if (last_us_ >= 0 && now_us > last_us_)
    tokens_ = std::min(burst_, tokens_ + double(now_us - last_us_) * double(rate_bps_) / 8e6);
  if (now_us > last_us_) last_us_ = now_us;
}

bool UploadPacer::enqueue(uint8_t priority, Packet p, int64_t now_us) {
  refill(now_us);
  const uint8_t level = std::min(priority, kBulkLevel);
  const size_t n = p.bytes.size();
  if (level == kBulkLevel) {
    if (bulk_bytes_ + n > max_bulk_) {
      ++counters_.dropped;
      return false;
    }
  }
  if (!make_room(level, n)) {
    ++counters_.dropped;
    return false;
  }
  if (level == kBulkLevel) bulk_bytes_ += n;
  queued_bytes_ += n;
  p.queued_us = now_us;
  levels_[level].push_back(std::move(p));
  counters_.max_queued_bytes = std::max<uint64_t>(counters_.max_queued_bytes, queued_bytes_);
  return true;
}

bool UploadPacer::make_room(uint8_t level, size_t n) {
  while (queued_bytes_ + n > max_queued_) {
    int victim = -1;  // the least urgent non-empty level, not more urgent than the newcomer
    for (int l = kBulkLevel; l >= int(level); --l)
      if (!levels_[size_t(l)].empty()) {
        victim = l;
        break;
      }
    if (victim < 0) return false;
    take_front(levels_[size_t(victim)]);
    ++counters_.evicted;
  }
  return true;
}

void UploadPacer::expire(int64_t now_us) {
  for (auto& q : levels_) {
    while (!q.empty() && now_us - q.front().queued_us > max_age_us_) {
      take_front(q);
      ++counters_.evicted;
    }
  }
}

std::deque<UploadPacer::Packet>* UploadPacer::head_level() {
  for (auto& l : levels_)
    if (!l.empty()) return &l;
  return nullptr;
}

UploadPacer::Packet UploadPacer::take_front(std::deque<Packet>& level) {
  Packet p = std::move(level.front());
  level.pop_front();
  queued_bytes_ -= p.bytes.size();
  if (&level == &levels_[kBulkLevel]) bulk_bytes_ -= p.bytes.size();
  return p;
}

void UploadPacer::pop(std::deque<Packet>& level, std::vector<Packet>& out) {
  out.push_back(take_front(level));
  counters_.sent_bytes += out.back().bytes.size();
}

void UploadPacer::release(int64_t now_us, std::vector<Packet>& out) {
  refill(now_us);
  expire(now_us);
  // A packet leaves while tokens are positive; the debt it leaves is paid before the next.
  while (auto* level = head_level()) {
    if (rate_bps_ > 0 && tokens_ <= 0) break;
    if (rate_bps_ > 0) tokens_ -= double(level->front().bytes.size());
    pop(*level, out);
  }
}

void UploadPacer::release_all(std::vector<Packet>& out) {
  while (auto* level = head_level()) pop(*level, out);
}

bool UploadPacer::holds(uint32_t peer, std::span<const uint8_t> prefix) const {
  for (const auto& level : levels_)
    for (const Packet& p : level)
      if (p.peer == peer && p.kind == Kind::kRtp && p.bytes.size() >= prefix.size() &&
          std::equal(prefix.begin(), prefix.end(), p.bytes.begin()))
        return true;
  return false;
}

int64_t UploadPacer::next_release_us() const {
  if (std::all_of(levels_.begin(), levels_.end(), [](auto& l) { return l.empty(); })) return -1;
  if (rate_bps_ == 0 || tokens_ > 0) return last_us_;
  // Time until the debt is paid and one byte more is available.
  const double wait_us = (1.0 - tokens_) * 8e6 / double(rate_bps_);
  return last_us_ + int64_t(std::ceil(wait_us));
}

}  // namespace meshcast::node
