#include "mesh/core/push_trees.hpp"

#include <algorithm>
#include <limits>

namespace meshcast::mesh {

namespace {
constexpr TimeUs kNever = std::numeric_limits<TimeUs>::max();
uint16_t bit(uint32_t j) { return uint16_t(1u << j); }
}  // namespace

PushTrees::PushTrees(const NodeConfig& cfg, PartnerSet& partners, Outbox& out, NodeStats& stats,
                     Rng& rng, TokenBucket& bucket)
    : cfg_(cfg), partners_(partners), out_(out), stats_(stats), rng_(rng), bucket_(bucket) {
  parent_.fill(kNoPeer);
  pending_sub_.fill(kNoPeer);
  silent_parent_.fill(kNoPeer);
  // The source is every tree's root; a viewer has no depth until a parent takes it.
  depth_.fill(cfg_.is_source ? 0 : kNoDepth);
  if (!cfg_.is_source && cfg_.substreams > 1 && total_slots() < cfg_.home_below_slots)
    home_ = uint8_t(rng_.next() % cfg_.substreams);
}

uint32_t PushTrees::relay_value(const Partner& q, uint32_t j) const {
  if (!q.has_bm || q.bm.home == kNoHome) return q.upload_kbps;
  return q.bm.home == j ? q.upload_kbps : 0;
}

bool PushTrees::foreign_full(uint32_t j) const {
  return home_ != kNoHome && j != home_ && children_[j] >= cfg_.foreign_children;
}

uint32_t PushTrees::total_slots() const {
  if (cfg_.is_source) return cfg_.source_copies * cfg_.substreams;
  const double per_slot = double(cfg_.stream_bps) / cfg_.substreams;
  return uint32_t(std::min(255.0, double(cfg_.upload_bps) * cfg_.push_utilization / per_slot));
}
uint32_t PushTrees::children_total() const {
  uint32_t c = 0;
  for (uint32_t j = 0; j < cfg_.substreams; ++j) c += children_[j];
  return c;
}
uint32_t PushTrees::spare_slots() const {
  const uint32_t t = total_slots(), c = children_total();
  return std::min<uint32_t>(255, t > c ? t - c : 0);
}

void PushTrees::fill_map(BufferMap& bm, TimeUs now) const {
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (cfg_.is_source)
      bm.depth[j] = children_[j] >= cfg_.source_copies && !idle_replaceable(j, now) ? kNoDepth : 0;
    else
      bm.depth[j] = parent_[j] == kNoPeer || foreign_full(j) ? kNoDepth : depth_[j];
  }
  bm.home = home_;
  bm.spare_slots = uint8_t(spare_slots());
  if (cfg_.is_source && bm.spare_slots == 0)
    for (uint32_t j = 0; j < cfg_.substreams; ++j)
      if (idle_replaceable(j, now)) bm.spare_slots = 1;  // a slot a newcomer can take
}

bool PushTrees::wants_parent() const {
  for (uint32_t j = 0; j < cfg_.substreams; ++j)
    if (parent_[j] == kNoPeer && pending_sub_[j] == kNoPeer) return true;
  return false;
}

bool PushTrees::complaining(uint32_t j, TimeUs now) const {
  return silent_parent_[j] != kNoPeer && now - silent_parent_at_[j] <= cfg_.complaint_ttl_us;
}
bool PushTrees::complaining(TimeUs now) const {
  for (uint32_t j = 0; j < cfg_.substreams; ++j)
    if (complaining(j, now)) return true;
  return false;
}

void PushTrees::orphan(uint32_t j, TimeUs now) {
  parent_[j] = kNoPeer;
  orphan_since_[j] = now;
  ++stats_.parents_lost;
}

void PushTrees::forget(const Partner& p, TimeUs now) {
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (parent_[j] == p.id) orphan(j, now);
    if (pending_sub_[j] == p.id) pending_sub_[j] = kNoPeer;
    if (p.child_mask & bit(j)) --children_[j];
  }
}

