#include "mesh/core/node.hpp"

#include <algorithm>
#include <bit>
#include <limits>

#include "mesh/core/codec.hpp"

namespace meshcast::mesh {

namespace {
// Strikes for a parent that acknowledged us and sent nothing before the parent timeout.
constexpr uint32_t kSilentParentStrikes = 3;
constexpr TimeUs kNever = std::numeric_limits<TimeUs>::max();
constexpr uint32_t kNone32 = std::numeric_limits<uint32_t>::max();
uint16_t bit(uint32_t j) { return uint16_t(1u << j); }
}  // namespace

bool Node::Partner::likely_has(uint32_t n, TimeUs now, TimeUs seg_us) const {
  if (!has_bm || n >= not_have_from) return false;
  if (bm.has(n)) return true;
  if (bm.count == 0) return false;
  const uint32_t top = bm.base + bm.count - 1;
  return n > top && TimeUs(n - top) * seg_us <= now - bm_at;
}

Node::Node(const NodeConfig& cfg) : cfg_(cfg) {
  cfg_.substreams = std::clamp<uint32_t>(cfg_.substreams, 1, kMaxSubstreams);
  // A power of two, so a slot is a mask away (this runs per message in the simulator).
  cfg_.window = std::bit_ceil(std::clamp<uint32_t>(cfg_.window, 8, kMaxWindow));
  win_mask_ = cfg_.window - 1;
  kk_ = cfg_.substreams;
  cfg_.tick_us = std::max<TimeUs>(cfg_.tick_us, 1'000);  // 0 would never advance the tick
  cfg_.max_partners = std::max<uint32_t>(cfg_.max_partners, 1);
  window_.resize(cfg_.window);
  segs_.resize(cfg_.window);
  partners_.reserve(cfg_.max_partners);
  pids_.reserve(cfg_.max_partners);
  parent_.fill(kNoPeer);
  pending_sub_.fill(kNoPeer);
  silent_parent_.fill(kNoPeer);
  depth_.fill(cfg_.is_source ? 0 : kNoDepth);
  if (cfg_.is_source) {
    // Starts empty and refills at copies x stream rate, so pulls come on top of pushes only
    // while some sub-stream has fewer subscribers; handle(Request) also caps the total.
    const uint64_t rate = cfg_.source_copies * cfg_.stream_bps / 8;
    bucket_ = TokenBucket(rate, double(cfg_.segment_us) * 1e-6, /*start_full=*/false);
  } else {
    bucket_ = TokenBucket(cfg_.upload_bps / 8, 0.5);
  }
  rng_state_ =
      cfg_.seed * 0x9E3779B97F4A7C15ull ^ (uint64_t(cfg_.self) + 1) * 0xD1B54A32D192ED03ull;
  if (rng_state_ == 0) rng_state_ = 1;
}

uint64_t Node::rng() {
  uint64_t x = rng_state_;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state_ = x;
  return x * 0x2545F4914F6CDD1Dull;
}

// Scans the compact id array (one cache line) rather than the partner records.
Node::Partner* Node::find(PeerId id) {
  for (size_t i = 0; i < pids_.size(); ++i)
    if (pids_[i] == id) return &partners_[i];
  return nullptr;
}
const Node::Partner* Node::find(PeerId id) const {
  for (size_t i = 0; i < pids_.size(); ++i)
    if (pids_[i] == id) return &partners_[i];
  return nullptr;
}

std::vector<PeerId> Node::partner_ids() const {
  std::vector<PeerId> ids;
  for (auto& p : partners_) ids.push_back(p.id);
  return ids;
}

Node::Slot* Node::slot_for(uint32_t n) {
  if (n < win_lo_ || n - win_lo_ >= cfg_.window) return nullptr;
  return &window_[n & win_mask_];
}
const Node::Slot* Node::slot_for(uint32_t n) const {
  if (n < win_lo_ || n - win_lo_ >= cfg_.window) return nullptr;
  return &window_[n & win_mask_];
}

bool Node::has_segment(uint32_t n) const {
  if (n < win_lo_ || n - win_lo_ >= cfg_.window) return false;
  const uint32_t i = n & win_mask_;
  return (have_bits_[i >> 6] >> (i & 63)) & 1u;
}

void Node::set_have(uint32_t i, bool have) {
  if (have)
    have_bits_[i >> 6] |= uint64_t(1) << (i & 63);
  else
    have_bits_[i >> 6] &= ~(uint64_t(1) << (i & 63));
}

uint32_t Node::total_slots() const {
  if (cfg_.is_source) return cfg_.source_copies * cfg_.substreams;
  const double per_slot = double(cfg_.stream_bps) / cfg_.substreams;
  return uint32_t(std::min(255.0, double(cfg_.upload_bps) * cfg_.push_utilization / per_slot));
}
uint32_t Node::children_total() const {
  uint32_t c = 0;
  for (uint32_t j = 0; j < cfg_.substreams; ++j) c += children_[j];
  return c;
}
uint32_t Node::spare_slots() const {
  const uint32_t t = total_slots(), c = children_total();
  return std::min<uint32_t>(255, t > c ? t - c : 0);
}

TimeUs Node::created_est(uint32_t n) const {
  // The K stripes of a segment share its creation time.
  const uint32_t k = cfg_.substreams;
  return ref_created_ + (TimeUs(n / k) - TimeUs(ref_num_ / k)) * cfg_.segment_us;
}

BufferMap Node::buffer_map() const {
  BufferMap bm;
  bm.substreams = uint8_t(cfg_.substreams);
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (cfg_.is_source)
      bm.depth[j] = children_[j] >= cfg_.source_copies && !idle_replaceable(j) ? kNoDepth : 0;
    else
      bm.depth[j] = parent_[j] == kNoPeer ? kNoDepth : depth_[j];
  }
  bm.spare_slots = uint8_t(spare_slots());
  if (cfg_.is_source && bm.spare_slots == 0)
    for (uint32_t j = 0; j < cfg_.substreams; ++j)
      if (idle_replaceable(j)) bm.spare_slots = 1;  // a slot a newcomer can take
  if (!have_any_) return bm;
  const uint32_t span = std::min<uint32_t>(cfg_.window, kMaxBufferMapBits);
  bm.base = std::max(win_lo_, highest_ + 1 >= span ? highest_ + 1 - span : 0);
  bm.count = uint16_t(highest_ - bm.base + 1);
  for (uint32_t n = bm.base; n <= highest_; ++n)
    if (has_segment(n)) bm.set(n);
  return bm;
}

void Node::send(PeerId to, Message m, uint8_t priority) {
  const size_t sz = encoded_size(m);
  if (is_media(m))
    stats_.media_bytes_sent += std::get<SegmentMsg>(m).segment.header.size;
  else
    stats_.control_bytes_sent += sz;
  Output o;
  o.kind = OutputKind::kSend;
  o.peer = to;
  o.priority = priority;
  o.msg = std::move(m);
  out_->push_back(std::move(o));
}

void Node::disconnect(PeerId id, DisconnectReason why, TimeUs now) {
  Output o;
  o.kind = OutputKind::kDisconnect;
  o.peer = id;
  o.reason = why;
  out_->push_back(std::move(o));
  ++stats_.partners_dropped;
  remove_partner(id, now);
}

void Node::remove_partner(PeerId id, TimeUs now) {
  connecting_.erase(std::remove_if(connecting_.begin(), connecting_.end(),
                                   [&](auto& c) { return c.first == id; }),
                    connecting_.end());
  Partner* p = find(id);
  if (!p) return;
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (parent_[j] == id) orphan(j, now);
    if (pending_sub_[j] == id) pending_sub_[j] = kNoPeer;
    if (p->child_mask & bit(j)) --children_[j];
  }
  if (have_any_ && p->outstanding > 0) {
    for (uint32_t n = win_lo_; n <= highest_ + cfg_.window && n - win_lo_ < cfg_.window; ++n) {
      Slot& s = window_[n & win_mask_];
      if (s.req_from == id) s.req_from = kNoPeer;
    }
  }
  const auto idx = p - partners_.data();
  partners_.erase(partners_.begin() + idx);
  pids_.erase(pids_.begin() + idx);
}

