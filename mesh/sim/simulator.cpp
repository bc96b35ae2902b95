#include "mesh/sim/simulator.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "mesh/core/node.hpp"
#include "mesh/core/stripes.hpp"

namespace meshcast::mesh::sim {

namespace {

constexpr uint64_t kStreamId = 0x6d657368ull;  // "mesh"
// Prefetch distances (events ahead of the one being handled): the peer id's entry, the peer
// and message, then the node object, then the node's window slot for the segment delivered.
constexpr size_t kFetchId = 16, kFetchPeer = 8, kFetchNode = 4, kFetchSlot = 2;
constexpr TimeUs kProgressUs = 10'000'000;

}  // namespace

Simulator::Simulator(const SimConfig& c)
    : cfg_(c),
      rng_(c.seed),
      mac_(c.seed * 7919 + 17),
      net_(cfg_),
      churn_(cfg_, rng_),
      tracker_(cfg_, rng_, peers_, ids_) {
  cfg_.node.substreams = std::clamp<uint32_t>(cfg_.node.substreams, 1, kMaxSubstreams);
  seg_us_ = TimeUs(cfg_.segment_ms) * 1000;
  seg_bytes_ = uint32_t(cfg_.bitrate_kbps * 1000 / 8 * cfg_.segment_ms / 1000);
  end_ = TimeUs(cfg_.duration_s * 1e6);
  warmup_ = TimeUs((cfg_.join_start_s + cfg_.join_spread_s + 10) * 1e6);
  // Windows: every event one partition posts to another is at least one minimum link
  // latency ahead, so partitions may run that far alone (conservative parallel DES).
  const TimeUs lookahead = TimeUs(cfg_.rtt_min_ms) * 500;
  parts_n_ = std::clamp<uint32_t>(cfg_.partitions, 1, 64);
  if (lookahead <= 0) parts_n_ = 1;
  const TimeUs tracker_rtt = tracker_.round_trip();
  window_ = parts_n_ > 1 ? std::min(lookahead, tracker_rtt) : tracker_rtt;
  const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  threads_ = std::min(parts_n_, cfg_.threads ? cfg_.threads : cores);
  if (cfg_.trace_peer != kNoPeer) threads_ = 1;  // one peer's lines in time order
}

// An event without a message, from a handler running in partition w.
void Simulator::post(Partition& w, TimeUs t, EvType type, uint32_t a, uint32_t b, uint32_t flag) {
  if (is_global(type)) {
    const Event e{t, 0, a, b, flag, uint8_t(type)};
    if (serial_)
      global_.push(e);
    else
      w.to_global.push_back(e);
    return;
  }
  const uint32_t target = part_index(a);
  if (serial_ || target == w.index)
    parts_[target].push(t, type, a, b, flag);
  else
    w.mail[parity_][target].push_back(Mail{t, a, b, flag, type, 0, Message{}});
}

// Message m from peer `from` reaches peer `to` at t (first piece at `head`).
void Simulator::post_message(Partition& w, TimeUs t, PeerId to, PeerId from, Message&& m,
                             TimeUs head) {
  const uint32_t target = part_index(to);
  if (serial_ || target == w.index) {
    Partition& tp = parts_[target];
    tp.push(t, EvType::kDeliver, to, from, tp.store_msg(std::move(m), head));
  } else {
    w.mail[parity_][target].push_back(Mail{t, to, from, 0, EvType::kDeliver, head, std::move(m)});
  }
}

// Queue what other partitions posted to w in the previous window.
void Simulator::take_mail(Partition& w, uint32_t parity) {
  for (Partition& s : parts_) {
    auto& box = s.mail[parity][w.index];
    for (Mail& x : box) {
      const uint32_t mi =
          x.type == EvType::kDeliver ? w.store_msg(std::move(x.msg), x.head) : x.flag;
      w.push(x.t, x.type, x.a, x.b, mi);
    }
    box.clear();
  }
}

// The source in slot 0 at the centre.
void Simulator::start_source() {
  SimPeer& s = peers_[0];
  s.id = 0;
  s.source = true;
  ids_.push_back(IdInfo{0, 0.5f, 0.5f, true, false});
  s.upload_bps = uint64_t(cfg_.source_upload_x * double(cfg_.bitrate_kbps) * 1000.0);
  NodeConfig nc = cfg_.node;
  nc.self = 0;
  nc.is_source = true;
  nc.stream_id = kStreamId;
  nc.stream_bps = cfg_.bitrate_kbps * 1000;
  nc.segment_us = seg_us_;
  nc.upload_bps = s.upload_bps;
  nc.source_copies = cfg_.source_copies;
  nc.max_partners = cfg_.source_copies * nc.substreams + 8;
  nc.verifier = &mac_;
  nc.seed = cfg_.seed;
  s.node = std::make_unique<Node>(nc);
  s.node->use_outbox(&parts_[0].outbox);
  s.node->start(0);
  drain(parts_[0], s, 0);
}

void Simulator::spawn_viewer(uint32_t slot, TimeUs now, JoinKind kind) {
  SimPeer& p = peers_[slot];
  Partition& w = part_of_slot(slot);
  p = SimPeer();
  p.id = PeerId(ids_.size());
  const ChurnModel::Viewer v = churn_.draw_viewer(kind);
  ids_.push_back(IdInfo{slot, v.x, v.y, true, kind == JoinKind::kForger, kind == JoinKind::kSybil});
  p.upload_bps = v.upload_bps;
  p.joined = now;
  NodeConfig nc = cfg_.node;
  nc.self = p.id;
  nc.is_source = false;
  nc.stream_id = kStreamId;
  nc.stream_bps = cfg_.bitrate_kbps * 1000;
  nc.segment_us = seg_us_;
  nc.upload_bps = p.upload_bps;
  nc.source_copies = cfg_.source_copies;
  nc.verifier = &mac_;
  nc.seed = cfg_.seed ^ (uint64_t(p.id) << 20);
  p.node = std::make_unique<Node>(nc);
  p.node->use_outbox(&w.outbox);
  tracker_.joined(slot, p.id);
  ++r_.viewers_joined;
  p.node->start(now);
  drain(w, p, now);
  if (const TimeUs life = churn_.lifetime(kind); life >= 0 && now + life < end_)
    push_global(now + life, EvType::kLeave, p.id);
}

void Simulator::collect(const SimPeer& p, Metrics& m, TimeUs now) {
  m.collect(p, ids_[p.id].sybil, warmup_, now);
}

void Simulator::leave(uint32_t slot, TimeUs now) {
  SimPeer& p = peers_[slot];
  Partition& w = part_of_slot(slot);
  collect(p, w.m, now);
  ++r_.departures;
  for (PeerId q : p.node->partner_ids()) {
    if (alive_info(q)) post(w, now + TimeUs(cfg_.detect_s * 1e6), EvType::kPartnerLeft, q, p.id);
  }
  tracker_.left(slot);
  ids_[p.id].alive = false;
  p.node.reset();
  spawn_viewer(slot, now, JoinKind::kHonest);  // keep N constant
}

void Simulator::drain(Partition& w, SimPeer& p, TimeUs now) {
  auto& out = p.node->outbox();
  const IdInfo& self = ids_[p.id];  // ids_ does not grow while a node's outputs are drained
  for (const Output& o : out)       // the receivers are cold: fetch them all before the loop
    if (o.peer < ids_.size()) __builtin_prefetch(&ids_[o.peer]);
  for (size_t i = 0; i < out.size(); ++i) {
    Output& o = out[i];
    if (p.id == cfg_.trace_peer)
      std::fprintf(stderr, "%.3f out kind %d peer %u msg %zu n %u\n", double(now) / 1e6,
                   int(o.kind), o.peer, o.msg.index(), o.number);
    switch (o.kind) {
      case OutputKind::kSend: {
        const bool media = is_media(o.msg);
        if (media && self.sybil) break;  // as a sybil MeshPeer: nothing leaves
        const NetworkModel::Delivery d =
            net_.send(p, self, alive_info(o.peer), o.msg, o.priority, now, w.loss, w.m);
        if (!d.delivered) break;
        if (media && self.forger) std::get<SegmentMsg>(o.msg).segment.signature[3] ^= 0x5A;
        post_message(w, d.at, o.peer, p.id, std::move(o.msg), d.head);
        break;
      }
      case OutputKind::kConnect: {
        // Link set-up takes 3 one-way latencies (ICE + DTLS): the target decides after 2,
        // the initiator learns the answer one later.
        if (const IdInfo* dst = alive_info(o.peer))
          post(w, now + 2 * net_.latency(self, *dst), EvType::kConnected, o.peer, p.id);
        else
          post(w, now + 3 * net_.max_latency(), EvType::kConnectResult, p.id, o.peer);
        break;
      }
      case OutputKind::kDisconnect: {
        const IdInfo* dst = alive_info(o.peer);
        if (dst) post(w, now + net_.latency(self, *dst), EvType::kPartnerLeft, o.peer, p.id);
        if (dst && dst->forger && o.reason == DisconnectReason::kForged)
          ++w.m.r.forger_links_dropped;
        break;
      }
      case OutputKind::kSetTimer:
        p.timer_at = o.at;
        w.push(o.at, EvType::kTimer, p.id);
        break;
      case OutputKind::kPlay: {
        const auto& seg = std::get<SegmentMsg>(o.msg).segment;
        if (!mac_.verify(seg)) ++w.m.r.forged_played;
        w.m.record_play(o.at - seg.header.created_us, o.at >= warmup_, seg.header.hops);
        break;
      }
      case OutputKind::kMissed:
        break;
      case OutputKind::kReport: {
        const IdInfo* bad = alive_info(o.peer);
        if (bad && bad->forger)
          ++w.m.r.forger_reports;
        else if (bad)
          ++w.m.r.honest_reported;
        break;
      }
      case OutputKind::kNeedNeighbours:
        post(w, now + tracker_.round_trip(), EvType::kCandidates, p.id);
        break;
    }
  }
  out.clear();
}

void Simulator::deliver(Partition& w, const Event& e) {
  SimPeer* dst = alive_peer(e.a);
  if (dst) {
    Message& m = w.msgs[e.msg];
    if (auto* s = std::get_if<SegmentMsg>(&m);
        s && cfg_.forgers > 0 && ids_[e.b].forger && !mac_.verify(s->segment) && !ids_[e.a].forger)
      ++w.m.r.forged_sent;
    if (auto* s = std::get_if<SegmentMsg>(&m);
        s && !dst->source && !dst->node->has_segment(s->segment.header.number)) {
      const uint32_t n = s->segment.header.number;
      if (cfg_.cut_through) {
        dst->arr[n % 64].num = n + 1;
        dst->arr[n % 64].head_at = w.msg_head[e.msg];
        dst->arr[n % 64].done_at = e.t;
      }
      w.m.record_arrival(e.t - s->segment.header.created_us,
                         dst->node->parent(n % cfg_.node.substreams) == e.b);
    }
    if (dst->id == cfg_.trace_peer)
      std::fprintf(stderr, "%.3f in from %u msg %zu n %u\n", double(e.t) / 1e6, e.b, m.index(),
                   is_media(m) ? std::get<SegmentMsg>(m).segment.header.number
                   : std::holds_alternative<Request>(m) ? std::get<Request>(m).base
                                                        : 0u);
    dst->node->on_message(e.b, m, e.t);
    // The tracker learns that a viewer holds data (real viewers report it then) once the
    // window ends.
    if (!dst->source && !dst->data_reported && dst->node->holds_data()) {
      dst->data_reported = true;
      w.now_with_data.push_back(dst->id);
    }
    drain(w, *dst, e.t);
  }
  w.free_msg(e.msg);
}

void Simulator::publish(Partition& w, const Event& e) {
  SimPeer& src = peers_[0];  // slot 0: partition 0
  Segment seg;
  seg.header.stream_id = kStreamId;
  seg.header.number = next_number_++;
  seg.header.created_us = e.t;
  seg.header.size = seg_bytes_;
  for (Segment& stripe : split_stripes(seg, cfg_.node.substreams)) {
    mac_.sign(stripe);
    src.node->publish_segment(std::move(stripe), e.t);
  }
  ++w.m.r.segments_published;
  for (uint32_t j = 0; j < cfg_.node.substreams; ++j)
    w.m.r.source_max_subscribers =
        std::max<uint64_t>(w.m.r.source_max_subscribers, src.node->children(j));
  drain(w, src, e.t);
  if (e.t + seg_us_ <= end_) w.push(e.t + seg_us_, EvType::kPublish, 0);
}

void Simulator::handle(Partition& w, const Event& e) {
  switch (EvType(e.type)) {
    case EvType::kDeliver:
      deliver(w, e);
      break;
    case EvType::kTimer: {
      SimPeer* p = alive_peer(e.a);
      if (p && p->timer_at == e.t) {
        p->timer_at = -1;
        p->node->on_timer(e.t);
        drain(w, *p, e.t);
      }
      break;
    }
    case EvType::kPublish:
      publish(w, e);
      break;
    case EvType::kConnected: {  // at the target a; b initiated
      const IdInfo* initiator = alive_info(e.b);
      SimPeer* target = alive_peer(e.a);
      if (!initiator) break;  // gone: nobody to answer
      const TimeUs back = e.t + net_.latency(ids_[e.a], *initiator);
      if (!target) {
        post(w, back, EvType::kConnectResult, e.b, e.a, 0);
        break;
      }
      target->node->partner_connected(e.b, e.t);
      const bool accepted = target->node->is_partner(e.b);
      // Posted before the target's first messages to the initiator (same arrival time,
      // earlier in order), so that they find the link up.
      post(w, back, EvType::kConnectResult, e.b, e.a, accepted ? 1 : 0);
      drain(w, *target, e.t);
      break;
    }
    case EvType::kConnectResult: {  // at the initiator a; target b answered
      SimPeer* a = alive_peer(e.a);
      const IdInfo* target = alive_info(e.b);
      if (!a) {  // left meanwhile: an accepting target must learn it
        if (e.msg && target)
          post(w, e.t + net_.latency(ids_[e.a], *target), EvType::kPartnerLeft, e.b, e.a);
        break;
      }
      if (!e.msg || !target) {
        a->node->partner_left(e.b, e.t);
        drain(w, *a, e.t);
        break;
      }
      a->node->partner_connected(e.b, e.t);
      const bool refused = !a->node->is_partner(e.b);
      drain(w, *a, e.t);
      if (refused) post(w, e.t + net_.latency(ids_[e.a], *target), EvType::kPartnerLeft, e.b, e.a);
      break;
    }
    case EvType::kPartnerLeft: {
      SimPeer* p = alive_peer(e.a);
      if (p) {
        p->node->partner_left(e.b, e.t);
        drain(w, *p, e.t);
      }
      break;
    }
    default:
      break;  // global events never reach a partition
  }
}

void Simulator::handle_global(const Event& e) {
  switch (EvType(e.type)) {
    case EvType::kJoin:
      spawn_viewer(e.a, e.t, JoinKind(e.b));
      break;
    case EvType::kLeave:
      if (alive_peer(e.a)) leave(slot_of(e.a), e.t);
      break;
    case EvType::kCandidates:
      if (SimPeer* p = alive_peer(e.a)) {
        p->node->add_candidates(tracker_.candidates(p->id), e.t);
        drain(part_of_slot(slot_of(e.a)), *p, e.t);
      }
      break;
    case EvType::kProgress:
      print_progress(e.t);
      if (e.t + kProgressUs <= end_) push_global(e.t + kProgressUs, EvType::kProgress, 0);
      break;
    default:
      break;
  }
}

void Simulator::print_progress(TimeUs now) const {
  size_t queued = global_.size(), msgs = 0;
  uint64_t events = r_.events;
  for (const Partition& w : parts_) {
    queued += w.q.size();
    msgs += w.msgs.size();
    events += w.m.r.events;
  }
  std::fprintf(stderr, "sim: t=%.0fs events=%llu queue=%zu msgs=%zu\n", double(now) / 1e6,
               (unsigned long long)events, queued, msgs);
}

void Simulator::run_window(Partition& w, TimeUs until, uint32_t parity) {
  take_mail(w, parity ^ 1u);
  EventQueue& q = w.q;
  while (!q.empty()) {
    const Event e = q.top();
    if (e.t >= until) break;
    q.pop();
    ++w.m.r.events;
    if (!q.empty()) {
      // The next events' peers, nodes and messages are cold (random among 100k peers): fetch
      // them ahead in stages, each stage reading what the previous one fetched.
      q.top();
      if (const Event* id = q.peek(kFetchId); id && id->a < ids_.size())
        __builtin_prefetch(&ids_[id->a]);
      if (const Event* far = q.peek(kFetchPeer)) {
        if (const uint32_t sl = slot_of(far->a); sl != kNoSlot) __builtin_prefetch(&peers_[sl]);
        if (EvType(far->type) == EvType::kDeliver) __builtin_prefetch(&w.msgs[far->msg]);
      }
      if (const Event* mid = q.peek(kFetchNode))
        if (const uint32_t sl = slot_of(mid->a); sl != kNoSlot && peers_[sl].node)
          peers_[sl].node->prefetch();
      if (const Event* near = q.peek(kFetchSlot); near && EvType(near->type) == EvType::kDeliver)
        if (const uint32_t sl = slot_of(near->a); sl != kNoSlot && peers_[sl].node) {
          if (const auto* s = std::get_if<SegmentMsg>(&w.msgs[near->msg]))
            peers_[sl].node->prefetch_segment(s->segment.header.number);
        }
    }
    handle(w, e);
  }
}

// Between windows: what partitions posted for the tracker and the global queue.
void Simulator::end_window() {
  for (Partition& w : parts_) {
    for (const Event& e : w.to_global) global_.push(e);
    w.to_global.clear();
    for (PeerId id : w.now_with_data)
      if (alive_info(id)) tracker_.holds_data(ids_[id].slot, id);
    w.now_with_data.clear();
  }
  parity_ ^= 1u;
}

// Per depth, viewers by upload class (below the stream rate, below 3x, faster) and their
// mean children.
void Simulator::print_tree_shape() const {
  uint64_t cnt[20][3] = {}, kids[20][3] = {};
  for (auto& p : peers_) {
    if (!p.node || p.source) continue;
    const int cls = p.upload_bps < cfg_.bitrate_kbps * 1000       ? 0
                    : p.upload_bps < 3 * cfg_.bitrate_kbps * 1000 ? 1
                                                                  : 2;
    for (uint32_t j = 0; j < cfg_.node.substreams; ++j) {
      const int d = std::min<int>(19, p.node->depth(j));
      cnt[d][cls]++;
      kids[d][cls] += p.node->children(j);
    }
  }
  auto mean = [&](int d, int c) { return cnt[d][c] ? double(kids[d][c]) / double(cnt[d][c]) : 0; };
  for (int d = 0; d < 20; ++d)
    std::fprintf(stderr, "depth %2d: slow %6llu (%.2f kids) mid %6llu (%.2f) fast %6llu (%.2f)\n",
                 d, (unsigned long long)cnt[d][0], mean(d, 0), (unsigned long long)cnt[d][1],
                 mean(d, 1), (unsigned long long)cnt[d][2], mean(d, 2));
}

SimResult Simulator::run() {
  const uint32_t total_slots = cfg_.peers + 1;
  peers_.resize(total_slots);
  tracker_.reset(total_slots);
  parts_ = std::vector<Partition>(parts_n_);
  for (uint32_t i = 0; i < parts_n_; ++i) {
    Partition& w = parts_[i];
    w.index = i;
    w.loss = LinkLoss(cfg_.seed * 0x5851F42D4C957F2Dull + 0x14057B7EF767814Full + i, cfg_.loss);
    for (auto& by_target : w.mail) by_target.resize(parts_n_);
  }
  start_source();
  for (const ChurnModel::Join& j : churn_.initial_joins())
    push_global(j.at, EvType::kJoin, j.slot, uint32_t(j.kind));
  parts_[0].push(seg_us_, EvType::kPublish, 0);
  if (cfg_.progress) push_global(kProgressUs, EvType::kProgress, 0);
  {
    PartitionRunner runner(parts_n_, threads_,
                           [this](uint32_t i) { run_window(parts_[i], until_, parity_); });
    // Windows up to the next global event and at most one lookahead long; global events run
    // alone between windows, at their exact time (before partition events of that time).
    for (TimeUs now = 0;;) {
      while (!global_.empty() && global_.top().t <= now && global_.top().t <= end_) {
        const Event e = global_.pop();
        ++r_.events;
        handle_global(e);
      }
      if (now > end_) break;
      TimeUs until = std::min(end_ + 1, now + window_);
      if (!global_.empty()) until = std::min(until, global_.top().t);
      serial_ = false;
      until_ = until;
      runner.run();
      serial_ = true;
      end_window();
      now = until;
    }
  }
  if (cfg_.tree_shape) print_tree_shape();
  return finish();
}

// The metrics of every peer still in the swarm, summed with those of departed ones.
SimResult Simulator::finish() {
  for (uint32_t i = 0; i < peers_.size(); ++i)
    if (peers_[i].node) collect(peers_[i], part_of_slot(i).m, end_);
  Metrics& m = parts_[0].m;
  for (uint32_t i = 1; i < parts_n_; ++i) m.add(parts_[i].m);
  const uint64_t joined = r_.viewers_joined, departures = r_.departures;
  const uint64_t events = r_.events + m.r.events;
  r_ = m.r;
  r_.viewers_joined = joined;
  r_.departures = departures;
  r_.events = events;
  const NodeStats& ss = peers_[0].node->stats();
  r_.source_idle_children_replaced = ss.idle_children_replaced;
  r_.source_silent_children_replaced = ss.silent_children_replaced;
  r_.source_upload_copies =
      ss.published_bytes ? double(ss.media_bytes_sent) / double(ss.published_bytes) : 0;
  m.fill(r_);
  r_.warmup_s = double(warmup_) / 1e6;
  return r_;
}

SimResult run_simulation(const SimConfig& cfg) {
  Simulator s(cfg);
  SimResult r = s.run();
  r.partitions = s.partitions();
  r.threads = s.threads();
  return r;
}

}  // namespace meshcast::mesh::sim
