#include "mesh/node/uplink_estimator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace meshcast::node {

namespace {
// A floor follows a lasting rise of its link's RTT (a route change) this slowly per sample;
// a congestion is cut long before that matters.
constexpr double kFloorCreep = 0.002;
// The queueing delay fell by more than this since the last sample: the queue drains.
constexpr int64_t kDrainingUs = 5'000;
}  // namespace

UplinkEstimator::UplinkEstimator(const Config& cfg) : cfg_(cfg) {
  cfg_.min_bps = std::min(cfg_.min_bps, cfg_.max_bps);
  awaiting_ = cfg_.await_capacity;
  budget_ = awaiting_ ? cfg_.min_bps : guess_bps();
}

uint64_t UplinkEstimator::guess_bps() const {
  return cfg_.start_bps > 0 ? std::clamp(cfg_.start_bps, cfg_.min_bps, cfg_.max_bps) : cfg_.max_bps;
}

void UplinkEstimator::set_capacity(uint64_t bps, int64_t now_us) {
  awaiting_ = false;
  if (cuts_ > 0 || bps == 0) return;
  capacity_ = bps;
  budget_ = uint64_t(
      std::clamp(double(bps) * cfg_.capacity_share, double(cfg_.min_bps), double(cfg_.max_bps)));
  // As after a cut: the ceiling was seen, growing towards it needs no proof.
  ceiling_bps_ = double(bps);
  ceiling_until_ = now_us + cfg_.ceiling_hold_us;
}

void UplinkEstimator::capacity_unknown() {
  if (!awaiting_) return;
  awaiting_ = false;
  if (cuts_ == 0) budget_ = guess_bps();
}

int64_t UplinkEstimator::queue_delay(std::span<const LinkRtt> links) {
  double least = std::numeric_limits<double>::infinity();
  bool any_known = false;
  for (const LinkRtt& l : links) {
    if (l.rtt_ms < 0 || !std::isfinite(l.rtt_ms)) continue;
    auto it = floors_.find(l.key);
    if (it == floors_.end()) continue;
    Floor& f = it->second;
    if (l.rtt_ms < f.ms)
      f.ms = l.rtt_ms;
    else
      f.ms += (l.rtt_ms - f.ms) * kFloorCreep;
    least = std::min(least, l.rtt_ms - f.ms);
    any_known = true;
  }
  // A link that comes up while our queue is full would take the queue for its floor and
  // hide it: its floor is its RTT less the delay the older links see.
  const double queued_ms = any_known ? std::max(0.0, least) : 0.0;
  std::map<uint64_t, Floor> kept;
  for (const LinkRtt& l : links) {
    auto it = floors_.find(l.key);
    if (it != floors_.end()) {
      kept[l.key] = it->second;
    } else if (l.rtt_ms >= 0 && std::isfinite(l.rtt_ms)) {
      kept[l.key] = Floor{std::max(0.0, l.rtt_ms - queued_ms)};
      least = std::min(least, l.rtt_ms - kept[l.key].ms);
      any_known = true;
    }
  }
  floors_ = std::move(kept);  // closed links are forgotten
  return any_known ? int64_t(std::max(0.0, least) * 1000) : -1;
}