void Node::orphan(uint32_t j, TimeUs now) {
  parent_[j] = kNoPeer;
  orphan_since_[j] = now;
  ++stats_.parents_lost;
}

void Node::maybe_timer() {
  if (!started_) return;
  TimeUs want = next_tick_;
  if (playing_ && !has_segment(next_play_)) want = std::min(want, deadline(next_play_));
  if (want != timer_at_) {
    timer_at_ = want;
    Output o;
    o.kind = OutputKind::kSetTimer;
    o.at = want;
    out_->push_back(std::move(o));
  }
}

void Node::start(TimeUs now) {
  if (started_) return;
  started_ = true;
  stats_.started_at = now;
  if (cfg_.is_source)
    bucket_ = TokenBucket(cfg_.source_copies * cfg_.stream_bps / 8, double(cfg_.segment_us) * 1e-6,
                          /*start_full=*/false, now);
  next_tick_ = now + cfg_.tick_us;
  shrink_at_ = now + cfg_.shrink_period_us;
  if (!cfg_.is_source) manage_partners(now);
  maybe_timer();
}

void Node::add_candidates(std::span<const PeerId> ids, TimeUs now) {
  for (PeerId id : ids) {
    if (id == cfg_.self || find(id) ||
        std::find(banned_.begin(), banned_.end(), id) != banned_.end() ||
        std::find(candidates_.begin(), candidates_.end(), id) != candidates_.end())
      continue;
    candidates_.push_back(id);
  }
  if (candidates_.size() > 32) candidates_.erase(candidates_.begin(), candidates_.end() - 32);
  if (started_ && !cfg_.is_source) manage_partners(now);
  maybe_timer();
}

void Node::partner_connected(PeerId id, TimeUs now) {
  connecting_.erase(std::remove_if(connecting_.begin(), connecting_.end(),
                                   [&](auto& c) { return c.first == id; }),
                    connecting_.end());
  if (find(id) || id == cfg_.self) return;
  const bool banned = std::find(banned_.begin(), banned_.end(), id) != banned_.end();
  if (!banned && partners_.size() >= cfg_.max_partners && !cfg_.is_source) {
    // Full: make room by evicting a partner that neither pushes to us nor is pushed to by
    // us and has had time to prove useful; newcomers need a foothold.
    for (auto& q : partners_) {
      if (q.parent_mask == 0 && q.child_mask == 0 && !q.is_source &&
          now - q.connected_at > cfg_.evict_after_us) {
        disconnect(q.id, DisconnectReason::kUseless, now);
        break;
      }
    }
  }
  if (banned || partners_.size() >= cfg_.max_partners) {
    // Full: point the newcomer at some of our partners before closing.
    Reject r;
    r.kind = RejectKind::kPartner;
    r.reason = RejectReason::kFull;
    for (size_t i = 0; i < partners_.size() && r.redirect_count < kMaxRedirects; ++i)
      r.redirect[r.redirect_count++] = partners_[(i + rng()) % partners_.size()].id;
    if (!banned) send(id, r);
    Output o;
    o.kind = OutputKind::kDisconnect;
    o.peer = id;
    o.reason = banned ? DisconnectReason::kForged : DisconnectReason::kFull;
    out_->push_back(std::move(o));
    return;
  }
  Partner p;
  p.id = id;
  p.connected_at = now;
  p.last_useful = now;
  partners_.push_back(p);
  pids_.push_back(id);
  announced_upload_bps_ = cfg_.upload_bps;
  send(id, hello());
  send(id, buffer_map());
  maybe_timer();
}

void Node::partner_left(PeerId id, TimeUs now) {
  remove_partner(id, now);
  if (started_ && !cfg_.is_source) manage_partners(now);
  maybe_timer();
}

void Node::on_bytes(PeerId from, std::span<const uint8_t> bytes, TimeUs now) {
  Message m;
  if (decode(bytes, m) != DecodeError::kOk) {
    if (find(from)) disconnect(from, DisconnectReason::kProtocol, now);
    maybe_timer();
    return;
  }
  on_message(from, m, now);
}