bool PushTrees::forwards_to_nobody(const Partner& q) const {
  if (!cfg_.is_source || !q.child_mask || !q.has_bm || q.is_source) return false;
  // Its own buffer map says how many push slots it has left; with every slot its (capped)
  // upload buys still free, it passes what we send it to nobody.
  const double per_slot = double(cfg_.stream_bps) / cfg_.substreams;
  const uint32_t slots =
      uint32_t(std::min(255.0, double(q.upload_kbps) * 1000.0 * cfg_.push_utilization / per_slot));
  return slots > 0 && q.bm.spare_slots >= slots;
}

bool PushTrees::is_idle_child(const Partner& q, TimeUs now) const {
  return forwards_to_nobody(q) && now - q.child_since >= cfg_.idle_child_grace_us;
}

bool PushTrees::idle_replaceable(uint32_t j, TimeUs now) const {
  if (!cfg_.is_source || now - idle_replaced_at_[j] < cfg_.idle_replace_interval_us) return false;
  for (auto& q : partners_)
    if ((q.child_mask & bit(j)) && is_idle_child(q, now)) return true;
  return false;
}

bool PushTrees::slot_coming() const {
  return std::any_of(partners_.begin(), partners_.end(),
                     [&](const Partner& q) { return forwards_to_nobody(q); });
}

uint16_t PushTrees::replaceable(TimeUs now) const {
  uint16_t r = 0;
  for (uint32_t j = 0; j < cfg_.substreams; ++j)
    if (idle_replaceable(j, now)) r |= bit(j);
  return r;
}

Partner* PushTrees::idle_child(int only_substream, uint32_t* substream, TimeUs now) {
  Partner* best = nullptr;
  for (auto& q : partners_) {
    if (!is_idle_child(q, now)) continue;
    for (uint32_t k = 0; k < cfg_.substreams; ++k) {
      if (!(q.child_mask & bit(k)) || (only_substream >= 0 && k != uint32_t(only_substream)) ||
          now - idle_replaced_at_[k] < cfg_.idle_replace_interval_us)
        continue;
      // The longest-standing idle child goes first.
      if (!best || q.child_since < best->child_since) {
        best = &q;
        *substream = k;
      }
    }
  }
  return best;
}

Partner* PushTrees::slowest_child(int only_substream, uint32_t* substream, const Partner* except) {
  Partner* slowest = nullptr;
  for (auto& q : partners_) {
    if (!q.child_mask || &q == except) continue;
    for (uint32_t k = 0; k < cfg_.substreams; ++k) {
      if (!(q.child_mask & bit(k)) || (only_substream >= 0 && k != uint32_t(only_substream)))
        continue;
      if (!slowest || relay_value(q, k) < relay_value(*slowest, *substream)) {
        slowest = &q;
        *substream = k;
      }
    }
  }
  return slowest;
}

uint32_t PushTrees::fanout_limit() const {
  const TimeUs per_copy =
      TimeUs(double(cfg_.stream_bps) * double(cfg_.segment_us) / double(cfg_.substreams) /
             double(std::max<uint64_t>(cfg_.upload_bps, 1)));
  return uint32_t(std::max<TimeUs>(1, cfg_.max_fanout_delay_us / std::max<TimeUs>(per_copy, 1)));
}

void PushTrees::shed() {
  // Children beyond the slots (or the fan-out bound of a sub-stream) would each get their
  // copy later and later from a queue that only grows: the slowest go, and find parents
  // with room.
  for (uint32_t j = 0; j < cfg_.substreams; ++j)
    while (children_[j] > fanout_limit()) {
      uint32_t k = j;
      Partner* q = slowest_child(int(j), &k);
      if (!q) break;
      drop_child(*q, k);
      ++stats_.children_shed;
    }
  while (children_total() > total_slots()) {
    uint32_t k = 0;
    Partner* q = slowest_child(-1, &k);
    if (!q) break;
    drop_child(*q, k);
    ++stats_.children_shed;
  }
}

void PushTrees::accept_child(Partner& q, uint32_t j, TimeUs now) {
  if (!q.child_mask) q.child_since = now;
  q.child_mask |= bit(j);
  ++children_[j];
  out_.send(q.id, SubscribeAck{uint8_t(j), depth_[j]});
}

