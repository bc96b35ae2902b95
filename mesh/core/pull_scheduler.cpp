#include "mesh/core/pull_scheduler.hpp"

#include <algorithm>
#include <array>

namespace meshcast::mesh {

void PullScheduler::schedule_startup(TimeUs now) {
  if (startup_requested_) return;
  // Start-up: fetch the newest segment whose every stripe some partner holds, each stripe
  // from its own holder (in parallel, and no one partner has to hold it whole); then
  // push/pull continue from it.
  const uint32_t k = cfg_.substreams;
  auto holder = [&](uint32_t n) {
    Partner* best = nullptr;
    uint64_t best_score = ~0ull;
    for (auto& q : partners_) {
      if (!q.has_bm || now < q.busy_until || !q.bm.has(n) || n >= q.not_have_from) continue;
      // Partners that left our start-up pulls unanswered go after the others, the source
      // included: a map full of data is a promise, an answer is a measurement.
      const uint64_t unanswered = std::min<uint32_t>(q.startup_asked + q.pull_strikes, 255);
      const uint64_t score = unanswered << 41 | uint64_t(q.is_source) << 40 | (rng() & 0xFFFF);
      if (score < best_score) {
        best_score = score;
        best = &q;
      }
    }
    return best;
  };
  uint32_t top = 0;
  bool any = false;
  for (auto& q : partners_)
    if (q.has_bm && q.bm.count > 0 && now >= q.busy_until) {
      top = std::max(top, q.bm.base + q.bm.count - 1);
      any = true;
    }
  if (!any) return;
  // Only the newest few segments: an older one would start playout far behind.
  uint32_t first = top - top % k;
  auto available = [&](uint32_t f) {
    for (uint32_t j = 0; j < k; ++j)
      if (!window_.has(f + j) && !holder(f + j)) return false;
    return true;
  };
  for (uint32_t back = 0; back < cfg_.startup_lookback_segments && first >= k && !available(first);
       ++back)
    first -= k;
  if (!available(first)) return;
  for (uint32_t j = 0; j < k; ++j) {
    if (window_.has(first + j)) continue;
    Partner* q = holder(first + j);
    if (q->startup_asked < 255) ++q->startup_asked;
    ++stats_.requests_sent;
    out_.send(q->id, Request{first + j, 1});
  }
  startup_requested_ = true;
  startup_req_at_ = now;
}

void PullScheduler::schedule(TimeUs now, const PushTrees& trees, const Playout& playout) {
  if (!playout.playing()) {
    schedule_startup(now);
    return;
  }
  struct Cand {
    uint32_t n;
    bool urgent;
    uint8_t holders;
    TimeUs dl;
  };
  std::array<Cand, kMaxWindow> cands;
  size_t nc = 0;
  const uint32_t next_play = playout.next_play();
  const uint32_t win_lo = window_.lo();
  uint32_t hi = window_.any() ? window_.highest() : next_play;
  for (auto& q : partners_) {
    if (!q.has_bm || q.bm.count == 0) continue;
    const uint32_t top = q.bm.base + q.bm.count - 1;
    const uint32_t est = top + uint32_t(std::max<TimeUs>(0, now - q.bm_at) / unit_us(cfg_));
    hi = std::max(hi, est);
  }
  const uint32_t lo = std::max(next_play, win_lo);
  hi = std::min(hi, win_lo + window_.size() - 1);
  for (uint32_t n = lo; n <= hi && n >= lo; ++n) {
    const auto& s = window_.ring(n);
    if (s.number == n && (s.state == SegmentWindow::kHave || s.req_from != kNoPeer)) continue;
    const TimeUs dl = playout.deadline(n, window_);
    if (dl <= now) continue;
    const uint32_t j = window_.substream(n);
    // Pull when the push is late, or whatever the push was expected to do, when the deadline
    // is too close to wait for it (a short playout delay leaves no room for the grace).
    const bool overdue =
        trees.parent(j) == kNoPeer || window_.newer_held(j, n) ||
        now > window_.created_est(n, cfg_.segment_us) + trees.push_lag(j) + cfg_.pull_grace_us ||
        dl - now < cfg_.deadline_pull_us;
    if (!overdue) continue;
    uint32_t holders = 0;
    for (auto& q : partners_)
      if (q.likely_has(n, now, unit_us(cfg_))) ++holders;
    if (holders == 0) continue;
    cands[nc++] = Cand{n, dl - now < cfg_.urgent_us, uint8_t(std::min<uint32_t>(holders, 255)), dl};
  }
  if (nc == 0) return;
  // Deadline-first near playout, rarest-first (then newest) near the live edge.
  std::sort(cands.begin(), cands.begin() + long(nc), [](const Cand& a, const Cand& b) {
    if (a.urgent != b.urgent) return a.urgent;
    if (a.urgent) return a.dl < b.dl;
    if (a.holders != b.holders) return a.holders < b.holders;
    return a.n > b.n;
  });
  for (size_t i = 0; i < nc; ++i) {
    const uint32_t n = cands[i].n;
    Partner* best = nullptr;
    uint64_t best_score = ~0ull;
    for (auto& q : partners_) {
      if (!q.likely_has(n, now, unit_us(cfg_)) || q.outstanding >= cfg_.max_requests_per_partner ||
          now < q.busy_until)
        continue;
      const uint64_t score = uint64_t(q.is_source) << 40 | uint64_t(q.pull_strikes) << 32 |
                             uint64_t(q.outstanding) << 24 |
                             uint64_t(255 - q.bm.spare_slots) << 16 | (rng() & 0xFFFF);
      if (score < best_score) {
        best_score = score;
        best = &q;
      }
    }
    if (!best) continue;
    auto& s = window_.claim(n);
    s.req_from = best->id;
    s.req_deadline = now + cfg_.request_timeout_us;
    ++best->outstanding;
    ++stats_.requests_sent;
    out_.send(best->id, Request{n, 1});
  }
}

void PullScheduler::expire(TimeUs now, bool playing, uint32_t next_play) {
  // Expire pull requests that were not answered in time so they can be re-sent elsewhere.
  const bool any_out =
      std::any_of(partners_.begin(), partners_.end(), [](auto& q) { return q.outstanding; });
  if (window_.any() && any_out) {
    const uint32_t win_lo = window_.lo(), size = window_.size(), highest = window_.highest();
    const uint32_t lo = playing ? std::max(next_play, win_lo) : win_lo;
    for (uint32_t n = lo; n - win_lo < size && n <= highest + size; ++n) {
      auto& s = window_.ring(n);
      if (s.req_from != kNoPeer && s.req_deadline <= now) {
        if (Partner* q = partners_.find(s.req_from)) {
          if (q->outstanding) --q->outstanding;
          // Neither the segment nor a refusal came: it is asked after partners that answer
          // (a partner that shows data in its map and never sends it sinks to the last).
          q->pull_strikes = uint8_t(std::min<uint32_t>(q->pull_strikes + 1u, cfg_.max_strikes));
        }
        s.req_from = kNoPeer;
      }
    }
  }
  // Start-up pulls are retried sooner than others: until one segment is whole nothing plays,
  // and the missing stripes may meanwhile be elsewhere (or on their way by push).
  if (startup_requested_ && now - startup_req_at_ > cfg_.startup_retry_us)
    startup_requested_ = false;
}

void PullScheduler::on_refused(Partner& p, const Reject& m, TimeUs now, bool playing) {
  for (uint32_t i = 0; i < 32; ++i) {  // a Request names up to 32 units from its base
    if (!((m.mask >> i) & 1u)) continue;
    const uint32_t n = m.base + i;
    if (m.reason == RejectReason::kNotHave) p.not_have_from = std::min(p.not_have_from, n);
    auto* s = window_.slot_for(n);
    if (s && s->req_from == p.id && s->number == n && s->state != SegmentWindow::kHave) {
      s->req_from = kNoPeer;
      if (p.outstanding) --p.outstanding;
    }
  }
  // A busy partner is asked again after a quarter of the subscription back-off.
  if (m.reason == RejectReason::kBusy) p.busy_until = now + cfg_.refuse_backoff_us / 4;
  if (!playing) startup_requested_ = false;
}

void PullScheduler::on_unneeded(Partner& p, uint32_t n) {
  if (auto* s = window_.slot_for(n); s && s->number == n && s->req_from == p.id) {
    s->req_from = kNoPeer;
    if (p.outstanding) --p.outstanding;
  }
}

void PullScheduler::forget(const Partner& p) {
  if (!window_.any() || p.outstanding == 0) return;
  const uint32_t win_lo = window_.lo(), size = window_.size(), highest = window_.highest();
  for (uint32_t n = win_lo; n <= highest + size && n - win_lo < size; ++n) {
    auto& s = window_.ring(n);
    if (s.req_from == p.id) s.req_from = kNoPeer;
  }
}

}  // namespace meshcast::mesh
