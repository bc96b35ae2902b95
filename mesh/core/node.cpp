#include "mesh/core/node.hpp"

#include <algorithm>
#include <bit>

#include "mesh/core/codec.hpp"

namespace meshcast::mesh {

namespace {
NodeConfig normalised(NodeConfig c) {
  c.substreams = std::clamp<uint32_t>(c.substreams, 1, kMaxSubstreams);
  // A power of two, so a slot is a mask away (this runs per message in the simulator).
  c.window = std::bit_ceil(std::clamp<uint32_t>(c.window, 8, kMaxWindow));
  c.tick_us = std::max<TimeUs>(c.tick_us, 1'000);  // 0 would never advance the tick
  c.max_partners = std::max<uint32_t>(c.max_partners, 1);
  return c;
}

// Upload in bytes: `burst_s` seconds of `bytes_per_s` saved up at most.
TokenBucket byte_bucket(uint64_t bytes_per_s, double burst_s, TimeUs now, bool start_full) {
  return TokenBucket(double(bytes_per_s), double(bytes_per_s) * burst_s, now, start_full);
}

TokenBucket source_bucket(const NodeConfig& c, TimeUs now) {
  // Starts empty and refills at copies x stream rate, so pulls come on top of pushes only
  // while some sub-stream has fewer subscribers; handle(Request) also caps the total.
  return byte_bucket(c.source_copies * c.stream_bps / 8, double(c.segment_us) * 1e-6, now,
                     /*start_full=*/false);
}
}  // namespace

Node::Node(const NodeConfig& cfg)
    : cfg_(normalised(cfg)),
      out_(stats_),
      rng_(cfg_.seed, cfg_.self),
      bucket_(cfg_.is_source ? source_bucket(cfg_, 0)
                             : byte_bucket(cfg_.upload_bps / 8, cfg_.upload_burst_s, 0, true)),
      partners_(cfg_),
      window_(cfg_.window, cfg_.substreams, cfg_.is_source),
      trees_(cfg_, partners_, out_, stats_, rng_, bucket_),
      playout_(cfg_, out_, stats_),
      pulls_(cfg_, partners_, window_, out_, stats_, rng_) {}

void Node::prefetch() const {
  __builtin_prefetch(this);
  partners_.prefetch();
  window_.prefetch();
}

void Node::prefetch_segment(uint32_t n) const {
  window_.prefetch(n);
  partners_.prefetch_records();
}

BufferMap Node::buffer_map() const {
  BufferMap bm;
  bm.substreams = uint8_t(cfg_.substreams);
  trees_.fill_map(bm, now_);
  window_.fill_map(bm);
  return bm;
}

void Node::disconnect(PeerId id, DisconnectReason why, TimeUs now) {
  Output o;
  o.kind = OutputKind::kDisconnect;
  o.peer = id;
  o.reason = why;
  out_.push(std::move(o));
  ++stats_.partners_dropped;
  remove_partner(id, now);
}

void Node::remove_partner(PeerId id, TimeUs now) {
  partners_.stop_connecting(id);
  Partner* p = partners_.find(id);
  if (!p) return;
  trees_.forget(*p, now);
  pulls_.forget(*p);
  partners_.erase(*p);
}

void Node::maybe_timer() {
  if (!started_) return;
  const TimeUs want = std::min(next_tick_, playout_.due(window_));
  if (want != timer_at_) {
    timer_at_ = want;
    Output o;
    o.kind = OutputKind::kSetTimer;
    o.at = want;
    out_.push(std::move(o));
  }
}

void Node::start(TimeUs now) {
  if (started_) return;
  started_ = true;
  stats_.started_at = now;
  if (cfg_.is_source) bucket_ = source_bucket(cfg_, now);
  next_tick_ = now + cfg_.tick_us;
  playout_.arm(now);
  manage_partners(now);
  maybe_timer();
}

void Node::manage_partners(TimeUs now) {
  if (cfg_.is_source) return;
  const PeerId idle =
      partners_.manage(now, playout_.playing(), stats_.started_at, trees_.complaining(now), out_);
  if (idle != kNoPeer) disconnect(idle, DisconnectReason::kUseless, now);
}

void Node::add_candidates(std::span<const PeerId> ids, TimeUs now) {
  partners_.add_candidates(ids);
  if (started_) manage_partners(now);
  maybe_timer();
}

void Node::partner_connected(PeerId id, TimeUs now) {
  partners_.stop_connecting(id);
  if (partners_.find(id) || id == cfg_.self) return;
  const bool banned = partners_.banned(id);
  if (!banned && partners_.size() >= cfg_.max_partners && !cfg_.is_source) {
    // Full: make room by evicting a partner that neither pushes to us nor is pushed to by
    // us and has had time to prove useful; newcomers need a foothold.
    if (const PeerId idle = partners_.evictable(now); idle != kNoPeer)
      disconnect(idle, DisconnectReason::kUseless, now);
  }
  if (banned || partners_.size() >= cfg_.max_partners) {
    // Full: point the newcomer at some of our partners before closing.
    Reject r;
    r.kind = RejectKind::kPartner;
    r.reason = RejectReason::kFull;
    for (size_t i = 0; i < partners_.size() && r.redirect_count < kMaxRedirects; ++i)
      r.redirect[r.redirect_count++] = partners_[(i + rng_.next()) % partners_.size()].id;
    if (!banned) out_.send(id, r);
    Output o;
    o.kind = OutputKind::kDisconnect;
    o.peer = id;
    o.reason = banned ? DisconnectReason::kForged : DisconnectReason::kFull;
    out_.push(std::move(o));
    return;
  }
  partners_.add(id, now);
  announced_upload_bps_ = cfg_.upload_bps;
  out_.send(id, hello());
  out_.send(id, buffer_map());
  maybe_timer();
}

void Node::partner_left(PeerId id, TimeUs now) {
  remove_partner(id, now);
  if (started_) manage_partners(now);
  maybe_timer();
}

void Node::on_bytes(PeerId from, std::span<const uint8_t> bytes, TimeUs now) {
  auto m = decode(bytes);
  if (!m) {
    if (partners_.find(from)) disconnect(from, DisconnectReason::kProtocol, now);
    maybe_timer();
    return;
  }
  on_message(from, *m, now);
}

void Node::on_message(PeerId from, const Message& m, TimeUs now) {
  now_ = now;
  if (!partners_.find(from)) {
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
  Partner* p = partners_.find(from);
  if (m.stream_id != cfg_.stream_id || m.substreams != cfg_.substreams) {
    disconnect(from, DisconnectReason::kProtocol, now);
    return;
  }
  p->hello = true;
  p->is_source = m.is_source;
  if (m.is_source) partners_.learn_source(from);
  p->upload_kbps = m.upload_kbps;
}

void Node::handle(PeerId from, const BufferMap& m, TimeUs now) {
  Partner* p = partners_.find(from);
  if (m.substreams != cfg_.substreams) {
    disconnect(from, DisconnectReason::kProtocol, now);
    return;
  }
  p->bm = m;
  p->has_bm = true;
  p->bm_at = now;
  p->not_have_from = 0xFFFFFFFFu;
  if (cfg_.is_source) return;  // the source pulls nothing and has no parents
  if (!playout_.playing() && !pulls_.startup_pending()) pulls_.schedule(now, trees_, playout_);
  if (trees_.wants_parent()) trees_.manage(now);
}

void Node::handle(PeerId from, const Request& m, TimeUs now) {
  Reject not_have, busy;
  not_have.kind = busy.kind = RejectKind::kRequest;
  not_have.reason = RejectReason::kNotHave;
  busy.reason = RejectReason::kBusy;
  not_have.base = busy.base = m.base;
  for (uint32_t i = 0; i < 32; ++i) {  // a Request names up to 32 units from its base
    if (!((m.mask >> i) & 1u)) continue;
    const uint32_t n = m.base + i;
    if (n < m.base) break;  // wrapped
    const auto* s = window_.slot_for(n);
    if (!s || s->state != SegmentWindow::kHave || s->number != n) {
      not_have.mask |= 1u << i;
      continue;
    }
    const Segment& seg = window_.seg_of(*s);
    if (!bucket_.can_spend(double(seg.header.size), now) ||
        (cfg_.is_source &&
         stats_.media_bytes_sent + seg.header.size > cfg_.source_copies * stats_.published_bytes)) {
      // The source never sends more than source_copies times what it published, pushes
      // included (the rate budget alone let a pull through when segments ran larger than
      // the nominal rate). Pulls may use the share of a sub-stream with fewer subscribers.
      busy.mask |= 1u << i;
    } else {
      bucket_.spend(double(seg.header.size), now);
      ++stats_.segments_served;
      out_.send(from, SegmentMsg{seg}, kBulkPriority);
    }
  }
  if (not_have.mask) out_.send(from, not_have);
  if (busy.mask) out_.send(from, busy);
}

void Node::handle(PeerId from, const Subscribe& m, TimeUs now) {
  trees_.on_subscribe(*partners_.find(from), m, now);
}

void Node::handle(PeerId from, const SubscribeAck& m, TimeUs now) {
  trees_.on_ack(*partners_.find(from), m, now);
}

void Node::handle(PeerId from, const Unsubscribe& m, TimeUs now) {
  (void)now;
  trees_.on_unsubscribe(*partners_.find(from), m);
}

void Node::handle(PeerId from, const Reject& m, TimeUs now) {
  if (m.redirect_count > 0)
    add_candidates(std::span<const PeerId>(m.redirect.data(), m.redirect_count), now);
  Partner* p = partners_.find(from);  // add_candidates may have dropped it
  if (!p) return;
  switch (m.kind) {
    case RejectKind::kSubscribe: {
      const uint32_t j = m.substream;
      if (j >= cfg_.substreams) return;
      trees_.on_refused(*p, j, m.reason, now);
      if (!cfg_.is_source) trees_.manage(now);
      break;
    }
    case RejectKind::kRequest:
      pulls_.on_refused(*p, m, now, playout_.playing());
      if (!cfg_.is_source) pulls_.schedule(now, trees_, playout_);
      break;
    case RejectKind::kPartner:
      break;
  }
}

PeerId Node::cut_through_child(const SegmentHeader& h, PeerId from) const {
  if (cfg_.is_source || h.stream_id != cfg_.stream_id || !partners_.find(from) ||
      window_.has(h.number) || too_old(h.number))
    return kNoPeer;
  return trees_.first_child(window_.substream(h.number), from);
}

void Node::handle(PeerId from, const SegmentMsg& m, TimeUs now) {
  Partner* p = partners_.find(from);
  const SegmentHeader& h = m.segment.header;
  if (h.stream_id != cfg_.stream_id) {
    disconnect(from, DisconnectReason::kProtocol, now);
    return;
  }
  stats_.media_bytes_received += h.size;
  if (cfg_.is_source) {  // it has every segment already
    stats_.duplicate_bytes_received += h.size;
    return;
  }
  const uint32_t n = h.number;
  const uint32_t j = window_.substream(n);
  const bool from_parent = trees_.on_unit(j, from, now);
  if (too_old(n) || window_.has(n)) {
    stats_.duplicate_bytes_received += h.size;
    pulls_.on_unneeded(*p, n);
    return;
  }
  // Verify before anything else: a forged segment is never stored, played or relayed.
  if (!cfg_.verifier || !cfg_.verifier->verify(m.segment)) {
    ++stats_.forged_rejected;
    out_.emit(OutputKind::kReport, from);
    partners_.ban(from);
    disconnect(from, DisconnectReason::kForged, now);
    manage_partners(now);
    return;
  }
  if (from_parent) trees_.on_parent_unit(j, now - h.created_us, *p);
  p->pull_strikes = 0;
  p->startup_asked = 0;
  p->last_useful = now;
  Segment seg = m.segment;
  const auto& s = window_.store(std::move(seg), now, [&](PeerId id) { pulls_.ended(id); });
  trees_.forward(window_.seg_of(s), j, from, now);
  if (!playout_.playing()) {
    // The playout clock starts with the first whole segment (all K stripes in).
    const uint32_t first = n - j;
    if (!window_.complete(first)) return;
    playout_.begin(first, h.created_us, now);
  }
  playout_.advance(now, window_, trees_, partners_);
}

void Node::handle(PeerId from, const Bye& m, TimeUs now) {
  (void)m;
  remove_partner(from, now);
  manage_partners(now);
}

void Node::publish_segment(Segment seg, TimeUs now) {
  if (!cfg_.is_source) return;
  now_ = now;
  ++stats_.published;
  stats_.published_bytes += seg.header.size;
  const uint32_t n = seg.header.number;
  if (window_.any() && n <= window_.highest() && window_.has(n)) return;
  const auto& s = window_.store(std::move(seg), now, [&](PeerId id) { pulls_.ended(id); });
  trees_.forward(window_.seg_of(s), window_.substream(n), kNoPeer, now);
  maybe_timer();
}

void Node::on_timer(TimeUs now) {
  now_ = now;
  timer_at_ = -1;
  if (now >= next_tick_) {
    tick(now);
    while (next_tick_ <= now) next_tick_ += cfg_.tick_us;
  }
  playout_.advance(now, window_, trees_, partners_);
  maybe_timer();
}

void Node::tick(TimeUs now) {
  partners_.expire_connecting(now);
  if (cfg_.is_source) {
    tick_source(now);
    return;
  }
  pulls_.expire(now, playout_.playing(), playout_.next_play());
  manage_partners(now);
  trees_.upkeep(now);
  pulls_.schedule(now, trees_, playout_);
  playout_.advance(now, window_, trees_, partners_);
  send_buffer_maps(now, false);
}

void Node::tick_source(TimeUs now) {
  // The source keeps only its subscribers; others are sent on to them. Not while a child
  // forwards to nobody: its slot is about to go to one of those others.
  const bool slot_coming = trees_.slot_coming();
  const uint16_t replaceable = trees_.replaceable(now);
  for (size_t i = 0; i < partners_.size(); ++i) {
    Partner& q = partners_[i];
    if (q.child_mask == 0 && !slot_coming &&
        now - q.connected_at > 3 * cfg_.tick_us + cfg_.source_partner_grace_us) {
      Reject r;
      r.kind = RejectKind::kPartner;
      r.reason = RejectReason::kFull;
      for (auto& c : partners_)
        if (c.child_mask && r.redirect_count < kMaxRedirects) r.redirect[r.redirect_count++] = c.id;
      out_.send(q.id, r);
      disconnect(q.id, DisconnectReason::kFull, now);
      break;
    }
  }
  // A slot that became free for a newcomer is told at once, not at the next map.
  send_buffer_maps(now, replaceable != replaceable_shown_ && replaceable != 0);
  replaceable_shown_ = replaceable;
}

void Node::send_buffer_maps(TimeUs now, bool force_all) {
  // One node-wide period (a new partner gets a map on connect): cheaper than per-partner
  // timers and the same bytes.
  if (!force_all && now < next_bm_at_) return;
  next_bm_at_ = now + cfg_.bm_interval_us;
  if (partners_.empty()) return;
  const BufferMap bm = buffer_map();
  for (auto& p : partners_) out_.send(p.id, bm);
}

void Node::set_upload_budget(uint64_t bps, TimeUs now) {
  if (cfg_.is_source || bps == cfg_.upload_bps) return;
  now_ = std::max(now_, now);
  cfg_.upload_bps = bps;
  bucket_.set_rate(double(bps / 8), double(bps / 8) * cfg_.upload_burst_s, now);
  trees_.shed();
  // Partners rank parents (and preempt children) by declared upload: tell them.
  const uint64_t told = announced_upload_bps_;
  const uint64_t pct = std::min<uint64_t>(cfg_.reannounce_percent, 100);
  if (told == 0 || bps * 100 < told * (100 - pct) || bps * 100 > told * (100 + pct)) {
    announced_upload_bps_ = bps;
    for (auto& q : partners_) out_.send(q.id, hello());
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

}  // namespace meshcast::mesh