void PushTrees::drop_child(Partner& q, uint32_t j) {
  Reject d;
  d.kind = RejectKind::kSubscribe;
  d.reason = RejectReason::kDropped;
  d.substream = uint8_t(j);
  out_.send(q.id, d);
  q.child_mask &= uint16_t(~bit(j));
  if (children_[j] > 0) --children_[j];
}

void PushTrees::replace_child(Partner& old, uint32_t k, Partner& newcomer, uint32_t j, TimeUs now) {
  drop_child(old, k);
  idle_replaced_at_[k] = now;
  idle_replaced_.emplace_back(old.id, now + cfg_.idle_replaced_hold_us);
  if (idle_replaced_.size() > kMaxIdleReplaced) idle_replaced_.erase(idle_replaced_.begin());
  accept_child(newcomer, j, now);
}

bool PushTrees::replace_silent_child(Partner& newcomer, uint32_t j, PeerId silent, TimeUs now) {
  // The complainer's word is all we have, so it is rationed: the source acts on one
  // complaint per interval, the accused must have been a child as long as the complainer
  // waited for it, and it is not taken back for the hold time. A lying complainer can thus
  // move one honest child per interval one hop down, no more.
  if (silent == kNoPeer || silent == newcomer.id ||
      now - silent_replaced_at_ < cfg_.silent_replace_interval_us)
    return false;
  Partner* q = partners_.find(silent);
  if (!q || q->is_source || !(q->child_mask & bit(j)) ||
      now - q->child_since < cfg_.first_push_timeout_us)
    return false;
  // A child that forwards nothing on one sub-stream is trusted on none: its other slots
  // become free for the partners that subscribe next.
  silent_replaced_at_ = now;
  for (uint32_t k = 0; k < cfg_.substreams; ++k)
    if (k != j && (q->child_mask & bit(k))) drop_child(*q, k);
  replace_child(*q, j, newcomer, j, now);
  ++stats_.silent_children_replaced;
  return true;
}

bool PushTrees::preempt_slowest(Partner& newcomer, uint32_t j, int only_substream, TimeUs now) {
  if (cfg_.is_source && !is_idle_child(newcomer, now)) {
    // What we measured first: a child that forwards to nobody gives up its slot to anyone
    // (declared upload would let a liar keep it).
    uint32_t k = 0;
    if (Partner* idle = idle_child(only_substream, &k, now)) {
      replace_child(*idle, k, newcomer, j, now);
      ++stats_.idle_children_replaced;
      return true;
    }
  }
  uint32_t slow_j = 0;
  Partner* slowest = slowest_child(only_substream, &slow_j, &newcomer);
  const uint64_t value = relay_value(newcomer, j);
  if (!slowest || value == 0 ||
      value * 100 < uint64_t(relay_value(*slowest, slow_j)) * cfg_.preempt_upload_percent)
    return false;
  drop_child(*slowest, slow_j);
  accept_child(newcomer, j, now);
  return true;
}

