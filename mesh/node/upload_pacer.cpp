#include "mesh/node/upload_pacer.hpp"

#include <algorithm>
#include <cmath>

namespace meshcast::node {

UploadPacer::UploadPacer(uint64_t rate_bps, size_t burst_bytes, size_t max_bulk_bytes)
    : rate_bps_(rate_bps),
      burst_(double(std::max<size_t>(burst_bytes, 1))),
      max_bulk_(max_bulk_bytes),
      tokens_(burst_) {}

void UploadPacer::refill(int64_t now_us) {
  if (last_us_ >= 0 && now_us > last_us_)
    tokens_ = std::min(burst_, tokens_ + double(now_us - last_us_) * double(rate_bps_) / 8e6);
  if (now_us > last_us_) last_us_ = now_us;
}

bool UploadPacer::enqueue(Lane lane, Packet p, int64_t now_us) {
  refill(now_us);
  const size_t n = p.bytes.size();
  if (lane == Lane::kBulk) {
    if (bulk_bytes_ + n > max_bulk_) {
      ++counters_.dropped;
      return false;
    }
    bulk_bytes_ += n;
    bulk_.push_back(std::move(p));
  } else {
    urgent_bytes_ += n;
    urgent_.push_back(std::move(p));
  }
  counters_.max_queued_bytes = std::max<uint64_t>(counters_.max_queued_bytes, queued_bytes());
  return true;
}

std::deque<UploadPacer::Packet>* UploadPacer::head_lane() {
  if (!urgent_.empty()) return &urgent_;
  if (!bulk_.empty()) return &bulk_;
  return nullptr;
}

void UploadPacer::release(int64_t now_us, std::vector<Packet>& out) {
  refill(now_us);
  // A packet leaves while tokens are positive; the debt it leaves is paid before the next.
  while (auto* lane = head_lane()) {
    if (rate_bps_ > 0 && tokens_ <= 0) break;
    Packet p = std::move(lane->front());
    lane->pop_front();
    (lane == &urgent_ ? urgent_bytes_ : bulk_bytes_) -= p.bytes.size();
    if (rate_bps_ > 0) tokens_ -= double(p.bytes.size());
    counters_.sent_bytes += p.bytes.size();
    out.push_back(std::move(p));
  }
}

void UploadPacer::release_all(std::vector<Packet>& out) {
  while (auto* lane = head_lane()) {
    counters_.sent_bytes += lane->front().bytes.size();
    out.push_back(std::move(lane->front()));
    lane->pop_front();
  }
  urgent_bytes_ = bulk_bytes_ = 0;
}

int64_t UploadPacer::next_release_us() const {
  if (urgent_.empty() && bulk_.empty()) return -1;
  if (rate_bps_ == 0 || tokens_ > 0) return last_us_;
  // Time until the debt is paid and one byte more is available.
  const double wait_us = (1.0 - tokens_) * 8e6 / double(rate_bps_);
  return last_us_ + int64_t(std::ceil(wait_us));
}

}  // namespace meshcast::node
