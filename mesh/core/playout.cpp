#include "mesh/core/playout.hpp"

#include <algorithm>

namespace meshcast::mesh {

void Playout::begin(uint32_t first, TimeUs created_us, TimeUs now) {
  playing_ = true;
  play_start_ = now;
  next_play_ = first;
  delay_us_ = now + cfg_.initial_buffer_us - created_us;
  min_slack_ = kNever;
  shrink_at_ = now + cfg_.shrink_period_us;
}

void Playout::advance(TimeUs now, const SegmentWindow& w, const PushTrees& trees,
                      const PartnerSet& partners) {
  // Plays whole segments: the K stripes of segment first / K together, or none of them.
  const uint32_t k = cfg_.substreams;
  while (playing_) {
    const uint32_t first = next_play_;
    if (w.complete(first)) {
      const auto& s0 = *w.slot_for(first);
      const TimeUs dl = w.seg_of(s0).header.created_us + delay_us_;
      const TimeUs at = std::max(now, dl);
      uint8_t hops = 0;
      for (uint32_t j = 0; j < k; ++j) {
        const auto& s = *w.slot_for(first + j);
        min_slack_ = std::min(min_slack_, dl - s.arrived);
        hops = std::max(hops, w.seg_of(s).header.hops);
        Output o;
        o.kind = OutputKind::kPlay;
        o.number = first + j;
        o.at = at;
        o.msg = SegmentMsg{w.seg_of(s)};
        out_.push(std::move(o));
      }
      if (stats_.first_play_at < 0) stats_.first_play_at = at;
      const TimeUs lag = std::max<TimeUs>(0, at - w.seg_of(s0).header.created_us);
      stats_.lag_us_sum += uint64_t(lag);
      stats_.lag_us_max = std::max(stats_.lag_us_max, lag);
      stats_.hops_sum += hops;
      stats_.hops_max = std::max(stats_.hops_max, hops);
      ++stats_.played;
      next_play_ += k;
      stalled_ = false;
      continue;
    }
    if (now < deadline(first, w)) break;
    // Incomplete at its deadline: stall (grow the delay) if every missing stripe may still
    // come, else skip the segment.
    bool may_come = true;
    for (uint32_t u = first; u < first + k && may_come; ++u) {
      if (w.has(u)) continue;
      const auto* s = w.slot_for(u);
      bool c = trees.parent(u % k) != kNoPeer || (s && s->number == u && s->req_from != kNoPeer);
      for (auto& q : partners) c = c || q.likely_has(u, now, unit_us(cfg_));
      may_come = c;
    }
    const uint32_t stalls_here = stalled_ && stalled_on_ == first ? stalls_on_segment_ : 0;
    if ((stalls_here < cfg_.max_stalls_per_segment || now - play_start_ < cfg_.startup_phase_us) &&
        may_come && delay_us_ + cfg_.stall_step_us <= cfg_.max_delay_us) {
      delay_us_ += cfg_.stall_step_us;
      ++stats_.stalls;
      stalled_ = true;
      stalled_on_ = first;
      stalls_on_segment_ = stalls_here + 1;
      stalled_in_period_ = true;
      continue;
    }
    Output o;
    o.kind = OutputKind::kMissed;
    o.number = first;
    o.at = now;
    out_.push(std::move(o));
    ++stats_.missed;
    if (!may_come) ++stats_.missed_unavailable;
    next_play_ += k;
    stalled_ = false;
  }
  if (playing_ && now >= shrink_at_) {
    // Shrink when every segment of the period arrived with room to spare: by the spare
    // room beyond the margin, at most shrink_step per period (the media layer absorbs it by
    // playing slightly faster).
    if (!stalled_in_period_ && min_slack_ != kNever && min_slack_ > cfg_.shrink_margin_us) {
      const TimeUs cut = std::min(cfg_.shrink_step_us, min_slack_ - cfg_.shrink_margin_us);
      delay_us_ = std::max<TimeUs>(delay_us_ - cut, 0);
    }
    min_slack_ = kNever;
    stalled_in_period_ = false;
    shrink_at_ = now + cfg_.shrink_period_us;
  }
}

}  // namespace meshcast::mesh