void Node::on_message(PeerId from, const Message& m, TimeUs now) {
  now_ = now;
  if (!find(from)) {
    // Only a partner-level refusal (with redirects) is meaningful from a non-partner.
    if (auto* r = std::get_if<Reject>(&m); r && r->kind == RejectKind::kPartner)
      add_candidates(std::span<const PeerId>(r->redirect.data(), r->redirect_count), now);
    return;
  }
  if (!is_media(m)) stats_.control_bytes_received += encoded_size(m);
  std::visit([&](const auto& v) { handle(from, v, now); }, m);
  maybe_timer();
}

void Node::handle(PeerId from, const Hello& m, TimeUs now) {
  Partner* p = find(from);
  if (m.stream_id != cfg_.stream_id || m.substreams != cfg_.substreams) {
    disconnect(from, DisconnectReason::kProtocol, now);
    return;
  }
  p->hello = true;
  p->is_source = m.is_source;
  if (m.is_source) source_id_ = from;
  p->upload_kbps = m.upload_kbps;
}

void Node::handle(PeerId from, const BufferMap& m, TimeUs now) {
  Partner* p = find(from);
  if (m.substreams != cfg_.substreams) {
    disconnect(from, DisconnectReason::kProtocol, now);
    return;
  }
  p->bm = m;
  p->has_bm = true;
  p->bm_at = now;
  p->not_have_from = kNone32;
  if (cfg_.is_source) return;
  if (!playing_ && !startup_requested_) schedule_pulls(now);
  for (uint32_t j = 0; j < cfg_.substreams; ++j) {
    if (parent_[j] == kNoPeer && pending_sub_[j] == kNoPeer) {
      manage_parents(now);
      break;
    }
  }
}

void Node::handle(PeerId from, const Request& m, TimeUs now) {
  Reject not_have, busy;
  not_have.kind = busy.kind = RejectKind::kRequest;
  not_have.reason = RejectReason::kNotHave;
  busy.reason = RejectReason::kBusy;
  not_have.base = busy.base = m.base;
  for (uint32_t i = 0; i < 32; ++i) {
    if (!((m.mask >> i) & 1u)) continue;
    const uint32_t n = m.base + i;
    if (n < m.base) break;  // wrapped
    const Slot* s = slot_for(n);
    if (!s || s->state != kHave || s->number != n) {
      not_have.mask |= 1u << i;
    } else if (!bucket_.can_spend(now, seg_of(*s).header.size) ||
               (cfg_.is_source && stats_.media_bytes_sent + seg_of(*s).header.size >
                                      cfg_.source_copies * stats_.published_bytes)) {
      // The source never sends more than source_copies times what it published, pushes
      // included (the rate budget alone let a pull through when segments ran larger than
      // the nominal rate). Pulls may use the share of a sub-stream with fewer subscribers.
      busy.mask |= 1u << i;
    } else {
      bucket_.spend(now, seg_of(*s).header.size);
      ++stats_.segments_served;
      send(from, SegmentMsg{seg_of(*s)}, kBulkPriority);
    }
  }
  if (not_have.mask) send(from, not_have);
  if (busy.mask) send(from, busy);
}

bool Node::forwards_to_nobody(const Partner& q) const {
  if (!cfg_.is_source || !q.child_mask || !q.has_bm || q.is_source) return false;
  // Its own buffer map says how many push slots it has left; with every slot its (capped)
  // upload buys still free, it passes what we send it to nobody.
  const double per_slot = double(cfg_.stream_bps) / cfg_.substreams;
  const uint32_t slots =
      uint32_t(std::min(255.0, double(q.upload_kbps) * 1000.0 * cfg_.push_utilization / per_slot));
  return slots > 0 && q.bm.spare_slots >= slots;
}

bool Node::is_idle_child(const Partner& q) const {
  return forwards_to_nobody(q) && now_ - q.child_since >= cfg_.idle_child_grace_us;
}

bool Node::idle_replaceable(uint32_t j) const {
  if (!cfg_.is_source || now_ - idle_replaced_at_[j] < cfg_.idle_replace_interval_us) return false;
  for (auto& q : partners_)
    if ((q.child_mask & bit(j)) && is_idle_child(q)) return true;
  return false;
}

