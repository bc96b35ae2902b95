#include "mesh/node/mesh_peer.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include "mesh/core/codec.hpp"
#include "mesh/core/fragmenter.hpp"
#include "mesh/core/stripes.hpp"

namespace meshcast::node {

using mesh::Output;
using mesh::OutputKind;
using mesh::PeerId;

namespace {
// Control messages larger than this travel fragmented over RTP like segments.
constexpr size_t kMaxControlInRtcp = kMaxWirePacket - 32;
// Chunk repair: how the receiver asks is NackTracker's, what the sender keeps ResendHistory's.
constexpr guint kNackTickMs = 20;
// The uplink is sampled at the links' keepalive period: each sample sees a fresh RTT.
constexpr guint kEstimateIntervalMs = 500;
// Pacing at the uplink estimate: a packet queued here for a second is late for live
// playout (the queue of an uplink slower than asked would only grow).
constexpr int64_t kEstimatedPaceMaxAgeUs = 1'000'000;
// A probe train is measured at most this many times (a partner each) before the estimate
// starts from its guess instead.
constexpr size_t kMaxProbeTries = 3;
// ... and no longer than this after the first train: a peer with one partner that does not
// answer (an older version ignores the probe) must not stay at one stripe's slot.
constexpr int64_t kProbeGiveUpUs = 5'000'000;
// SRTCP adds its index and authentication tag to every probe packet on the wire.
constexpr size_t kSrtcpOverheadBytes = 17;  // index and tag: 14 (AES-CM) or 20 (GCM)
// Marks of partners' trains answered per link and window: a train has a few; more is a
// partner making us send for nothing.
constexpr uint32_t kMaxProbeRepliesPerWindow = 16;
constexpr int64_t kProbeReplyWindowUs = 10'000'000;
constexpr size_t kMaxProbeTrainPackets = 256;
// A chunk is named by its message id and index (the chunk header's first bytes).
constexpr size_t kChunkIdBytes = 6;

// A one-shot timeout on ctx that the owner keeps (and unrefs) until it fired or was dropped.
GSource* add_timeout(GMainContext* ctx, int64_t ms, GSourceFunc fn, gpointer data) {
  GSource* s = g_timeout_source_new(guint(std::clamp<int64_t>(ms, 0, 60'000)));
  g_source_set_callback(s, fn, data, nullptr);
  g_source_attach(s, ctx);
  return s;
}

// A link's bytes by its route (a link that never selected a pair carried no media).
void add_route_bytes(const Link& l, RouteBytes& b) {
  const auto route = l.route();
  if (!route.selected) return;
  const auto st = l.stats();
  (route.relayed() ? b.relayed_sent : b.direct_sent) += st.wire_bytes_sent;
  (route.relayed() ? b.relayed_received : b.direct_received) += st.wire_bytes_received;
}

void drop_timeout(GSource*& s) {
  if (!s) return;
  g_source_destroy(s);
  g_source_unref(s);
  s = nullptr;
}
}  // namespace

MeshPeer::MeshPeer(GMainContext* ctx, MeshPeerConfig config, PeerSignaling& signaling,
                   std::shared_ptr<link::Certificate> cert)
    : ctx_(ctx ? ctx : g_main_context_default()),
      cfg_(std::move(config)),
      sig_(signaling),
      cert_(std::move(cert)),
      ids_(kMaxNames),
      core_([&] {
        cfg_.core.self = *ids_.id_for(cfg_.self_id);
        // Local ids are alike in every process: the name keeps peers' random choices apart.
        cfg_.core.seed ^= uint64_t(PeerIds::wire_hash(cfg_.self_id)) << 17;
        return cfg_.core;
      }()) {
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&ssrc_), sizeof ssrc_) != 1) ssrc_ = 0x4d455348;
  ids_.set_in_use([this](PeerId pid) {
    if (pid == cfg_.core.self || links_.count(pid) || core_.is_partner(pid)) return true;
    auto& c = core_.candidate_ids();
    return std::find(c.begin(), c.end(), pid) != c.end();
  });
  if (cfg_.estimate_upload && !cfg_.core.is_source) {
    UplinkEstimator::Config ec;
    ec.max_bps = cfg_.core.upload_bps;
    // A leaf still answers pulls and NACKs: one stripe's rate at least.
    ec.min_bps = cfg_.core.stream_bps / std::max<uint32_t>(cfg_.core.substreams, 1);
    // Slow start from one stream copy and a half, not from the declared budget: see
    // UplinkEstimator::Config::start_bps.
    ec.start_bps = cfg_.core.stream_bps * 3 / 2;
    // ... and from a measured uplink when a probe train gets through: one stripe's slot
    // until then (a second or so after the first link).
    ec.await_capacity = true;
    estimator_.emplace(ec);
    probe_done_ = false;
  }
  pacer_ = estimator_ ? UploadPacer(pace_rate(), UploadPacer::kDefaultBurstBytes,
                                    UploadPacer::kDefaultMaxBulkBytes,
                                    UploadPacer::kDefaultMaxQueuedBytes, kEstimatedPaceMaxAgeUs)
                      : UploadPacer(cfg_.pace_bps);
  if (estimator_) core_.set_upload_budget(estimator_->budget_bps(), 0);
  if (cfg_.attack.any()) attack_ = std::make_unique<AttackHooks>(cfg_.attack);
}

MeshPeer::~MeshPeer() {
  stopped_ = true;
  drop_timeout(timer_);
  if (retire_source_) g_source_remove(retire_source_);
  if (nack_timer_) g_source_remove(nack_timer_);
  drop_timeout(pace_timer_);
  drop_timeout(estimate_timer_);
  links_.clear();
  retired_.clear();
}

void MeshPeer::start() {
  if (started_) return;
  started_ = true;
  core_.start(cfg_.clock());
  drain();
  if (estimator_) {
    estimate_timer_ = g_timeout_source_new(kEstimateIntervalMs);
    g_source_set_callback(estimate_timer_, &MeshPeer::on_estimate_timer, this, nullptr);
    g_source_attach(estimate_timer_, ctx_);
  }
}

gboolean MeshPeer::on_estimate_timer(gpointer p) {
  static_cast<MeshPeer*>(p)->sample_uplink();
  return G_SOURCE_CONTINUE;
}

void MeshPeer::maybe_probe_uplink() {
  if (probe_done_ || stopped_ || !estimator_ || probe_.deadline()) return;
  for (auto& [pid, e] : links_) {
    if (!e.connected || !e.link) continue;
    if (std::find(probed_.begin(), probed_.end(), pid) != probed_.end()) continue;
    probed_.push_back(pid);
    probe_to_ = pid;
    if (probed_.size() == 1) first_probe_us_ = cfg_.monotonic_us();
    const size_t wire = probe_.config().packet_bytes - kSrtcpOverheadBytes;
    // Straight to the link, past the pacer: the train must leave back to back.
    for (const ProbePacket& p : probe_.start(++probe_train_, cfg_.monotonic_us())) {
      const auto bytes = wrap_probe(p, wire, ssrc_);
      e.link->send_rtcp(bytes.data(), bytes.size());
    }
    ++counters_.uplink_probes;
    return;
  }
}

void MeshPeer::finish_probe() {
  const auto rate = probe_.rate_bps();
  probe_ = UplinkProbe(probe_.config());  // nothing in flight
  probe_to_ = mesh::kNoPeer;
  if (rate) {
    probe_done_ = true;
    estimator_->set_capacity(*rate, cfg_.monotonic_us());
    g_debug("meshcast: %s uplink probe: %llu bit/s", cfg_.self_id.c_str(),
            (unsigned long long)*rate);
  } else if (probed_.size() >= kMaxProbeTries) {
    give_up_probe();
    return;
  }
  apply_estimate();
  maybe_probe_uplink();  // the next partner, if this one told nothing
}

void MeshPeer::give_up_probe() {
  probe_done_ = true;
  estimator_->capacity_unknown();
  apply_estimate();
}

void MeshPeer::apply_estimate() {
  pacer_.set_rate(pace_rate());
  const uint64_t budget = estimator_->budget_bps();
  if (budget == core_.upload_budget()) return;
  g_debug("meshcast: %s upload budget %llu -> %llu bit/s (queue %lld ms, sent %.0f kbit/s)",
          cfg_.self_id.c_str(), (unsigned long long)core_.upload_budget(),
          (unsigned long long)budget, (long long)(estimator_->queue_delay_us() / 1000),
          estimator_->sent_bps() / 1e3);
  core_.set_upload_budget(budget, cfg_.clock());
  drain();
}

void MeshPeer::on_probe(LinkEntry& e, const ProbePacket& p) {
  if (p.count > kMaxProbeTrainPackets) return;
  if (p.train != e.probe_train || e.probe_seen.size() != p.count) {
    e.probe_train = p.train;
    e.probe_seen.assign(p.count, false);
    e.probe_received = 0;
  }
  if (e.probe_seen[p.index]) return;  // a duplicate took no more of the uplink
  e.probe_seen[p.index] = true;
  ++e.probe_received;
  if (!p.echo || !e.link) return;
  const int64_t now = cfg_.monotonic_us();
  if (now - e.probe_window_us >= kProbeReplyWindowUs) {
    e.probe_window_us = now;
    e.probe_replies = 0;
  }
  if (++e.probe_replies > kMaxProbeRepliesPerWindow) return;
  const auto reply = wrap_probe_reply({p.train, p.index, e.probe_received, uint64_t(now)}, ssrc_);
  e.link->send_rtcp(reply.data(), reply.size());
  ++counters_.probe_replies;
}

void MeshPeer::on_probe_reply(PeerId from, const ProbeReply& r) {
  if (from != probe_to_ || !probe_.deadline()) return;
  if (probe_.on_reply(r)) finish_probe();
}

void MeshPeer::sample_uplink() {
  if (stopped_ || !estimator_) return;
  const int64_t now = cfg_.monotonic_us();
  if (const auto d = probe_.deadline(); d && now >= *d) finish_probe();
  maybe_probe_uplink();
  if (!probe_done_ && !probe_.deadline() && !probed_.empty() &&
      now - first_probe_us_ >= kProbeGiveUpUs)
    give_up_probe();
  std::vector<UplinkEstimator::LinkRtt> rtts;
  for (auto& [pid, e] : links_)
    if (e.connected && e.link) {
      const auto st = e.link->stats();
      if (st.rtt_samples != e.rtt_samples || e.rtt_sample_us == 0) {
        e.rtt_samples = st.rtt_samples;
        e.rtt_sample_us = now;
      }
      // A full modem queue drops our pings too, and the last RTT would stay low: a ping
      // still unanswered has an RTT of at least its age (pings leave every keepalive period).
      const double waiting_ms =
          double(now - e.rtt_sample_us) / 1e3 - double(cfg_.link.keepalive_interval_ms);
      rtts.push_back(
          {pid, st.rtt_last_ms < 0 ? st.rtt_last_ms : std::max(st.rtt_last_ms, waiting_ms)});
      core_.set_partner_relayed(pid, e.link->route().relayed());  // ICE may switch pairs
    }
  UplinkEstimator::Sample s;
  s.now_us = now;
  s.bytes_sent = wire_bytes_sent();
  s.chunks_sent = counters_.chunks_sent;
  s.chunks_nacked = counters_.chunks_resent;
  s.chunks_dropped_here = pacer_.counters().evicted;
  s.links = rtts;
  estimator_->update(s);
  apply_estimate();
}

uint64_t MeshPeer::pace_rate() const {
  // Above the budget by a margin: pull answers and resends fit beside the children's
  // pushes, and an estimate below the uplink can still grow (the modem's queue shows
  // when it goes beyond).
  const uint64_t r = estimator_->budget_bps() / 4 * 5;
  return cfg_.pace_bps > 0 ? std::min(r, cfg_.pace_bps) : r;
}

UploadEstimate MeshPeer::upload_estimate() const {
  UploadEstimate u;
  u.budget_bps = core_.upload_budget();
  if (!estimator_) return u;
  u.active = true;
  u.queue_delay_us = estimator_->queue_delay_us();
  u.sent_bps = estimator_->sent_bps();
  u.loss = estimator_->loss();
  u.cuts = estimator_->cuts();
  u.probed_bps = estimator_->capacity_bps();
  return u;
}

void MeshPeer::stop() {
  if (stopped_) return;
  std::vector<PeerId> ids;
  for (auto& [pid, e] : links_) {
    ids.push_back(pid);
    if (e.connected) send_message(pid, mesh::Bye{uint8_t(mesh::DisconnectReason::kLeaving)});
  }
  paced_out_.clear();
  pacer_.release_all(paced_out_);  // goodbyes (and anything queued) go before the links close
  send_released();
  // From here on, link callbacks (close() reports kClosed synchronously) are ignored.
  stopped_ = true;
  for (auto pid : ids) {
    LinkEntry* e = entry(pid);
    if (!e) continue;
    sig_.send_relay(e->id, "bye", nlohmann::json::object());
    if (e->link) e->link->close();
  }
  for (auto pid : ids) drop_link(pid, false);
}

PeerId MeshPeer::pid_for(const std::string& id) { return ids_.id_for(id).value_or(mesh::kNoPeer); }

const std::string* MeshPeer::name_of(PeerId pid) const { return ids_.name_of(pid); }

void MeshPeer::ban(PeerId pid) {
  const std::string* name = name_of(pid);
  if (!name || !banned_.insert(*name).second) return;
  banned_order_.push_back(*name);
  while (banned_order_.size() > kMaxBanned) {
    banned_.erase(banned_order_.front());
    banned_order_.pop_front();
  }
}

MeshPeer::LinkEntry* MeshPeer::entry(PeerId pid) {
  auto it = links_.find(pid);
  return it == links_.end() ? nullptr : &it->second;
}

void MeshPeer::add_neighbours(const std::vector<std::string>& ids) {
  if (stopped_) return;
  std::vector<PeerId> pids;
  for (auto& id : ids) {
    if (id == cfg_.self_id || banned_.count(id)) continue;
    if (PeerId pid = pid_for(id); pid != mesh::kNoPeer) pids.push_back(pid);
  }
  core_.add_candidates(pids, cfg_.clock());
  drain();
}

// The tracker saw the partner's tracker connection end. A dead process is by far the likelier
// cause (its kernel closes the socket at once), so the link goes now rather than after the
// link's own timeouts; checking the hint against the link first (keep a partner heard within
// a segment and 100 ms) cost killed parents' children 1-2 segments and made
// Swarm.SurvivesThirtyPercentKilledAtOnce fail 2 runs in 3 under load.
void MeshPeer::on_peer_left(const std::string& id) {
  auto pid = ids_.find(id);
  if (!pid || !entry(*pid)) return;
  drop_link(*pid, false);
  drain();
}

void MeshPeer::publish(const mesh::Segment& seg, const mesh::SegmentSigner& signer) {
  if (stopped_) return;
  for (mesh::Segment& stripe : mesh::split_stripes(seg, core_.config().substreams)) {
    signer.sign(stripe);
    core_.publish_segment(std::move(stripe), cfg_.clock());
  }
  drain();
}

void MeshPeer::set_impairment(const link::Impairment& imp) {
  impairment_ = imp;
  for (auto& [pid, e] : links_)
    if (e.link) e.link->set_receive_impairment(imp);
}

MeshPeer::LinkEntry* MeshPeer::create_link(const std::string& id, bool offerer) {
  PeerId pid = pid_for(id);
  if (pid == mesh::kNoPeer) return nullptr;
  auto l = cfg_.link_factory(ctx_, cfg_.link, cert_,
                             offerer ? link::Role::kOfferer : link::Role::kAnswerer);
  if (!l) {
    g_warning("meshcast: cannot create link to %s: %s", id.c_str(), l.error().c_str());
    ++counters_.links_failed;
    return nullptr;
  }
  auto [it, inserted] = links_.try_emplace(pid);
  LinkEntry& e = it->second;
  e.id = id;
  e.pid = pid;
  e.offerer = offerer;
  e.rtp.ssrc = ssrc_;
  e.link = std::move(*l);
  ++counters_.links_opened;
  if (impairment_.active()) e.link->set_receive_impairment(impairment_);
  e.link->set_on_state(
      [this, pid](link::LinkState st, const std::string& why) { on_link_state(pid, st, why); });
  e.link->set_on_rtp([this, pid](const uint8_t* d, size_t n) { on_link_rtp(pid, d, n); });
  e.link->set_on_rtcp([this, pid](const uint8_t* d, size_t n) { on_link_rtcp(pid, d, n); });
  e.link->set_on_local_candidate([this, pid](const std::string& cand) {
    LinkEntry* le = entry(pid);
    if (!le) return;
    if (!le->description_sent) {
      le->early_candidates.push_back(cand);
      return;
    }
    for (auto& c : le->early_candidates)
      if (c == cand) return;  // already in the description
    sig_.send_relay(le->id, "candidate", {{"candidate", cand}});
  });
  e.link->set_on_gathering_done([this, pid] {
    LinkEntry* le = entry(pid);
    if (le && le->description_sent)
      sig_.send_relay(le->id, "end-of-candidates", nlohmann::json::object());
  });
  return &e;
}

void MeshPeer::send_description(LinkEntry& e, const char* kind) {
  auto desc = e.link->local_description();
  e.early_candidates = desc.candidates;
  e.description_sent = true;
  sig_.send_relay(e.id, kind, desc.to_json());
}

void MeshPeer::on_relay(const std::string& from, const std::string& kind,
                        const nlohmann::json& payload) {
  if (stopped_ || from == cfg_.self_id) return;
  if (kind != "offer" && !ids_.find(from)) return;  // only an offer opens a conversation
  if (kind == "offer" && banned_.count(from)) {
    sig_.send_relay(from, "bye", {{"reason", "banned"}});
    return;
  }
  PeerId pid = pid_for(from);
  if (pid == mesh::kNoPeer) {
    if (kind == "offer") sig_.send_relay(from, "bye", {{"reason", "busy"}});
    return;
  }
  if (kind == "offer") {
    auto desc = link::SessionDescription::from_json(payload);
    if (!desc) {
      ++counters_.decode_errors;
      g_warning("meshcast: bad offer from %s: %s", from.c_str(), desc.error().c_str());
      return;
    }
    if (LinkEntry* e = entry(pid)) {
      // Glare: both sides offered. The lower id stays offerer; the other answers.
      if (e->offerer && cfg_.self_id < from) return;
      drop_link(pid, false);
    }
    if (links_.size() >= cfg_.core.max_partners + 4) {
      sig_.send_relay(from, "bye", {{"reason", "full"}});
      return;
    }
    // Each answered offer holds an ICE agent until it connects or times out: offers that
    // never complete may hold only a few, so honest offers still get answered.
    size_t unanswered = 0;
    for (auto& [p, l] : links_) unanswered += !l.offerer && !l.connected;
    if (unanswered >= kMaxPendingAnswers) {
      sig_.send_relay(from, "bye", {{"reason", "busy"}});
      return;
    }
    LinkEntry* e = create_link(from, false);
    if (!e) return;
    auto r = e->link->set_remote_description(*desc);
    if (r) r = e->link->start();
    if (!r) {
      g_warning("meshcast: cannot answer %s: %s", from.c_str(), r.error().c_str());
      drop_link(pid, true);
      drain();
      return;
    }
    send_description(*e, "answer");
    drain();
  } else if (kind == "answer") {
    LinkEntry* e = entry(pid);
    if (!e || !e->offerer) return;
    auto desc = link::SessionDescription::from_json(payload);
    auto r = desc ? e->link->set_remote_description(*desc)
                  : Expected<void, std::string>(unexpected(desc.error()));
    if (!r) {
      ++counters_.decode_errors;
      g_warning("meshcast: bad answer from %s: %s", from.c_str(), r.error().c_str());
      drop_link(pid, true);
      drain();
    }
  } else if (kind == "candidate") {
    LinkEntry* e = entry(pid);
    if (!e || !payload.is_object() || !payload.contains("candidate") ||
        !payload["candidate"].is_string())
      return;
    if (!e->link->add_remote_candidate(payload["candidate"].get<std::string>()))
      ++counters_.decode_errors;
  } else if (kind == "end-of-candidates") {
    if (LinkEntry* e = entry(pid)) e->link->remote_candidates_done();
  } else if (kind == "bye") {
    if (entry(pid)) {
      g_debug("meshcast: %s got bye from %s", cfg_.self_id.c_str(), from.c_str());
      drop_link(pid, false);
      drain();
    }
  }
}

void MeshPeer::on_link_state(PeerId pid, link::LinkState st, const std::string& reason) {
  LinkEntry* e = entry(pid);
  if (!e || stopped_) return;
  if (st == link::LinkState::kConnected) {
    e->connected = true;
    e->told_core = true;
    core_.partner_connected(pid, cfg_.clock());
    if (e->link) core_.set_partner_relayed(pid, e->link->route().relayed());
    drain();
    maybe_probe_uplink();
  } else if (st == link::LinkState::kFailed || st == link::LinkState::kClosed) {
    if (st == link::LinkState::kFailed) {
      ++counters_.links_failed;
      g_debug("meshcast: link to %s failed: %s", e->id.c_str(), reason.c_str());
    }
    drop_link(pid, false);
    drain();
  }
}

void MeshPeer::drop_link(PeerId pid, bool tell_peer) {
  auto it = links_.find(pid);
  if (it == links_.end()) return;
  LinkEntry& e = it->second;
  if (tell_peer) sig_.send_relay(e.id, "bye", nlohmann::json::object());
  if (e.link) {
    closed_wire_bytes_ += e.link->stats().wire_bytes_sent;
    add_route_bytes(*e.link, closed_route_bytes_);
    retire(std::move(e.link));
  }
  links_.erase(it);
  // The core also hears about links that never connected, so it stops waiting on them.
  if (!stopped_) core_.partner_left(pid, cfg_.clock());
}

void MeshPeer::retire(std::unique_ptr<Link> l) {
  // Links may be dropped from inside their own callbacks; PeerLink allows destruction
  // there, but deferring keeps our own iteration simple.
  retired_.push_back(std::move(l));
  if (!retire_source_ && !stopped_) {
    retire_source_ = g_idle_add(
        [](gpointer p) -> gboolean {
          auto* self = static_cast<MeshPeer*>(p);
          self->retire_source_ = 0;
          self->retired_.clear();
          return G_SOURCE_REMOVE;
        },
        this);
  }
}

void MeshPeer::on_link_rtp(PeerId pid, const uint8_t* data, size_t len) {
  LinkEntry* e = entry(pid);
  if (!e) return;
  auto chunk = unwrap_chunk({data, len});
  if (!chunk) {
    ++counters_.decode_errors;
    return;
  }
  using R = mesh::Reassembler::Result;
  uint32_t msg_id = chunk->size() >= 4
                        ? (uint32_t((*chunk)[0]) << 24) | (uint32_t((*chunk)[1]) << 16) |
                              (uint32_t((*chunk)[2]) << 8) | (*chunk)[3]
                        : 0;
  // Before reassembly, so every chunk is passed on before the core sees the whole segment.
  // (An attacker's segments all go through send_message, where its hooks act.)
  if (cfg_.cut_through && !attack_ && cfg_.core.verifier && !stopped_)
    cut_through(*e, msg_id, *chunk);
  R r = e->reassembler.feed(*chunk, msg_buf_);
  if (r == R::kIncomplete) {
    const uint32_t index = (uint32_t((*chunk)[4]) << 8) | (*chunk)[5];  // size checked by feed
    if (e->nacks.on_chunk(msg_id, index, cfg_.monotonic_us())) arm_nack_timer();
  } else {
    e->nacks.forget(msg_id);
    if (r != R::kDuplicate) e->cut.erase(msg_id);  // the message is done with
  }
  if (r == R::kComplete) {
    std::vector<uint8_t> msg;
    msg.swap(msg_buf_);
    deliver(pid, msg);
  } else if (r == R::kMalformed || r == R::kTooLarge) {
    ++counters_.decode_errors;
  }
}

void MeshPeer::cut_through(LinkEntry& e, uint32_t msg_id, std::span<const uint8_t> chunk) {
  auto [it, fresh] = e.cut.try_emplace(msg_id);
  if (fresh) it->second.relay.emplace(*cfg_.core.verifier);
  while (e.cut.size() > kMaxCutThrough) {  // bounded like the reassembler: the oldest goes
    const bool self = e.cut.begin() == it;
    e.cut.erase(e.cut.begin());
    if (self) return;
  }
  auto& c = it->second;
  if (!c.relay) return;  // done with, or nobody to pass it to
  c.relay->feed(chunk);
  if (c.relay->state() == mesh::ChunkRelay::State::kRejected) {
    c.relay.reset();  // not a segment, or forged: the core will judge the whole message
    return;
  }
  if (c.relay->state() != mesh::ChunkRelay::State::kRelaying) return;
  const uint32_t number = c.relay->header().number;
  if (!c.asked) {
    c.asked = true;
    if (!cut_sent_.count(number)) c.to = core_.cut_through_child(c.relay->header(), e.pid);
    LinkEntry* out = entry(c.to);
    if (!out || !out->connected || !out->link) {
      c.relay.reset();
      return;
    } else {
      c.out_id = out->next_msg_id++;
      out->resend.begin(c.out_id, number, cfg_.monotonic_us());
      cut_sent_[number] = {c.to, false};
      while (cut_sent_.size() > kMaxCutSent) cut_sent_.erase(cut_sent_.begin());
      ++counters_.cut_through_segments;
    }
  }
  const auto ready = c.relay->take_ready();
  LinkEntry* out = entry(c.to);
  if (!out || !out->connected || !out->link) {
    c.relay.reset();
    return;
  }
  const int64_t now = cfg_.monotonic_us();
  for (uint16_t i : ready) {
    std::vector<uint8_t> ch(c.relay->chunk(i).begin(), c.relay->chunk(i).end());
    for (int b = 0; b < 4; ++b) ch[size_t(b)] = uint8_t(c.out_id >> (24 - 8 * b));
    if (i == 0) {  // one more hop, as the core counts when it stores a segment
      uint8_t& hops = ch[mesh::kChunkHeaderBytes + mesh::kSegmentHopsOffset];
      if (hops < 255) ++hops;
    }
    transmit(*out, UploadPacer::Kind::kRtp, number, ch,
             mesh::push_priority(core_.depth(number % core_.config().substreams)));
    ++counters_.cut_through_chunks;
    ++counters_.chunks_sent;
    out->resend.add_chunk(c.out_id, i, ch, now);
  }
  if (c.relay->all_taken()) {
    cut_sent_[number].complete = true;
    c.relay.reset();
  }
}

void MeshPeer::on_link_rtcp(PeerId pid, const uint8_t* data, size_t len) {
  LinkEntry* e = entry(pid);
  if (!e) return;
  const std::span<const uint8_t> packet(data, len);
  switch (app_packet_kind(packet)) {  // malformed ones and anything not ours: ignored
    case AppPacket::kControl:
      if (auto msg = unwrap_control(packet)) {
        std::vector<uint8_t> copy(msg->begin(), msg->end());
        deliver(pid, copy);
      }
      break;
    case AppPacket::kNack:
      if (auto nack = unwrap_nack(packet)) handle_nack(*e, *nack);
      break;
    case AppPacket::kProbe:
      if (auto p = unwrap_probe(packet)) on_probe(*e, *p);
      break;
    case AppPacket::kProbeReply:
      if (auto r = unwrap_probe_reply(packet)) on_probe_reply(pid, *r);
      break;
    case AppPacket::kOther:
      break;
  }
}

void MeshPeer::deliver(PeerId from, std::span<const uint8_t> msg) {
  if (stopped_) return;
  if (!msg.empty() && msg[0] == uint8_t(mesh::MsgType::kSegment))
    if (LinkEntry* e = entry(from)) e->media_rx += msg.size();
  std::vector<uint8_t> rewritten;
  if (believed(from, msg, rewritten)) msg = rewritten;
  core_.on_bytes(from, msg, cfg_.clock());
  drain();
}

bool MeshPeer::believed(PeerId from, std::span<const uint8_t> msg,
                        std::vector<uint8_t>& rewritten) const {
  // Only three message types carry what needs translating or doubting: decode only those.
  if (msg.empty() ||
      (msg[0] != uint8_t(mesh::MsgType::kReject) && msg[0] != uint8_t(mesh::MsgType::kHello) &&
       msg[0] != uint8_t(mesh::MsgType::kSubscribe)))
    return false;
  auto m = mesh::decode(msg);
  if (!m) return false;  // the core counts it
  bool changed = ids_from_wire(*m);
  if (auto* h = std::get_if<mesh::Hello>(&*m)) changed = doubt_hello(from, *h);
  if (changed) mesh::encode(*m, rewritten);
  return changed;
}

bool MeshPeer::doubt_hello(PeerId from, mesh::Hello& h) const {
  bool changed = false;
  // Only the stream's owner is its source, whatever a partner says of itself.
  const std::string* name = name_of(from);
  if (h.is_source && (!name || *name != cfg_.source_id)) {
    h.is_source = 0;
    changed = true;
  }
  // Declared upload decides who keeps push slots: none is believed above the most an
  // honest viewer declares by default.
  const uint64_t cap_kbps = cfg_.core.stream_bps * kBelievedUploadRatio / 1000;
  if (cap_kbps > 0 && h.upload_kbps > cap_kbps && !h.is_source) {
    h.upload_kbps = uint32_t(cap_kbps);
    changed = true;
  }
  return changed;
}

void MeshPeer::ids_to_wire(mesh::Message& m) const {
  if (auto* s = std::get_if<mesh::Subscribe>(&m); s && s->silent_parent != mesh::kNoPeer) {
    const auto w = ids_.wire_id(s->silent_parent);
    s->silent_parent = w ? *w : mesh::kNoPeer;
    return;
  }
  auto* r = std::get_if<mesh::Reject>(&m);
  if (!r) return;
  uint8_t n = 0;
  for (uint8_t i = 0; i < r->redirect_count && i < r->redirect.size(); ++i)
    if (auto w = ids_.wire_id(r->redirect[i])) r->redirect[n++] = *w;
  r->redirect_count = n;
}

bool MeshPeer::ids_from_wire(mesh::Message& m) const {
  if (auto* s = std::get_if<mesh::Subscribe>(&m)) {
    if (s->silent_parent == mesh::kNoPeer) return false;
    // A name we do not know (or our own) accuses nobody here.
    auto local = ids_.from_wire(s->silent_parent);
    s->silent_parent = local && *local != cfg_.core.self ? *local : mesh::kNoPeer;
    return true;
  }
  auto* rp = std::get_if<mesh::Reject>(&m);
  if (!rp || rp->redirect_count == 0) return false;
  mesh::Reject& r = *rp;
  uint8_t n = 0;
  for (uint8_t i = 0; i < r.redirect_count && i < r.redirect.size(); ++i)
    if (auto local = ids_.from_wire(r.redirect[i]); local && *local != cfg_.core.self)
      r.redirect[n++] = *local;
  r.redirect_count = n;
  return true;
}

void MeshPeer::send_message(PeerId to, const mesh::Message& m, uint8_t priority) {
  LinkEntry* e = entry(to);
  if (!e || !e->connected || !e->link) return;
  if (attack_ && attack_->withholds(m)) return;
  encode_buf_.clear();
  if (!attack_ || !attack_->alter(m, encode_buf_)) encode_for_wire(m, encode_buf_);
  if (!mesh::is_media(m) && encode_buf_.size() <= kMaxControlInRtcp) {
    transmit(*e, UploadPacer::Kind::kRtcp, 0, wrap_control(encode_buf_, ssrc_), priority);
    return;
  }
  uint32_t msg_id = e->next_msg_id++;
  chunks_.clear();
  if (!mesh::Fragmenter::fragment(msg_id, encode_buf_, chunks_)) {
    ++counters_.send_failures;
    return;
  }
  uint32_t ts = mesh::is_media(m) ? std::get<mesh::SegmentMsg>(m).segment.header.number : 0;
  for (auto& chunk : chunks_) transmit(*e, UploadPacer::Kind::kRtp, ts, chunk, priority);
  counters_.chunks_sent += chunks_.size();
  e->resend.add_message(msg_id, ts, chunks_, cfg_.monotonic_us());
}

void MeshPeer::encode_for_wire(const mesh::Message& m, std::vector<uint8_t>& out) const {
  if (std::holds_alternative<mesh::Reject>(m) || std::holds_alternative<mesh::Subscribe>(m)) {
    mesh::Message wire = m;
    ids_to_wire(wire);
    mesh::encode(wire, out);
  } else {
    mesh::encode(m, out);
  }
}

void MeshPeer::drain() {
  if (draining_) return;  // outputs produced while draining are picked up by the loop
  draining_ = true;
  auto& box = core_.outbox();
  for (size_t i = 0; i < box.size(); ++i) {
    Output o = std::move(box[i]);
    switch (o.kind) {
      case OutputKind::kSend: {
        if (mesh::is_media(o.msg)) {
          // Already passed on chunk by chunk while it arrived.
          auto c = cut_sent_.find(std::get<mesh::SegmentMsg>(o.msg).segment.header.number);
          if (c != cut_sent_.end() && c->second.to == o.peer && c->second.complete) break;
        }
        send_message(o.peer, o.msg, o.priority);
        break;
      }
      case OutputKind::kConnect: {
        if (stopped_ || entry(o.peer)) break;
        const std::string* name = name_of(o.peer);
        if (!name) {
          core_.partner_left(o.peer, cfg_.clock());  // unknown id (e.g. a stale redirect)
          break;
        }
        LinkEntry* e = create_link(*name, true);
        if (!e || !e->link->start()) {
          if (e)
            drop_link(o.peer, false);
          else
            core_.partner_left(o.peer, cfg_.clock());
          break;
        }
        send_description(*e, "offer");
        break;
      }
      case OutputKind::kDisconnect:
        g_debug("meshcast: %s drops %s (reason %d)", cfg_.self_id.c_str(),
                name_of(o.peer) ? name_of(o.peer)->c_str() : "?", int(o.reason));
        drop_link(o.peer, true);
        break;
      case OutputKind::kSetTimer:
        arm_timer(o.at);
        break;
      case OutputKind::kPlay: {
        if (attack_)
          if (auto forged = attack_->forgery_after_play(std::get<mesh::SegmentMsg>(o.msg))) {
            std::vector<PeerId> to;
            for (auto& [pid, e] : links_)
              if (e.connected) to.push_back(pid);
            for (PeerId pid : to) send_message(pid, *forged);
          }
        // The core hands over a segment's K stripes one after another: join them at the last.
        const uint32_t k = core_.config().substreams;
        if (mesh::stripe_of_unit(o.number, k) == 0) playing_stripes_.clear();
        playing_stripes_.push_back(std::get<mesh::SegmentMsg>(o.msg).segment);
        if (mesh::stripe_of_unit(o.number, k) + 1 < k) break;
        auto seg = mesh::join_stripes(playing_stripes_, k);
        if (seg && on_play_) on_play_(*seg, playing_stripes_, o.at);
        if (!seg) g_warning("meshcast: segment %u: stripes do not fit", o.number / k);
        playing_stripes_.clear();
        break;
      }
      case OutputKind::kMissed:
        if (on_missed_) on_missed_(mesh::segment_of_unit(o.number, core_.config().substreams));
        break;
      case OutputKind::kReport: {
        ++counters_.forgers_reported;
        ban(o.peer);
        if (const std::string* name = name_of(o.peer)) sig_.report_forger(*name);
        break;
      }
      case OutputKind::kNeedNeighbours: {
        std::vector<std::string> exclude;
        for (auto& [pid, e] : links_) exclude.push_back(e.id);
        sig_.request_neighbours(exclude);
        break;
      }
    }
  }
  box.clear();
  draining_ = false;
  if (!had_data_ && core_.holds_data()) {
    had_data_ = true;
    if (on_first_data_) on_first_data_();
  }
}

bool MeshPeer::send_now(LinkEntry& e, UploadPacer::Kind kind, uint32_t ts,
                        std::span<const uint8_t> bytes) {
  bool ok;
  if (kind == UploadPacer::Kind::kRtp) {
    auto pkt = e.rtp.wrap(bytes, ts);
    ok = bool(e.link->send_rtp(pkt.data(), pkt.size()));
  } else {
    ok = bool(e.link->send_rtcp(bytes.data(), bytes.size()));
  }
  if (!ok) ++counters_.send_failures;
  return ok;
}

bool MeshPeer::transmit(LinkEntry& e, UploadPacer::Kind kind, uint32_t ts,
                        std::span<const uint8_t> bytes, uint8_t priority) {
  if (!pacer_.pacing()) return e.link && send_now(e, kind, ts, bytes);
  UploadPacer::Packet p{e.pid, kind, ts, {bytes.begin(), bytes.end()}};
  if (!pacer_.enqueue(priority, std::move(p), cfg_.monotonic_us())) {
    ++counters_.pull_answers_refused;
    return false;
  }
  counters_.paced_max_queued_bytes = pacer_.counters().max_queued_bytes;
  counters_.paced_evicted = pacer_.counters().evicted;
  flush_paced();
  return true;
}

void MeshPeer::send_released() {
  for (auto& p : paced_out_)
    if (LinkEntry* e = entry(p.peer); e && e->connected && e->link)
      send_now(*e, p.kind, p.ts, p.bytes);
  paced_out_.clear();
}

void MeshPeer::flush_paced() {
  paced_out_.clear();
  const int64_t now = cfg_.monotonic_us();
  pacer_.release(now, paced_out_);
  send_released();
  const int64_t next = pacer_.next_release_us();
  if (next < 0 || pace_timer_ || stopped_) return;
  pace_timer_ =
      add_timeout(ctx_, std::max<int64_t>(1, ms_until(next, now)), &MeshPeer::on_pace_timer, this);
}

gboolean MeshPeer::on_pace_timer(gpointer p) {
  auto* self = static_cast<MeshPeer*>(p);
  g_source_unref(self->pace_timer_);
  self->pace_timer_ = nullptr;
  self->flush_paced();
  return G_SOURCE_REMOVE;
}

void MeshPeer::arm_timer(int64_t at_us) {
  if (stopped_) return;
  drop_timeout(timer_);
  timer_at_ = at_us;
  timer_ = add_timeout(ctx_, ms_until(at_us, cfg_.clock()), &MeshPeer::on_timer_cb, this);
}

gboolean MeshPeer::on_timer_cb(gpointer p) {
  auto* self = static_cast<MeshPeer*>(p);
  g_source_unref(self->timer_);
  self->timer_ = nullptr;
  self->timer_at_ = -1;
  if (self->stopped_) return G_SOURCE_REMOVE;
  self->core_.on_timer(self->cfg_.clock());
  self->drain();
  return G_SOURCE_REMOVE;
}

void MeshPeer::handle_nack(LinkEntry& e, const ChunkNack& nack) {
  const uint32_t ts = e.resend.ts(nack.msg_id);
  for (uint16_t i : nack.indices) {
    const auto* chunk = e.resend.chunk(nack.msg_id, i);
    if (!chunk) continue;  // unknown, evicted, or (cut-through) not yet in
    // Still queued here (pacing spaces a message's chunks further apart than the partner's
    // NACK delay): it leaves anyway, and a second copy would only load the uplink more.
    if (chunk->size() >= kChunkIdBytes &&
        pacer_.holds(e.pid, std::span(chunk->data(), kChunkIdBytes))) {
      ++counters_.nacks_for_queued;
      continue;
    }
    // A fresh RTP sequence number (given as it leaves): SRTP would drop a byte-identical
    // packet as a replay.
    if (transmit(e, UploadPacer::Kind::kRtp, ts, *chunk, 0)) ++counters_.chunks_resent;
  }
}

void MeshPeer::arm_nack_timer() {
  if (nack_timer_ || stopped_) return;
  nack_timer_ = g_timeout_add(kNackTickMs, &MeshPeer::on_nack_timer, this);
}

gboolean MeshPeer::on_nack_timer(gpointer p) {
  auto* self = static_cast<MeshPeer*>(p);
  const int64_t now = self->cfg_.monotonic_us();
  bool any = false;
  for (auto& [pid, e] : self->links_) {
    auto& reassembler = e.reassembler;
    const auto nacks = e.nacks.on_timer(
        now, [&](uint32_t msg_id) { return reassembler.missing(msg_id); }, e.link && e.connected);
    for (const ChunkNack& n : nacks) {
      self->transmit(e, UploadPacer::Kind::kRtcp, 0, wrap_nack(n, self->ssrc_), 0);
      ++self->counters_.nacks_sent;
    }
    any = any || !e.nacks.empty();
  }
  if (any && !self->stopped_) return G_SOURCE_CONTINUE;
  self->nack_timer_ = 0;
  return G_SOURCE_REMOVE;
}

std::vector<PartnerInfo> MeshPeer::partners() const {
  std::vector<PartnerInfo> out;
  for (auto& [pid, e] : links_) {
    PartnerInfo p;
    p.id = e.id;
    p.connected = e.connected;
    for (uint32_t s = 0; s < cfg_.core.substreams && s < mesh::kMaxSubstreams; ++s)
      if (core_.parent(s) == pid) p.parent_mask |= uint16_t(1u << s);
    p.child = false;  // TODO(core): expose child_mask per partner
    if (e.link) {
      p.rtt_ms = e.link->stats().rtt_ms;
      p.route = e.link->route().kind();
    }
    p.media_bytes_received = e.media_rx;
    out.push_back(std::move(p));
  }
  return out;
}

MeshPeerBuffers MeshPeer::buffers() const {
  MeshPeerBuffers b;
  b.links = links_.size();
  for (auto& [pid, e] : links_) {
    b.resend_bytes_max = std::max(b.resend_bytes_max, e.resend.bytes());
    b.resend_bytes_total += e.resend.bytes();
    b.partials += e.nacks.size();
    b.cut_through += e.cut.size();
  }
  b.cut_sent = cut_sent_.size();
  b.names = ids_.size();
  b.banned = banned_.size();
  b.paced_bytes = pacer_.queued_bytes();
  return b;
}

RouteBytes MeshPeer::route_bytes() const {
  RouteBytes b = closed_route_bytes_;
  for (auto& [pid, e] : links_)
    if (e.link) add_route_bytes(*e.link, b);
  return b;
}

uint64_t MeshPeer::wire_bytes_sent() const {
  uint64_t sum = closed_wire_bytes_;
  for (auto& [pid, e] : links_)
    if (e.link) sum += e.link->stats().wire_bytes_sent;
  return sum;
}

}  // namespace meshcast::node