void PushTrees::on_subscribe(Partner& p, const Subscribe& m, TimeUs now) {
  const PeerId from = p.id;
  const uint32_t j = m.substream;
  Reject r;
  r.kind = RejectKind::kSubscribe;
  r.substream = uint8_t(j);
  if (j >= cfg_.substreams) {
    r.reason = RejectReason::kDepth;
    out_.send(from, r);
    return;
  }
  if (p.child_mask & bit(j)) {  // repeated subscribe: ack again
    out_.send(from, SubscribeAck{uint8_t(j), depth_[j]});
    return;
  }
  if (cfg_.is_source) {
    // A child replaced for forwarding to nobody is not taken back for a while (it would only
    // take the slot of the next newcomer).
    std::erase_if(idle_replaced_, [&](auto& e) { return e.second <= now; });
    const bool replaced = std::any_of(idle_replaced_.begin(), idle_replaced_.end(),
                                      [&](auto& e) { return e.first == from; });
    if (children_[j] >= cfg_.source_copies || replaced) {
      if (!replaced && replace_silent_child(p, j, m.silent_parent, now)) return;
      if (!replaced && preempt_slowest(p, j, j, now)) return;
      // Copy cap reached: redirect to peers that already carry this sub-stream.
      r.reason = RejectReason::kBusy;
      for (auto& q : partners_)
        if ((q.child_mask & bit(j)) && r.redirect_count < kMaxRedirects)
          r.redirect[r.redirect_count++] = q.id;
      out_.send(from, r);
      return;
    }
  } else {
    // Cycle avoidance: a parent must be attached and strictly shallower than the child
    // (which keeps depth(parent) < depth(child) on every edge, so no cycle can form).
    if (parent_[j] == kNoPeer || depth_[j] >= m.depth || (p.parent_mask & bit(j))) {
      r.reason = RejectReason::kDepth;
      out_.send(from, r);
      return;
    }
    if (foreign_full(j)) {
      r.reason = RejectReason::kBusy;
      out_.send(from, r);
      return;
    }
    // Bound the fan-out per sub-stream by time: the last child of a segment must not wait
    // longer than max_fanout_delay behind its siblings (store-and-forward per copy).
    const bool fanout_full = children_[j] > 0 && children_[j] + 1 > fanout_limit();
    // Full: a much faster uploader takes the place of our slowest child, so fast peers
    // rise towards the source and slow ones sink to the leaves.
    if ((spare_slots() == 0 || fanout_full) &&
        preempt_slowest(p, j, fanout_full ? int(j) : -1, now))
      return;
    if (spare_slots() == 0 || fanout_full) {
      r.reason = RejectReason::kBusy;
      out_.send(from, r);
      return;
    }
  }
  accept_child(p, j, now);
}

void PushTrees::on_ack(Partner& p, const SubscribeAck& m, TimeUs now) {
  const PeerId from = p.id;
  const uint32_t j = m.substream;
  if (j >= cfg_.substreams || pending_sub_[j] != from) return;
  pending_sub_[j] = kNoPeer;
  const uint8_t nd = uint8_t(std::min<uint32_t>(m.depth + 1u, kNoDepth - 1u));
  if (depth_[j] != kNoDepth && nd > depth_[j] && children_[j] > 0) {
    // Would deepen us below our children: refuse to keep the depth order.
    out_.send(from, Unsubscribe{uint8_t(j)});
    return;
  }
  if (parent_[j] != kNoPeer && parent_[j] != from) {
    if (Partner* old = partners_.find(parent_[j])) {
      old->parent_mask &= uint16_t(~bit(j));
      out_.send(old->id, Unsubscribe{uint8_t(j)});
    }
  }
  parent_[j] = from;
  depth_[j] = nd;
  p.parent_mask |= bit(j);
  last_push_[j] = now;
  parent_ack_depth_[j] = m.depth;
  parent_pushed_[j] = false;
  if (p.is_source) silent_parent_[j] = kNoPeer;
}

void PushTrees::on_unsubscribe(Partner& p, const Unsubscribe& m) {
  const uint32_t j = m.substream;
  if (j < cfg_.substreams && (p.child_mask & bit(j))) {
    p.child_mask &= uint16_t(~bit(j));
    --children_[j];
  }
}

void PushTrees::on_refused(Partner& p, uint32_t j, RejectReason why, TimeUs now) {
  if (pending_sub_[j] == p.id) pending_sub_[j] = kNoPeer;
  p.refused_until = now + cfg_.refuse_backoff_us;
  if (why == RejectReason::kDropped && parent_[j] == p.id) {
    p.parent_mask &= uint16_t(~bit(j));
    orphan(j, now);
  }
}

bool PushTrees::on_unit(uint32_t j, PeerId from, TimeUs now) {
  if (parent_[j] != from) return false;
  last_push_[j] = now;
  parent_pushed_[j] = true;
  return true;
}

void PushTrees::on_parent_unit(uint32_t j, TimeUs lag, Partner& parent) {
  push_lag_[j] = push_lag_[j] == 0 ? lag : (push_lag_[j] * 7 + lag) / 8;
  parent.parent_strikes = 0;
}