uint64_t UplinkEstimator::update(const Sample& s) {
  queue_us_ = queue_delay(s.links);
  if (!have_last_ || s.now_us <= last_.now_us || s.bytes_sent < last_.bytes_sent ||
      s.chunks_sent < last_.chunks_sent || s.chunks_nacked < last_.chunks_nacked) {
    have_last_ = true;
    last_ = s;
    last_.links = {};
    window_.assign(1, Point{s.now_us, s.bytes_sent, queue_us_});
    last_queue_us_ = queue_us_;
    return budget_;
  }
  const double t_us = double(s.now_us - last_.now_us);
  sent_bps_ = double(s.bytes_sent - last_.bytes_sent) * 8e6 / t_us;
  const uint64_t chunks = s.chunks_sent - last_.chunks_sent;
  const uint64_t dropped_here = s.chunks_dropped_here >= last_.chunks_dropped_here
                                    ? s.chunks_dropped_here - last_.chunks_dropped_here
                                    : 0;
  const uint64_t resent = s.chunks_nacked - last_.chunks_nacked;
  // Pacing at a low estimate drops chunks here, partners NACK them, and counting that as the
  // uplink's loss would cut the estimate further: a spiral.
  const uint64_t nacked = resent > dropped_here ? resent - dropped_here : 0;
  loss_ = chunks >= cfg_.loss_min_chunks ? std::min(1.0, double(nacked) / double(chunks)) : 0.0;
  const bool delayed = queue_us_ >= cfg_.queue_delay_us;
  const bool lossy = loss_ >= cfg_.loss && queue_us_ >= cfg_.loss_queue_delay_us;
  // A queue that shrinks is being drained already (the smoothed RTT lags the queue by a
  // few samples): cutting again would undershoot.
  const bool draining = last_queue_us_ >= 0 && queue_us_ < last_queue_us_ - kDrainingUs;
  const bool congested = (delayed || lossy) && !draining;
  const bool clean = queue_us_ < cfg_.queue_delay_us / 2 && loss_ < cfg_.loss / 2;
  double budget = double(budget_);
  const bool saturated = queue_us_ >= cfg_.saturated_queue_delay_us;
  // A cut made before the queue was saturated, after which it kept growing into
  // saturation, was too small (the delivered rate was overstated): the saturated cut
  // follows at once instead of after the hold, while the modem drops what it cannot hold.
  const bool escalate = saturated && cuts_ > 0 && !last_cut_saturated_ &&
                        queue_us_ >= last_cut_queue_us_ + cfg_.queue_delay_us;
  if (congested && (s.now_us >= hold_until_ || escalate)) {
    // What left the uplink over the window: what we sent less what the queue grew by
    // (span / (span + growth) for a queue that drains at the link's rate), less what it
    // dropped. One sample alone is too noisy (a socket that blocked for a moment).
    // From where the queue stood (the uplink sent at its full rate since), or else over
    // the last interval: earlier ones may be from before the load came.
    const Point* from = &window_.back();
    for (const Point& p : window_)
      if (p.queue_us >= cfg_.queue_delay_us / 2 && p.now_us < s.now_us) {
        from = &p;
        break;
      }
    const Point& first = *from;
    const double span_us = double(s.now_us - first.now_us);
    const double growth_us =
        first.queue_us >= 0 && queue_us_ > first.queue_us ? double(queue_us_ - first.queue_us) : 0;
    const double delivered =
        double(s.bytes_sent - first.bytes) * 8e6 / (span_us + growth_us) * (1.0 - loss_);
    double cut = std::min(budget, delivered) * cfg_.decrease;
    if (saturated) cut = std::min(cut, budget * cfg_.saturated_decrease);
    budget = std::max(budget * cfg_.max_cut, cut);
    // The sent rate overstates what got through: no growing back towards it.
    ceiling_bps_ = saturated ? budget : delivered;
    ceiling_until_ = s.now_us + cfg_.ceiling_hold_us;
    hold_until_ = s.now_us + cfg_.hold_us;
    last_cut_saturated_ = saturated;
    last_cut_queue_us_ = queue_us_;
    ++cuts_;
  } else if (clean && !awaiting_ && s.now_us >= hold_until_) {
    const double secs = t_us / 1e6;
    if (ceiling_bps_ > 0 && s.now_us < ceiling_until_) {
      // The uplink carried the ceiling a moment ago: growing back towards it needs no
      // further proof (a relay whose slots are all taken may not send more than 3/4 of
      // its budget, and would stay below what it can carry).
      const double top = ceiling_bps_ * cfg_.ceiling_share;
      if (budget < top) budget = std::min(top, budget * (1.0 + cfg_.increase_per_s * secs));
    } else if (sent_bps_ >= cfg_.busy_share * budget) {
      // Beyond what was seen: only while used, or it would grow on no evidence.
      budget *= 1.0 + (ceiling_bps_ > 0 ? cfg_.probe_per_s : cfg_.startup_increase_per_s) * secs;
    }
  }
  budget_ = uint64_t(std::clamp(budget, double(cfg_.min_bps), double(cfg_.max_bps)));
  last_ = s;
  last_.links = {};
  window_.push_back(Point{s.now_us, s.bytes_sent, queue_us_});
  last_queue_us_ = queue_us_;
  while (window_.size() > 2 && s.now_us - window_[1].now_us >= cfg_.rate_window_us)
    window_.pop_front();
  return budget_;
}

}  // namespace meshcast::node
