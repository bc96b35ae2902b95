#include "apps/session/viewer_session.hpp"

#include "apps/cli/status.hpp"
#include "apps/exit_code.hpp"
#include "apps/session/session_common.hpp"
#include "media/broadcast/frame_codec.hpp"
#include "media/common/gst_util.hpp"

namespace meshcast::app {

namespace {
// What a sybil declares: the protocol's maximum, 10 Gbit/s.
constexpr int64_t kSybilUploadKbps = 10'000'000;
}  // namespace

ViewerSession::ViewerSession(GMainContext* ctx, ViewerOptions opt,
                             std::shared_ptr<link::Certificate> cert)
    : ctx_(ctx), opt_(std::move(opt)), cert_(std::move(cert)) {}

ViewerSession::~ViewerSession() {
  whep_.reset();
  report_timer_.reset();
  rejoin_timer_.reset();
  peer_.reset();
  clock_.reset();
  client_.reset();
}

void ViewerSession::start() {
  metrics_.started_us = g_get_real_time();
  if (opt_.whep) {
    media::ensure_gst_init();
    whep_ = std::make_unique<WhepHub>(ctx_, *opt_.whep);
    whep_->set_status([this] { return status_json(); });
    if (auto r = whep_->start(); !r) return fatal("WHEP endpoint: " + r.error(), kExitFailure);
    g_message("meshcast: WHEP player at %s", whep_->url().c_str());
  }
  client_ = std::make_unique<signaling::TrackerClient>(opt_.client);
  clock_ = std::make_unique<TrackerClock>(*client_);
  signaling_ = std::make_unique<TrackerSignaling>(*client_, opt_.stream);
  client_->set_on_state([this](signaling::ClientState s, const std::string& why) {
    if (s == signaling::ClientState::kConnected) on_connected();
    if (s == signaling::ClientState::kDisconnected && peer_ && !stopped_)
      log_msg(LogLevel::Warn,
              "lost the tracker (%s): playing on over the mesh links; "
              "reconnecting",
              why.c_str());
    if (s == signaling::ClientState::kFailed && !peer_)
      fatal("cannot reach the tracker at " + opt_.tracker_url + ": " + why, kExitUnreachable);
  });
  signaling_->attach_events();
  client_->on("stream_ended", [this](const nlohmann::json&) {
    fatal("the broadcaster ended stream '" + opt_.stream + "'", kExitOk);
  });
  client_->on("stream_access_revoked", [this](const nlohmann::json&) {
    // Out of the stream at the tracker: its media must stop reaching us too.
    if (peer_) peer_->stop();
    fatal("access to stream '" + opt_.stream +
              "' was revoked (the view key changed): join again with the new key",
          kExitRefused);
  });
  client_->connect(opt_.tracker_url);
}

void ViewerSession::on_connected() {
  signaling::HelloParams h;
  h.peer_id = id_.empty() ? opt_.peer_id : id_;
  h.role = "viewer";
  h.upload_kbps = opt_.sybil ? kSybilUploadKbps : opt_.max_upload_kbps;
  client_->hello(h, [this](const signaling::Reply& r) {
    if (!r.ok)
      return fatal(
          "tracker refused hello: " + r.message + " (" + r.code + ")",
          r.code == "duplicate_peer_id" || r.code == "id_taken" ? kExitRefused : kExitFailure);
    id_ = client_->peer_id();
    if (peer_ && client_->resumed()) return;  // the tracker kept our membership
    if (peer_) return join();
    // Lag is judged on the tracker's clock: measure our offset to it before the first segment.
    clock_->start([this] { join(); });
  });
}

void ViewerSession::join() {
  client_->join(opt_.stream, opt_.view_key, [this](const signaling::Reply& j) {
    if (!j.ok && peer_ && j.code == "no_such_stream" && rejoin_attempts_ < kMaxRejoinAttempts) {
      // The tracker came back without the stream (it restarted): the broadcaster registers
      // it again once it reconnects, meanwhile the mesh links carry the media.
      ++rejoin_attempts_;
      rejoin_timer_ =
          media::SourceGuard::timeout(kRejoinIntervalMs, &ViewerSession::on_rejoin_timer, this);
      return;
    }
    if (!j.ok) {
      if (j.code == "access_denied")
        return fatal("stream '" + opt_.stream + "' is private: " +
                         (opt_.view_key.empty() ? "a view key is needed (--view-key)"
                                                : "the view key is wrong"),
                     kExitRefused);
      if (j.code == "no_such_stream")
        return fatal("no stream named '" + opt_.stream + "' on this tracker", kExitUnreachable);
      return fatal("join refused: " + j.message + " (" + j.code + ")", kExitFailure);
    }
    rejoin_attempts_ = 0;
    if (peer_) {  // tracker reconnect: we are back in the stream
      peer_->add_neighbours(neighbour_ids(j.body));
      return;
    }
    on_joined(j.body);
    // Playing: a lost tracker no longer ends the viewer, the mesh links carry the stream.
    client_->set_max_reconnect_attempts(-1);
  });
}

gboolean ViewerSession::on_rejoin_timer(gpointer p) {
  auto* self = static_cast<ViewerSession*>(p);
  self->rejoin_timer_.reset();  // one-shot: it is ending
  if (!self->stopped_ && self->client_->state() == signaling::ClientState::kConnected) self->join();
  return G_SOURCE_REMOVE;
}

void ViewerSession::on_joined(const nlohmann::json& reply) {
  std::vector<uint8_t> pk;
  if (!from_hex(reply.value("public_key", ""), 32, &pk))
    return fatal("the tracker's stream record has no valid Ed25519 public key", kExitFailure);
  mesh::PublicKey key;
  std::copy(pk.begin(), pk.end(), key.begin());
  auto v = mesh::Ed25519Verifier::from_public(key);
  if (!v) return fatal("cannot load the stream's public key", kExitFailure);
  verifier_ = std::make_unique<mesh::Ed25519Verifier>(std::move(*v));

  int64_t bitrate = reply.value("bitrate_kbps", int64_t(1000));
  const auto& codec = reply.contains("codec") && reply["codec"].is_object()
                          ? reply["codec"]
                          : nlohmann::json::object();
  node::MeshPeerConfig pc;
  pc.self_id = id_;
  pc.clock = [this] { return clock_->now_us(); };
  if (reply.contains("owner") && reply["owner"].is_string()) pc.source_id = reply["owner"];
  pc.core.is_source = false;
  pc.core.stream_id = stream_id_for(opt_.stream);
  pc.core.stream_bps = uint64_t(std::max<int64_t>(bitrate, 8)) * 1000;
  pc.core.segment_us = std::clamp<int64_t>(codec.value("segment_ms", 200), 50, 2000) * 1000;
  int64_t up = opt_.sybil                 ? kSybilUploadKbps
               : opt_.max_upload_kbps > 0 ? opt_.max_upload_kbps
                                          : 4 * bitrate;
  pc.core.upload_bps = uint64_t(up) * 1000;
  // A stated uplink is paced to, so its queue builds where pushes can overtake pull answers
  // (the simulator's uplink model); the default budget is only a share to offer.
  if (opt_.max_upload_kbps > 0) pc.pace_bps = uint64_t(opt_.max_upload_kbps) * 1000;
  pc.core.verifier = verifier_.get();
  // Playout on loopback: GStreamer decoding wants a little more start-up buffer than the
  // simulator's WAN default, and the core's fine stall steps with fast shrinking (WAN
  // defaults since 2026-11-30) were measured here before: lag p95 0.54-0.60 s but continuity
  // 97.6-98.6 % under churn (docs/BENCHMARKS.md), so real viewers keep the settings their
  // swarm tests were measured with.
  pc.core.initial_buffer_us = 400'000;
  pc.core.stall_step_us = 200'000;
  pc.core.max_stalls_per_segment = 2;
  pc.core.shrink_period_us = 2'000'000;
  pc.core.shrink_margin_us = 300'000;
  pc.core.shrink_step_us = 100'000;
  // The core's 16-partner bound is for WAN flash crowds (simulator). Here every link is real
  // work in this process's GLib loop; 200 loopback viewers on 2 cores kept continuity
  // 99.3-99.5 % under churn + 3 % loss with 10, 98.5-99.1 % with 16 (docs/BENCHMARKS.md).
  pc.core.max_partners = 10;
  // On loopback an orphan finds a shallower parent quickly; releasing its subtree after the
  // core's WAN default (300 ms) gave 98.6-99.3 % continuity under churn + 3 % loss over 4
  // runs, 3 s gave 99.0-99.3 % over 2 (docs/BENCHMARKS.md): keep the wait.
  pc.core.orphan_timeout_us = 3'000'000;
  // TURN is paid bandwidth: a parent over a relayed link ranks two hops deeper, so a direct
  // one at the same depth is worth a switch (the core switches for 250 ms or more).
  pc.core.relayed_penalty_us = 2 * pc.core.hop_estimate_us;
  pc.core.seed = std::hash<std::string>{}(id_);
  pc.link = with_tracker_turn(opt_.link, *client_);
  pc.estimate_upload = opt_.estimate_upload && !opt_.sybil;
  pc.attack.tamper_relayed = opt_.tamper_relayed;
  pc.attack.sybil = opt_.sybil;
  peer_ = std::make_unique<node::MeshPeer>(ctx_, pc, *signaling_, cert_);
  signaling_->set_peer(peer_.get());
  if (opt_.impairment.active()) peer_->set_impairment(opt_.impairment);
  peer_->set_on_play([this](const mesh::Segment& s, std::span<const mesh::Segment> stripes,
                            int64_t at) { on_play(s, stripes, at); });
  // Tell the tracker at once: it sends joiners to viewers with data, and in a crowd waiting
  // for the next periodic report slows how fast the swarm can take newcomers.
  peer_->set_on_first_data([this] { on_report_tick(this); });
  peer_->set_on_missed([this](uint32_t) {
    ++metrics_.missed;
    if (player_) player_->mark_gap();
  });
  if (opt_.player) {
    media::ensure_gst_init();
    player_ = std::make_unique<media::FramePlayer>(ctx_, *opt_.player);
    player_->set_on_error(
        [](const std::string& e) { g_warning("meshcast: player: %s", e.c_str()); });
    player_->set_on_window_closed([this] {
      if (on_window_closed_) on_window_closed_();
    });
  }
  peer_->start();
  peer_->add_neighbours(neighbour_ids(reply));
  report_timer_ = media::SourceGuard::timeout(1000, &ViewerSession::on_report_tick, this);
  if (on_joined_) on_joined_();
}

void ViewerSession::on_play(const mesh::Segment& seg, std::span<const mesh::Segment> stripes,
                            int64_t play_at_us) {
  // The core only plays verified stripes; re-check here so the metric is independent.
  for (const mesh::Segment& s : stripes)
    if (verifier_ && !verifier_->verify(s)) {
      ++metrics_.forged_played;
      break;
    }
  ++metrics_.played;
  // play_at_us is on the tracker's clock, start-up is measured on ours.
  if (metrics_.first_play_us < 0)
    metrics_.first_play_us = play_at_us - (clock_->now_us() - g_get_real_time());
  metrics_.lag_ms.push((play_at_us - seg.header.created_us) / 1e3);
  metrics_.hops.push(seg.header.hops);
  if (player_ || whep_) {
    if (player_ && any_played_ && seg.header.number != last_played_ + 1) player_->mark_gap();
    auto batch = media::parse_frame_batch(seg.payload_bytes());
    if (batch) {
      if (player_) player_->push_batch(*batch);
      if (whep_) whep_->push_batch(*batch);
    } else {
      g_warning("meshcast: segment %u: bad payload: %s", seg.header.number,
                media::to_string(batch.error()));
    }
  }
  any_played_ = true;
  last_played_ = seg.header.number;
}

gboolean ViewerSession::on_report_tick(gpointer p) {
  auto* self = static_cast<ViewerSession*>(p);
  if (!self->peer_ || !self->client_) return G_SOURCE_CONTINUE;
  std::vector<signaling::Partner> parts;
  std::map<std::string, uint64_t> rx_now;
  for (auto& pi : self->peer_->partners()) {
    if (!pi.connected) continue;
    // What this partner delivered since the last report: the tracker's evidence that the
    // partner uploads (its own declaration is not believed).
    auto last = self->rx_reported_.find(pi.id);
    const uint64_t before = last == self->rx_reported_.end() ? 0 : last->second;
    rx_now[pi.id] = pi.media_bytes_received;
    const int64_t rx = int64_t(pi.media_bytes_received >= before ? pi.media_bytes_received - before
                                                                 : pi.media_bytes_received);
    const char* role = self->opt_.sybil ? "child"  // claims to carry many
                       : pi.parent_mask ? "parent"
                       : pi.child       ? "child"
                                        : "pull";
    parts.push_back({pi.id, role, rx});
  }
  self->rx_reported_ = std::move(rx_now);
  auto s = self->status_json();
  if (self->opt_.sybil) s["played"] = s["played"].get<uint64_t>() + 1000;
  // Stats values are numbers (the tracker's validator refuses anything else).
  nlohmann::json stats = {
      {"lag_ms", s["lag_ms"]},           {"continuity", s["continuity"]},
      {"played", s["played"]},           {"has_data", self->peer_->holds_data() ? 1 : 0},
      {"upload_kbps", s["upload_kbps"]}, {"forged_rejected", s["forged_rejected"]}};
  if (s.contains("upload_estimate_kbps")) stats["upload_estimate_kbps"] = s["upload_estimate_kbps"];
  self->client_->report(parts, stats, self->opt_.stream);
  return G_SOURCE_CONTINUE;
}

nlohmann::json ViewerSession::status_json() const {
  nlohmann::json j;
  j["id"] = id_;
  j["t"] = g_get_real_time() / 1e6;
  j["played"] = metrics_.played;
  j["missed"] = metrics_.missed;
  j["continuity"] = metrics_.continuity();
  j["startup_ms"] = metrics_.startup_ms();
  j["lag_ms"] = metrics_.lag_ms.empty() ? 0.0 : metrics_.lag_ms.back();
  j["hops"] = metrics_.hops.empty() ? 0.0 : metrics_.hops.back();
  if (whep_) j["whep_legs"] = whep_->legs();
  // Connected links by route: through NATs some can only be relayed (docs/netlab.md).
  size_t partners = 0, direct = 0, relayed = 0;
  if (peer_) {
    for (const auto& p : peer_->partners()) {
      ++partners;
      if (!p.connected) continue;
      direct += p.route == "direct";
      relayed += p.route == "relayed";
    }
  }
  j["partners"] = partners;
  j["links_direct"] = direct;
  j["links_relayed"] = relayed;
  if (peer_) {
    // Bytes on the wire by route, closed links included: the share a TURN server carried.
    const auto rb = peer_->route_bytes();
    j["bytes_direct_rx"] = rb.direct_received;
    j["bytes_relayed_rx"] = rb.relayed_received;
    j["bytes_direct_tx"] = rb.direct_sent;
    j["bytes_relayed_tx"] = rb.relayed_sent;
    // The upload the mesh core relays within (the estimate, when on, never above the budget).
    const auto ue = peer_->upload_estimate();
    j["children"] = peer_->core().child_count();
    j["children_shed"] = peer_->stats().children_shed;
    if (ue.active) {
      j["upload_estimate_kbps"] = double(ue.budget_bps) / 1e3;
      j["upload_cuts"] = ue.cuts;
      if (ue.probed_bps > 0) j["upload_probe_kbps"] = double(ue.probed_bps) / 1e3;
      j["queue_delay_ms"] = ue.queue_delay_us < 0 ? -1.0 : double(ue.queue_delay_us) / 1e3;
      j["sent_kbps"] = ue.sent_bps / 1e3;
    }
  }
  double elapsed = std::max(1.0, (g_get_real_time() - metrics_.started_us) / 1e6);
  const auto* st = peer_ ? &peer_->stats() : nullptr;
  j["upload_kbps"] = st ? st->media_bytes_sent * 8 / 1e3 / elapsed : 0.0;
  j["download_kbps"] = st ? st->media_bytes_received * 8 / 1e3 / elapsed : 0.0;
  j["forged_rejected"] = st ? st->forged_rejected : 0;
  // Of the missed segments, those nobody could send any more (no parent, request or holder)
  // rather than late ones: the two have different causes.
  j["missed_unavailable"] = st ? st->missed_unavailable : 0;
  j["stalls"] = st ? st->stalls : 0;
  j["tracker_retries"] = client_ ? client_->reconnect_attempts() : 0;
  j["clock_offset_ms"] = clock_ ? clock_->offset_us() / 1e3 : 0.0;
  if (st && log_level_debug_) {
    j["debug"] = {{"requests_sent", st->requests_sent},
                  {"segments_pushed", st->segments_pushed},
                  {"segments_served", st->segments_served},
                  {"media_bytes_received", st->media_bytes_received},
                  {"control_bytes_received", st->control_bytes_received},
                  {"dup_bytes", st->duplicate_bytes_received},
                  {"playout_delay_ms", peer_->core().playout_delay() / 1000},
                  {"next_play", peer_->core().next_play()},
                  {"decode_errors", peer_->counters().decode_errors},
                  {"send_failures", peer_->counters().send_failures},
                  {"cut_through_segments", peer_->counters().cut_through_segments},
                  {"paced_max_queued_bytes", peer_->counters().paced_max_queued_bytes},
                  {"pull_answers_refused", peer_->counters().pull_answers_refused},
                  {"nacks_for_queued", peer_->counters().nacks_for_queued}};
  }
  return j;
}

void ViewerSession::fatal(const std::string& msg, int code) {
  if (stopped_) return;
  if (on_fatal_) on_fatal_(msg, code);
}

void ViewerSession::stop(bool graceful) {
  if (stopped_) return;
  stopped_ = true;
  report_timer_.reset();
  rejoin_timer_.reset();
  whep_.reset();  // browsers see their legs close
  if (graceful) {
    if (peer_) peer_->stop();
    if (client_) client_->leave([](const signaling::Reply&) {});
  } else {
    peer_.reset();  // links vanish without a word, like a killed process
    if (client_) client_->close();
  }
}

Expected<void, std::string> ViewerSession::finish_output() {
  if (!player_) return {};
  return player_->stop();
}

}  // namespace meshcast::app