TimeUs PushTrees::parent_estimate(const Partner& q, uint32_t j) const {
  const uint64_t up = std::max<uint64_t>(uint64_t(q.upload_kbps) * 1000, 1000);
  const double stripe_bytes =
      double(cfg_.stream_bps) * double(cfg_.segment_us) / 8e6 / cfg_.substreams;
  const TimeUs per_copy = TimeUs(stripe_bytes * 8e6 / double(up));
  const double per_slot = double(cfg_.stream_bps) / cfg_.substreams;
  const uint32_t slots = q.is_source ? cfg_.source_copies * cfg_.substreams
                                     : uint32_t(double(up) * cfg_.push_utilization / per_slot);
  const uint32_t used = slots > q.bm.spare_slots ? slots - q.bm.spare_slots : 0;
  const TimeUs queue = per_copy * TimeUs(used / cfg_.substreams + 1);
  const uint32_t d = q.bm.depth[j] >= kNoDepth - 1 ? cfg_.unknown_depth_hops : q.bm.depth[j];
  return TimeUs(d) * cfg_.hop_estimate_us + queue + (q.relayed ? cfg_.relayed_penalty_us : 0);
}

void PushTrees::forward(const Segment& seg, uint32_t j, PeerId except, TimeUs now) {
  // Children that upload fastest first: they carry the largest subtrees, so the segment
  // spreads like a binomial tree instead of waiting behind leaves.
  std::array<const Partner*, kMaxWindow> kids;
  size_t nk = 0;
  for (auto& q : partners_)
    if ((q.child_mask & bit(j)) && q.id != except && nk < kids.size()) kids[nk++] = &q;
  std::stable_sort(kids.begin(), kids.begin() + long(nk),
                   [&](const Partner* a, const Partner* b) { return serves_before(*a, *b, j); });
  for (size_t i = 0; i < nk; ++i) {
    bucket_.spend(double(seg.header.size), now);
    ++stats_.segments_pushed;
    // The source's depth is 0 in every tree: its pushes go first.
    out_.send(kids[i]->id, SegmentMsg{seg}, push_priority(depth_[j]));
  }
}

PeerId PushTrees::first_child(uint32_t j, PeerId except) const {
  const Partner* first = nullptr;
  for (auto& q : partners_)  // forward()'s order, ties by partner order
    if ((q.child_mask & bit(j)) && q.id != except && (!first || serves_before(q, *first, j)))
      first = &q;
  return first ? first->id : kNoPeer;
}

uint32_t PushTrees::lagging_substream() const {
  // A segment plays when its last stripe is in, so the slowest tree sets our delay.
  // Measured push lags compare across sub-streams whatever the offset between our clock
  // and the broadcaster's.
  if (cfg_.balance_spread_us <= 0) return kMaxSubstreams;
  uint32_t slowest = kMaxSubstreams;
  TimeUs lo = kNever, hi = 0;
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (parent_[j] == kNoPeer || push_lag_[j] == 0) continue;
    lo = std::min(lo, push_lag_[j]);
    if (push_lag_[j] > hi) {
      hi = push_lag_[j];
      slowest = j;
    }
  }
  return hi - lo >= cfg_.balance_spread_us ? slowest : kMaxSubstreams;
}

void PushTrees::upkeep(TimeUs now) {
  bool orphan = false;
  for (uint32_t j = 0; j < cfg_.substreams; ++j) orphan = orphan || parent_[j] == kNoPeer;
  if (orphan || now >= next_parents_at_) {
    next_parents_at_ = now + cfg_.parent_check_us;
    manage(now);
  }
}