Node::Partner* Node::idle_child(int only_substream, uint32_t* substream) {
  Partner* best = nullptr;
  for (auto& q : partners_) {
    if (!is_idle_child(q)) continue;
    for (uint32_t k = 0; k < cfg_.substreams; ++k) {
      if (!(q.child_mask & bit(k)) || (only_substream >= 0 && k != uint32_t(only_substream)) ||
          now_ - idle_replaced_at_[k] < cfg_.idle_replace_interval_us)
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

Node::Partner* Node::slowest_child(int only_substream, uint32_t* substream, const Partner* except) {
  Partner* slowest = nullptr;
  for (auto& q : partners_) {
    if (!q.child_mask || &q == except) continue;
    for (uint32_t k = 0; k < cfg_.substreams; ++k) {
      if (!(q.child_mask & bit(k)) || (only_substream >= 0 && k != uint32_t(only_substream)))
        continue;
      if (!slowest || q.upload_kbps < slowest->upload_kbps) {
        slowest = &q;
        *substream = k;
      }
    }
  }
  return slowest;
}

uint32_t Node::fanout_limit() const {
  const TimeUs per_copy =
      TimeUs(double(cfg_.stream_bps) * double(cfg_.segment_us) / double(cfg_.substreams) /
             double(std::max<uint64_t>(cfg_.upload_bps, 1)));
  return uint32_t(std::max<TimeUs>(1, cfg_.max_fanout_delay_us / std::max<TimeUs>(per_copy, 1)));
}

void Node::set_upload_budget(uint64_t bps, TimeUs now) {
  if (cfg_.is_source || bps == cfg_.upload_bps) return;
  now_ = std::max(now_, now);
  cfg_.upload_bps = bps;
  bucket_.set_rate(bps / 8, 0.5, now);
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
  // Partners rank parents (and preempt children) by declared upload: tell them.
  const uint64_t told = announced_upload_bps_;
  if (told == 0 || bps * 10 < told * 9 || bps * 10 > told * 11) {
    announced_upload_bps_ = bps;
    for (auto& q : partners_) send(q.id, hello());
  }
  maybe_timer();
}

Hello Node::hello() const {
  Hello h;
  h.stream_id = cfg_.stream_id;
  h.upload_kbps = uint32_t(std::min<uint64_t>(cfg_.upload_bps / 1000, 0xFFFFFFFFu));
  h.substreams = uint8_t(cfg_.substreams);
  h.is_source = cfg_.is_source;
  return h;
}

void Node::accept_child(Partner& q, uint32_t j) {
  if (!q.child_mask) q.child_since = now_;
  q.child_mask |= bit(j);
  ++children_[j];
  send(q.id, SubscribeAck{uint8_t(j), depth_[j]});
}

void Node::drop_child(Partner& q, uint32_t j) {
  Reject d;
  d.kind = RejectKind::kSubscribe;
  d.reason = RejectReason::kDropped;
  d.substream = uint8_t(j);
  send(q.id, d);
  q.child_mask &= uint16_t(~bit(j));
  if (children_[j] > 0) --children_[j];
}

void Node::replace_child(Partner& old, uint32_t k, Partner& newcomer, uint32_t j) {
  drop_child(old, k);
  idle_replaced_at_[k] = now_;
  idle_replaced_.emplace_back(old.id, now_ + cfg_.idle_replaced_hold_us);
  if (idle_replaced_.size() > kMaxIdleReplaced) idle_replaced_.erase(idle_replaced_.begin());
  accept_child(newcomer, j);
}

bool Node::replace_silent_child(Partner& newcomer, uint32_t j, PeerId silent) {
  // The complainer's word is all we have, so it is rationed: the source acts on one
  // complaint per interval, the accused must have been a child as long as the complainer
  // waited for it, and it is not taken back for the hold time. A lying complainer can thus
  // move one honest child per interval one hop down, no more.
  if (silent == kNoPeer || silent == newcomer.id ||
      now_ - silent_replaced_at_ < cfg_.silent_replace_interval_us)
    return false;
  Partner* q = find(silent);
  if (!q || q->is_source || !(q->child_mask & bit(j)) ||
      now_ - q->child_since < cfg_.first_push_timeout_us)
    return false;
  // A child that forwards nothing on one sub-stream is trusted on none: its other slots
  // become free for the partners that subscribe next.
  silent_replaced_at_ = now_;
  for (uint32_t k = 0; k < cfg_.substreams; ++k)
    if (k != j && (q->child_mask & bit(k))) drop_child(*q, k);
  replace_child(*q, j, newcomer, j);
  ++stats_.silent_children_replaced;
  return true;
}

bool Node::preempt_slowest(Partner& newcomer, uint32_t j, int only_substream) {
  if (cfg_.is_source && !is_idle_child(newcomer)) {
    // What we measured first: a child that forwards to nobody gives up its slot to anyone
    // (declared upload would let a liar keep it).
    uint32_t k = 0;
    if (Partner* idle = idle_child(only_substream, &k)) {
      replace_child(*idle, k, newcomer, j);
      ++stats_.idle_children_replaced;
      return true;
    }
  }
  uint32_t slow_j = 0;
  Partner* slowest = slowest_child(only_substream, &slow_j, &newcomer);
  if (!slowest || uint64_t(newcomer.upload_kbps) * 2 < uint64_t(slowest->upload_kbps) * 3)
    return false;
  drop_child(*slowest, slow_j);
  accept_child(newcomer, j);
  return true;
}

void Node::handle(PeerId from, const Subscribe& m, TimeUs now) {
  Partner* p = find(from);
  const uint32_t j = m.substream;
  Reject r;
  r.kind = RejectKind::kSubscribe;
  r.substream = uint8_t(j);
  if (j >= cfg_.substreams) {
    r.reason = RejectReason::kDepth;
    send(from, r);
    return;
  }
  if (p->child_mask & bit(j)) {  // repeated subscribe: ack again
    send(from, SubscribeAck{uint8_t(j), depth_[j]});
    return;
  }
  if (cfg_.is_source) {
    // A child replaced for forwarding to nobody is not taken back for a while (it would only
    // take the slot of the next newcomer).
    std::erase_if(idle_replaced_, [&](auto& e) { return e.second <= now; });
    const bool replaced = std::any_of(idle_replaced_.begin(), idle_replaced_.end(),
                                      [&](auto& e) { return e.first == from; });
    if (children_[j] >= cfg_.source_copies || replaced) {
      if (!replaced && replace_silent_child(*p, j, m.silent_parent)) return;
      if (!replaced && preempt_slowest(*p, j, j)) return;
      // Copy cap reached: redirect to peers that already carry this sub-stream.
      r.reason = RejectReason::kBusy;
      for (auto& q : partners_)
        if ((q.child_mask & bit(j)) && r.redirect_count < kMaxRedirects)
          r.redirect[r.redirect_count++] = q.id;
      send(from, r);
      return;
    }
  } else {
    // Cycle avoidance: a parent must be attached and strictly shallower than the child
    // (which keeps depth(parent) < depth(child) on every edge, so no cycle can form).
    if (parent_[j] == kNoPeer || depth_[j] >= m.depth || (p->parent_mask & bit(j))) {
      r.reason = RejectReason::kDepth;
      send(from, r);
      return;
    }
    // Bound the fan-out per sub-stream by time: the last child of a segment must not wait
    // longer than max_fanout_delay behind its siblings (store-and-forward per copy).
    const bool fanout_full = children_[j] > 0 && children_[j] + 1 > fanout_limit();
    // Full: a much faster uploader takes the place of our slowest child, so fast peers
    // rise towards the source and slow ones sink to the leaves.
    if ((spare_slots() == 0 || fanout_full) && preempt_slowest(*p, j, fanout_full ? int(j) : -1))
      return;
    if (spare_slots() == 0 || fanout_full) {
      r.reason = RejectReason::kBusy;
      send(from, r);
      return;
    }
  }
  accept_child(*p, j);
}

void Node::handle(PeerId from, const SubscribeAck& m, TimeUs now) {
  Partner* p = find(from);
  const uint32_t j = m.substream;
  if (j >= cfg_.substreams || pending_sub_[j] != from) return;
  pending_sub_[j] = kNoPeer;
  const uint8_t nd = uint8_t(std::min<uint32_t>(m.depth + 1u, kNoDepth - 1u));
  if (depth_[j] != kNoDepth && nd > depth_[j] && children_[j] > 0) {
    // Would deepen us below our children: refuse to keep the depth order.
    send(from, Unsubscribe{uint8_t(j)});
    return;
  }
  if (parent_[j] != kNoPeer && parent_[j] != from) {
    if (Partner* old = find(parent_[j])) {
      old->parent_mask &= uint16_t(~bit(j));
      send(old->id, Unsubscribe{uint8_t(j)});
    }
  }
  parent_[j] = from;
  depth_[j] = nd;
  p->parent_mask |= bit(j);
  last_push_[j] = now;
  parent_ack_depth_[j] = m.depth;
  parent_pushed_[j] = false;
  if (p->is_source) silent_parent_[j] = kNoPeer;
}

void Node::handle(PeerId from, const Unsubscribe& m, TimeUs now) {
  (void)now;
  Partner* p = find(from);
  const uint32_t j = m.substream;
  if (j < cfg_.substreams && (p->child_mask & bit(j))) {
    p->child_mask &= uint16_t(~bit(j));
    --children_[j];
  }
}

void Node::handle(PeerId from, const Reject& m, TimeUs now) {
  Partner* p = find(from);
  if (m.redirect_count > 0)
    add_candidates(std::span<const PeerId>(m.redirect.data(), m.redirect_count), now);
  p = find(from);
  if (!p) return;
  switch (m.kind) {
    case RejectKind::kSubscribe: {
      const uint32_t j = m.substream;
      if (j >= cfg_.substreams) return;
      if (pending_sub_[j] == from) pending_sub_[j] = kNoPeer;
      p->refused_until = now + cfg_.refuse_backoff_us;
      if (m.reason == RejectReason::kDropped && parent_[j] == from) {
        p->parent_mask &= uint16_t(~bit(j));
        orphan(j, now);
      }
      if (!cfg_.is_source) manage_parents(now);
      break;
    }
    case RejectKind::kRequest: {
      for (uint32_t i = 0; i < 32; ++i) {
        if (!((m.mask >> i) & 1u)) continue;
        const uint32_t n = m.base + i;
        if (m.reason == RejectReason::kNotHave) p->not_have_from = std::min(p->not_have_from, n);
        Slot* s = slot_for(n);
        if (s && s->req_from == from && s->number == n && s->state != kHave) {
          s->req_from = kNoPeer;
          if (p->outstanding) --p->outstanding;
        }
      }
      if (m.reason == RejectReason::kBusy) p->busy_until = now + cfg_.refuse_backoff_us / 4;
      if (!playing_) startup_requested_ = false;
      if (!cfg_.is_source) schedule_pulls(now);
      break;
    }
    case RejectKind::kPartner:
      break;
  }
}

bool Node::too_old(uint32_t n) const {
  if (!have_any_) return false;
  if (playing_) return n < win_lo_ || n < next_play_;
  // Before playout starts, any segment that still fits in the window below the newest.
  const uint32_t first = n - n % kk_;
  return first < win_lo_ && highest_ - first >= cfg_.window;
}

void Node::store(Segment&& seg, TimeUs now) {
  const uint32_t n = seg.header.number;
  if (!have_any_) {
    win_lo_ = n - n % kk_;  // its segment's other stripes are still welcome
    highest_ = n;
    have_any_ = true;
  } else if (n < win_lo_) {
    win_lo_ = n - n % kk_;  // not playing yet: an older segment may start playout
  }
  if (n - win_lo_ >= cfg_.window) {
    const uint32_t new_lo = n - cfg_.window + 1;
    for (uint32_t k = win_lo_; k < new_lo && k - win_lo_ < cfg_.window; ++k) {
      Slot& s = window_[k & win_mask_];
      if (s.req_from != kNoPeer) {
        if (Partner* q = find(s.req_from); q && q->outstanding) --q->outstanding;
        s.req_from = kNoPeer;
      }
      s.state = kEmpty;
      set_have(k & win_mask_, false);
      seg_of(s).payload.reset();
    }
    win_lo_ = new_lo;
  }
  Slot& s = window_[n & win_mask_];
  if (s.number != n) {
    s.req_from = kNoPeer;
    s.number = n;
  }
  if (s.req_from != kNoPeer) {
    if (Partner* q = find(s.req_from); q && q->outstanding) --q->outstanding;
    s.req_from = kNoPeer;
  }
  s.state = kHave;
  set_have(n & win_mask_, true);
  s.arrived = now;
  seg_of(s) = std::move(seg);
  if (seg_of(s).header.hops < 255) ++seg_of(s).header.hops;
  if (cfg_.is_source) seg_of(s).header.hops = 0;
  highest_ = std::max(highest_, n);
  if (n >= ref_num_ || ref_created_ == 0) {
    ref_num_ = n;
    ref_created_ = seg_of(s).header.created_us;
  }
  const uint32_t j = n % kk_;
  if (!newest_valid_[j] || n > newest_sub_[j]) {
    newest_sub_[j] = n;
    newest_valid_[j] = true;
  }
}

TimeUs Node::parent_estimate(const Partner& q, uint32_t j) const {
  const uint64_t up = std::max<uint64_t>(uint64_t(q.upload_kbps) * 1000, 1000);
  const double stripe_bytes =
      double(cfg_.stream_bps) * double(cfg_.segment_us) / 8e6 / cfg_.substreams;
  const TimeUs per_copy = TimeUs(stripe_bytes * 8e6 / double(up));
  const double per_slot = double(cfg_.stream_bps) / cfg_.substreams;
  const uint32_t slots = q.is_source ? cfg_.source_copies * cfg_.substreams
                                     : uint32_t(double(up) * cfg_.push_utilization / per_slot);
  const uint32_t used = slots > q.bm.spare_slots ? slots - q.bm.spare_slots : 0;
  const TimeUs queue = per_copy * TimeUs(used / cfg_.substreams + 1);
  const uint32_t d = q.bm.depth[j] >= kNoDepth - 1 ? 64 : q.bm.depth[j];
  return TimeUs(d) * cfg_.hop_estimate_us + queue + (q.relayed ? cfg_.relayed_penalty_us : 0);
}

void Node::forward(const Slot& s, PeerId except, TimeUs now) {
  // Children that upload fastest first: they carry the largest subtrees, so the segment
  // spreads like a binomial tree instead of waiting behind leaves.
  const uint32_t j = s.number % kk_;
  std::array<const Partner*, kMaxWindow> kids;
  size_t nk = 0;
  for (auto& q : partners_)
    if ((q.child_mask & bit(j)) && q.id != except && nk < kids.size()) kids[nk++] = &q;
  std::stable_sort(kids.begin(), kids.begin() + long(nk), [](const Partner* a, const Partner* b) {
    return a->upload_kbps > b->upload_kbps;
  });
  for (size_t i = 0; i < nk; ++i) {
    bucket_.spend(now, seg_of(s).header.size);
    ++stats_.segments_pushed;
    send(kids[i]->id, SegmentMsg{seg_of(s)}, push_priority(cfg_.is_source ? 0 : depth_[j]));
  }
}

PeerId Node::cut_through_child(const SegmentHeader& h, PeerId from) const {
  if (cfg_.is_source || h.stream_id != cfg_.stream_id || !find(from) || has_segment(h.number) ||
      too_old(h.number))
    return kNoPeer;
  const uint32_t j = h.number % kk_;
  const Partner* first = nullptr;
  for (auto& q : partners_)  // forward()'s order: fastest first, ties by partner order
    if ((q.child_mask & bit(j)) && q.id != from && (!first || q.upload_kbps > first->upload_kbps))
      first = &q;
  return first ? first->id : kNoPeer;
}

void Node::handle(PeerId from, const SegmentMsg& m, TimeUs now) {
  Partner* p = find(from);
  const SegmentHeader& h = m.segment.header;
  if (h.stream_id != cfg_.stream_id) {
    disconnect(from, DisconnectReason::kProtocol, now);
    return;
  }
  stats_.media_bytes_received += h.size;
  if (cfg_.is_source) {
    stats_.duplicate_bytes_received += h.size;
    return;
  }
  const uint32_t n = h.number;
  const uint32_t j = n % kk_;
  const bool from_parent = parent_[j] == from;
  if (from_parent) {
    last_push_[j] = now;
    parent_pushed_[j] = true;
  }
  const bool old = too_old(n);
  if (old || has_segment(n)) {
    stats_.duplicate_bytes_received += h.size;
    if (Slot* s = slot_for(n); s && s->number == n && s->req_from == from) {
      s->req_from = kNoPeer;
      if (p->outstanding) --p->outstanding;
    }
    return;
  }
  // Verify before anything else: a forged segment is never stored, played or relayed.
  if (!cfg_.verifier || !cfg_.verifier->verify(m.segment)) {
    ++stats_.forged_rejected;
    Output o;
    o.kind = OutputKind::kReport;
    o.peer = from;
    out_->push_back(std::move(o));
    banned_.push_back(from);
    if (banned_.size() > kMaxBanned) banned_.erase(banned_.begin());  // the oldest ban goes
    disconnect(from, DisconnectReason::kForged, now);
    manage_partners(now);
    return;
  }
  if (from_parent) {
    const TimeUs lag = now - h.created_us;
    push_lag_[j] = push_lag_[j] == 0 ? lag : (push_lag_[j] * 7 + lag) / 8;
    p->parent_strikes = 0;
  }
  p->pull_strikes = 0;
  p->startup_asked = 0;
  p->last_useful = now;
  Segment seg = m.segment;
  store(std::move(seg), now);
  const Slot& s = window_[n & win_mask_];
  forward(s, from, now);
  if (!playing_) {
    // The playout clock starts with the first whole segment (all K stripes in).
    const uint32_t first = n - n % kk_;
    if (!segment_complete(first)) return;
    playing_ = true;
    play_start_ = now;
    next_play_ = first;
    delay_us_ = now + cfg_.initial_buffer_us - h.created_us;
    min_slack_ = kNever;
    shrink_at_ = now + cfg_.shrink_period_us;
  }
  advance_playout(now);
}

void Node::handle(PeerId from, const Bye& m, TimeUs now) {
  (void)m;
  remove_partner(from, now);
  if (!cfg_.is_source) manage_partners(now);
}

void Node::publish_segment(Segment seg, TimeUs now) {
  if (!cfg_.is_source) return;
  now_ = now;
  ++stats_.published;
  stats_.published_bytes += seg.header.size;
  const uint32_t n = seg.header.number;
  if (have_any_ && n <= highest_ && has_segment(n)) return;
  store(std::move(seg), now);
  forward(window_[n & win_mask_], kNoPeer, now);
  maybe_timer();
}

void Node::on_timer(TimeUs now) {
  now_ = now;
  timer_at_ = -1;
  if (now >= next_tick_) {
    tick(now);
    while (next_tick_ <= now) next_tick_ += cfg_.tick_us;
  }
  advance_playout(now);
  maybe_timer();
}

void Node::tick(TimeUs now) {
  connecting_.erase(
      std::remove_if(connecting_.begin(), connecting_.end(),
                     [&](auto& c) { return now - c.second > cfg_.connect_timeout_us; }),
      connecting_.end());
  if (cfg_.is_source) {
    // The source keeps only its subscribers; others are sent on to them. Not while a child
    // forwards to nobody: its slot is about to go to one of those others.
    const bool slot_coming = std::any_of(partners_.begin(), partners_.end(),
                                         [&](const Partner& q) { return forwards_to_nobody(q); });
    uint16_t replaceable = 0;
    for (uint32_t j = 0; j < cfg_.substreams; ++j)
      if (idle_replaceable(j)) replaceable |= bit(j);
    for (size_t i = 0; i < partners_.size(); ++i) {
      Partner& q = partners_[i];
      if (q.child_mask == 0 && !slot_coming &&
          now - q.connected_at > 3 * cfg_.tick_us + 2'000'000) {
        Reject r;
        r.kind = RejectKind::kPartner;
        r.reason = RejectReason::kFull;
        for (auto& c : partners_)
          if (c.child_mask && r.redirect_count < kMaxRedirects)
            r.redirect[r.redirect_count++] = c.id;
        send(q.id, r);
        disconnect(q.id, DisconnectReason::kFull, now);
        break;
      }
    }
    // A slot that became free for a newcomer is told at once, not at the next map.
    send_buffer_maps(now, replaceable != replaceable_shown_ && replaceable != 0);
    replaceable_shown_ = replaceable;
    return;
  }
  // Expire pull requests that were not answered in time so they can be re-sent elsewhere.
  const bool any_out =
      std::any_of(partners_.begin(), partners_.end(), [](auto& q) { return q.outstanding; });
  if (have_any_ && any_out) {
    const uint32_t lo = playing_ ? std::max(next_play_, win_lo_) : win_lo_;
    for (uint32_t n = lo; n - win_lo_ < cfg_.window && n <= highest_ + cfg_.window; ++n) {
      Slot& s = window_[n & win_mask_];
      if (s.req_from != kNoPeer && s.req_deadline <= now) {
        if (Partner* q = find(s.req_from)) {
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
  manage_partners(now);
  // Parent upkeep (timeouts, better parents) once per second, or at once while a
  // sub-stream has no parent.
  bool orphan = false;
  for (uint32_t j = 0; j < cfg_.substreams; ++j) orphan = orphan || parent_[j] == kNoPeer;
  if (orphan || now >= next_parents_at_) {
    next_parents_at_ = now + 1'000'000;
    manage_parents(now);
  }
  schedule_pulls(now);
  advance_playout(now);
  send_buffer_maps(now, false);
}

void Node::send_buffer_maps(TimeUs now, bool force_all) {
  // One node-wide period (a new partner gets a map on connect): cheaper than per-partner
  // timers and the same bytes.
  if (!force_all && now < next_bm_at_) return;
  next_bm_at_ = now + cfg_.bm_interval_us;
  if (partners_.empty()) return;
  const BufferMap bm = buffer_map();
  for (auto& p : partners_) send(p.id, bm);
}

bool Node::connecting(PeerId id) const {
  return std::any_of(connecting_.begin(), connecting_.end(),
                     [&](auto& c) { return c.first == id; });
}

void Node::dial(PeerId id, TimeUs now) {
  connecting_.emplace_back(id, now);
  Output o;
  o.kind = OutputKind::kConnect;
  o.peer = id;
  out_->push_back(std::move(o));
}

bool Node::complaining(uint32_t j, TimeUs now) const {
  return silent_parent_[j] != kNoPeer && now - silent_parent_at_[j] <= cfg_.complaint_ttl_us;
}

void Node::manage_partners(TimeUs now) {
  if (cfg_.is_source) return;
  // Not playing yet and no partner has anything to give (e.g. in a flash crowd, partners
  // that joined with us): look wider, up to the hard bound, until someone has data.
  bool starving = false;
  if (!playing_ && now - stats_.started_at >= cfg_.startup_widen_us) {
    // A partner whose map shows data but that left our start-up pulls unanswered twice
    // gives nothing either.
    starving = true;
    for (auto& q : partners_)
      starving = starving && !(q.has_bm && q.bm.count > 0 && q.startup_asked < 2);
  }
  const size_t want =
      starving ? cfg_.max_partners
               : std::clamp<size_t>(cfg_.target_partners, cfg_.min_partners, cfg_.max_partners);
  while (partners_.size() + connecting_.size() < want && !candidates_.empty()) {
    const PeerId id = candidates_.back();
    candidates_.pop_back();
    if (id == cfg_.self || find(id) ||
        std::find(banned_.begin(), banned_.end(), id) != banned_.end() || connecting(id))
      continue;
    dial(id, now);
  }
  // A complaint about one of the source's children can reach only the source, which sends
  // away partners that are not its children: dial it again, at most once per back-off.
  if (source_id_ != kNoPeer && !find(source_id_) && partners_.size() < cfg_.max_partners &&
      now - source_redial_at_ >= cfg_.refuse_backoff_us && !connecting(source_id_)) {
    bool complaint = false;
    for (uint32_t j = 0; j < cfg_.substreams; ++j) complaint = complaint || complaining(j, now);
    if (complaint) {
      source_redial_at_ = now;
      dial(source_id_, now);
    }
  }
  const TimeUs ask_every = starving ? cfg_.startup_widen_us : 2'000'000;
  if ((starving || partners_.size() + connecting_.size() < cfg_.min_partners + 1) &&
      candidates_.empty() && (need_sent_at_ < 0 || now - need_sent_at_ >= ask_every)) {
    need_sent_at_ = now;
    Output o;
    o.kind = OutputKind::kNeedNeighbours;
    out_->push_back(std::move(o));
  }
  // Full of partners: drop one that neither pushes to us, nor is pushed to by us, nor has
  // delivered anything for a while, to make room for a better one.
  if (partners_.size() >= cfg_.max_partners) {
    for (auto& q : partners_) {
      if (q.parent_mask == 0 && q.child_mask == 0 && !q.is_source &&
          now - std::max(q.last_useful, q.connected_at) > cfg_.partner_idle_us) {
        disconnect(q.id, DisconnectReason::kUseless, now);
        break;
      }
    }
  }
}

uint32_t Node::lagging_substream() const {
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

void Node::manage_parents(TimeUs now) {
  if (cfg_.is_source) return;
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
      if (Partner* q = find(parent_[j])) {
        q->parent_mask &= uint16_t(~bit(j));
        // Took us and never sent a byte: as if it had failed us thrice (an honest parent that
        // lost its own feed at that moment loses little; a peer that forwards nothing is
        // not picked again for a long while, whatever its map promises).
        const uint32_t strikes = parent_pushed_[j] ? 1u : kSilentParentStrikes;
        q->parent_strikes =
            uint8_t(std::min<uint32_t>(q->parent_strikes + strikes, cfg_.max_strikes));
        q->refused_until = now + (cfg_.refuse_backoff_us << (q->parent_strikes - 1));
        send(q->id, Unsubscribe{uint8_t(j)});
      }
      orphan(j, now);
    }
    // Best candidate: earliest expected arrival = depth x typical hop + the time the parent
    // needs to upload our copy (its per-copy time x its children per sub-stream), which
    // favours shallow, fast, lightly loaded parents. Only strictly shallower ones (no cycle).
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
            parent_estimate(q, j) + repeated * cfg_.parent_timeout_us + TimeUs(rng() % 1000);
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
      const Partner* cur = find(parent_[j]);
      const TimeUs gain = j == slowest ? cfg_.balance_gain_us : cfg_.switch_gain_us;
      if (cur && cur->has_bm && best_est + gain >= parent_estimate(*cur, j)) continue;
    }
    pending_sub_[j] = best->id;
    pending_sub_at_[j] = now;
    if (best->bm.spare_slots) --best->bm.spare_slots;
    Subscribe sub{uint8_t(j), depth_[j]};
    if (best->is_source) sub.silent_parent = silent_parent_[j];  // until the source acks
    send(best->id, sub);
  }
}

void Node::schedule_pulls(TimeUs now) {
  if (cfg_.is_source) return;
  if (!playing_) {
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
        if (!has_segment(f + j) && !holder(f + j)) return false;
      return true;
    };
    for (int back = 0; back < 4 && first >= k && !available(first); ++back) first -= k;
    if (!available(first)) return;
    for (uint32_t j = 0; j < k; ++j) {
      if (has_segment(first + j)) continue;
      Partner* q = holder(first + j);
      if (q->startup_asked < 255) ++q->startup_asked;
      ++stats_.requests_sent;
      send(q->id, Request{first + j, 1});
    }
    startup_requested_ = true;
    startup_req_at_ = now;
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
  uint32_t hi = have_any_ ? highest_ : next_play_;
  for (auto& q : partners_) {
    if (!q.has_bm || q.bm.count == 0) continue;
    const uint32_t top = q.bm.base + q.bm.count - 1;
    const uint32_t est = top + uint32_t(std::max<TimeUs>(0, now - q.bm_at) / unit_us());
    hi = std::max(hi, est);
  }
  const uint32_t lo = std::max(next_play_, win_lo_);
  hi = std::min(hi, win_lo_ + cfg_.window - 1);
  for (uint32_t n = lo; n <= hi && n >= lo; ++n) {
    const Slot& s = window_[n & win_mask_];
    if (s.number == n && (s.state == kHave || s.req_from != kNoPeer)) continue;
    const TimeUs dl = deadline(n);
    if (dl <= now) continue;
    const uint32_t j = n % kk_;
    // Pull when the push is late, or whatever the push was expected to do, when the deadline
    // is too close to wait for it (a short playout delay leaves no room for the grace).
    const bool overdue = parent_[j] == kNoPeer || (newest_valid_[j] && newest_sub_[j] > n) ||
                         now > created_est(n) + push_lag_[j] + cfg_.pull_grace_us ||
                         dl - now < cfg_.deadline_pull_us;
    if (!overdue) continue;
    uint32_t holders = 0;
    for (auto& q : partners_)
      if (q.likely_has(n, now, unit_us())) ++holders;
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
      if (!q.likely_has(n, now, unit_us()) || q.outstanding >= cfg_.max_requests_per_partner ||
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
    Slot& s = window_[n & win_mask_];
    if (s.number != n) {
      s.number = n;
      s.state = kEmpty;
      set_have(n & win_mask_, false);
      seg_of(s).payload.reset();
    }
    s.req_from = best->id;
    s.req_deadline = now + cfg_.request_timeout_us;
    ++best->outstanding;
    ++stats_.requests_sent;
    send(best->id, Request{n, 1});
  }
}

bool Node::segment_complete(uint32_t first) const {
  for (uint32_t j = 0; j < cfg_.substreams; ++j)
    if (!has_segment(first + j)) return false;
  return true;
}

void Node::advance_playout(TimeUs now) {
  // Plays whole segments: the K stripes of segment first / K together, or none of them.
  const uint32_t k = cfg_.substreams;
  while (playing_) {
    const uint32_t first = next_play_;
    if (segment_complete(first)) {
      const Slot& s0 = *slot_for(first);
      const TimeUs dl = seg_of(s0).header.created_us + delay_us_;
      const TimeUs at = std::max(now, dl);
      uint8_t hops = 0;
      for (uint32_t j = 0; j < k; ++j) {
        const Slot& s = *slot_for(first + j);
        min_slack_ = std::min(min_slack_, dl - s.arrived);
        hops = std::max(hops, seg_of(s).header.hops);
        Output o;
        o.kind = OutputKind::kPlay;
        o.number = first + j;
        o.at = at;
        o.msg = SegmentMsg{seg_of(s)};
        out_->push_back(std::move(o));
      }
      if (stats_.first_play_at < 0) stats_.first_play_at = at;
      const TimeUs lag = std::max<TimeUs>(0, at - seg_of(s0).header.created_us);
      stats_.lag_us_sum += uint64_t(lag);
      stats_.lag_us_max = std::max(stats_.lag_us_max, lag);
      stats_.hops_sum += hops;
      stats_.hops_max = std::max(stats_.hops_max, hops);
      ++stats_.played;
      next_play_ += k;
      stalled_ = false;
      continue;
    }
    if (now < deadline(first)) break;
    // Incomplete at its deadline: stall (grow the delay) if every missing stripe may still
    // come, else skip the segment.
    bool may_come = true;
    for (uint32_t u = first; u < first + k && may_come; ++u) {
      if (has_segment(u)) continue;
      const Slot* s = slot_for(u);
      bool c = parent_[u % k] != kNoPeer || (s && s->number == u && s->req_from != kNoPeer);
      for (auto& q : partners_) c = c || q.likely_has(u, now, unit_us());
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
    out_->push_back(std::move(o));
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