void PushTrees::manage(TimeUs now) {
  const uint32_t slowest = lagging_substream();  // may switch for a smaller gain
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (pending_sub_[j] != kNoPeer) {
      if (now - pending_sub_at_[j] <= cfg_.request_timeout_us) continue;
      pending_sub_[j] = kNoPeer;
    }
    const TimeUs silence_limit =
        parent_pushed_[j] ? cfg_.parent_timeout_us : cfg_.first_push_timeout_us;
    if (parent_[j] != kNoPeer && now - last_push_[j] > silence_limit) {
      // Parent stopped delivering this sub-stream: leave it and look for another. One that
      // keeps doing so (or never started: a peer that takes children and forwards nothing)
      // is asked again after a back-off that doubles each time.
      // One of the source's children that took us and never sent a byte: tell the source
      // (with our next subscribe to it), which can measure nothing below its children itself.
      if (!parent_pushed_[j] && parent_ack_depth_[j] == 1) {
        silent_parent_[j] = parent_[j];
        silent_parent_at_[j] = now;
      }
      if (Partner* q = partners_.find(parent_[j])) {
        q->parent_mask &= uint16_t(~bit(j));
        // Took us and never sent a byte: as if it had failed us silent_parent_strikes times
        // (an honest parent that lost its own feed at that moment loses little; a peer that
        // forwards nothing is not picked again for a long while, whatever its map promises).
        const uint32_t strikes = parent_pushed_[j] ? 1u : cfg_.silent_parent_strikes;
        q->parent_strikes =
            uint8_t(std::min<uint32_t>(q->parent_strikes + strikes, cfg_.max_strikes));
        q->refused_until = now + (cfg_.refuse_backoff_us << (q->parent_strikes - 1));
        out_.send(q->id, Unsubscribe{uint8_t(j)});
      }
      orphan(j, now);
    }
    // Best candidate: earliest expected arrival = depth x typical hop + the time the parent
    // needs to upload our copy (its per-copy time x its children per sub-stream), which
    // favours shallow, fast, lightly loaded parents. Only strictly shallower ones (no cycle).
    const uint64_t jitter = uint64_t(std::max<TimeUs>(cfg_.parent_jitter_us, 1));
    auto best_parent = [&](TimeUs& best_est) {
      Partner* best = nullptr;
      best_est = kNever;
      for (auto& q : partners_) {
        if (!q.has_bm || !q.hello || now < q.refused_until || (q.child_mask & bit(j)) ||
            q.id == parent_[j])
          continue;
        // With a complaint about one of its children, a full source is asked first.
        // (Also when another parent serves us: the silent child still holds a source slot.)
        if (q.is_source && complaining(j, now)) {
          best_est = 0;
          return &q;
        }
        if (q.bm.spare_slots == 0 || q.bm.depth[j] >= kNoDepth - 1 || q.bm.depth[j] >= depth_[j])
          continue;
        // A partner that went silent as our parent again and again ranks as if it were that
        // much further away per repeated failure (one failure happens to honest parents):
        // what it did counts, not what its buffer map promises.
        const TimeUs repeated = q.parent_strikes > 1 ? q.parent_strikes - 1 : 0;
        const TimeUs est =
            parent_estimate(q, j) + repeated * cfg_.parent_timeout_us + TimeUs(rng() % jitter);
        if (est < best_est) {
          best_est = est;
          best = &q;
        }
      }
      return best;
    };
    TimeUs best_est = kNever;
    Partner* best = best_parent(best_est);
    if (!best && parent_[j] == kNoPeer && depth_[j] != kNoDepth &&
        now - orphan_since_[j] >= cfg_.orphan_timeout_us) {
      // Orphaned and no partner is shallower: release our subtree (its members re-home in
      // parallel, each among its own partners) so we may attach at any depth. Waiting
      // for a shallower parent to turn up cost more under churn (docs/mesh.md).
      if (children_[j] > 0) ++stats_.subtree_releases;
      for (auto& q : partners_) {
        if (q.child_mask & bit(j)) drop_child(q, j);
      }
      children_[j] = 0;
      depth_[j] = kNoDepth;
      best = best_parent(best_est);
    }
    if (!best) continue;
    if (parent_[j] != kNoPeer) {
      // Switch only for a clear gain (each switch costs a subscription round trip).
      const Partner* cur = partners_.find(parent_[j]);
      const TimeUs gain = j == slowest ? cfg_.balance_gain_us : cfg_.switch_gain_us;
      if (cur && cur->has_bm && best_est + gain >= parent_estimate(*cur, j)) continue;
    }
    pending_sub_[j] = best->id;
    pending_sub_at_[j] = now;
    if (best->bm.spare_slots) --best->bm.spare_slots;
    Subscribe sub{uint8_t(j), depth_[j]};
    if (best->is_source) sub.silent_parent = silent_parent_[j];  // until the source acks
    out_.send(best->id, sub);
  }
}

}  // namespace meshcast::mesh
