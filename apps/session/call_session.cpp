#include "apps/session/call_session.hpp"

#include <algorithm>
#include <cstdio>

#include "apps/exit_code.hpp"
#include "apps/session/session_common.hpp"
#include "media/common/rtcp.hpp"
#include "mesh/base/time.hpp"
#include "mesh/link/restart_description.hpp"
#include "signaling/identity_proof.hpp"

namespace meshcast::app {

const char* to_string(CallPhase p) {
  switch (p) {
    case CallPhase::kConnecting:
      return "connecting";
    case CallPhase::kCalling:
      return "calling";
    case CallPhase::kRinging:
      return "ringing";
    case CallPhase::kWaiting:
      return "waiting for a call";
    case CallPhase::kLinking:
      return "connecting media";
    case CallPhase::kInCall:
      return "in call";
    case CallPhase::kEnded:
      return "ended";
  }
  return "?";
}

CallSession::CallSession(GMainContext* ctx, CallOptions opt,
                         std::shared_ptr<link::Certificate> cert)
    : ctx_(ctx ? ctx : g_main_context_default()), opt_(std::move(opt)), cert_(std::move(cert)) {
  // One key proves our id to the tracker and signs our fingerprint to the peer.
  if (!opt_.client.identity) {
    if (auto k = signaling::IdentityKey::generate())
      opt_.client.identity = std::make_shared<const signaling::IdentityKey>(*k);
  }
  if (!opt_.known_peers)
    opt_.known_peers = std::make_shared<signaling::KnownPeers>(*signaling::KnownPeers::load(""));
}

CallSession::~CallSession() {
  report_timer_.reset();
  stop_media();
  link_.reset();
  client_.reset();
}

void CallSession::start() {
  client_ = std::make_unique<signaling::TrackerClient>(opt_.client);
  client_->set_on_state([this](signaling::ClientState s, const std::string& why) {
    if (s == signaling::ClientState::kConnected && !registered_) on_connected();
    // The tracker connection dropped and came back (a cut path, a new network): resume the
    // session so the call and its ICE restarts keep their signalling path.
    else if (s == signaling::ClientState::kConnected && phase_ != CallPhase::kEnded)
      resume_tracker();
    if (s == signaling::ClientState::kFailed)
      end("cannot reach the tracker at " + opt_.tracker_url + ": " + why, kExitUnreachable);
  });
  client_->on("call_incoming", [this](const nlohmann::json& m) { on_incoming(m); });
  client_->on("call_ringing", [this](const nlohmann::json&) {
    if (phase_ == CallPhase::kCalling) phase_ = CallPhase::kRinging;
  });
  client_->on("call_accepted", [this](const nlohmann::json& m) {
    if (m.value("call_id", "") != call_id_) return;
    phase_ = CallPhase::kLinking;
    open_link(true);
  });
  client_->on("call_declined", [this](const nlohmann::json& m) {
    if (m.value("call_id", "") != call_id_) return;
    std::string why = m.value("reason", "");
    end(peer_ + " declined the call" + (why.empty() ? "" : " (" + why + ")"), kExitRefused);
  });
  client_->on("call_timeout", [this](const nlohmann::json& m) {
    if (m.value("call_id", "") != call_id_) return;
    end(phase_ == CallPhase::kWaiting ? "the call from " + peer_ + " was not answered in time"
                                      : peer_ + " did not answer",
        kExitTimeout);
  });
  client_->on("call_cancelled", [this](const nlohmann::json& m) {
    if (m.value("call_id", "") != call_id_) return;
    end(peer_ + " cancelled the call", kExitOk);
  });
  client_->on("call_ended", [this](const nlohmann::json& m) {
    if (m.value("call_id", "") != call_id_) return;
    std::string why = m.value("reason", "hangup");
    if (phase_ != CallPhase::kInCall)  // accepted, but the link never connected
      return end(peer_ + (why == "peer_left" ? " left" : " hung up") +
                     " before the call connected: no media flowed",
                 kExitNoMedia);
    end(why == "peer_left" ? peer_ + " left (disconnected)" : peer_ + " hung up", kExitOk);
  });
  client_->on("relay", [this](const nlohmann::json& m) { on_relay(m); });
  client_->connect(opt_.tracker_url);
}

signaling::HelloParams CallSession::hello_params() const {
  signaling::HelloParams h;
  h.peer_id = opt_.self_id;
  h.role = "caller";
  if (!opt_.to.empty())
    h.accept_calls = "none";  // a caller does not take calls meanwhile
  else if (!opt_.accept_from.empty())
    h.accept_calls = opt_.accept_from;
  else
    h.accept_calls = "all";
  return h;
}

void CallSession::resume_tracker() {
  client_->hello(hello_params(), [this](const signaling::Reply& r) {
    if (!r.ok) return notice("could not resume the tracker session: " + r.message);
    ++tracker_resumes_;
    if (!client_->resumed())
      return notice("the tracker no longer knew this session; the call has no signalling path");
    // A restart offer sent while the old connection was dying is likely lost: make a fresh
    // one now that the signalling path is back, rather than wait for the link's next try.
    if (link_ && link_->role() == link::Role::kOfferer &&
        link_->state() == link::LinkState::kReconnecting)
      link_->restart_ice();
  });
}

void CallSession::on_connected() {
  client_->hello(hello_params(), [this](const signaling::Reply& r) {
    if (!r.ok) {
      if (r.code == "duplicate_peer_id")
        return end("the id '" + opt_.self_id + "' is already in use at the tracker", kExitRefused);
      if (r.code == "id_taken")
        return end("the id '" + opt_.self_id +
                       "' belongs to another identity key at the tracker (" + r.message + ")",
                   kExitRefused);
      return end("tracker refused hello: " + r.message, kExitFailure);
    }
    registered_ = true;
    if (opt_.to.empty()) {
      phase_ = CallPhase::kWaiting;
      return;
    }
    phase_ = CallPhase::kCalling;
    peer_ = opt_.to;
    client_->call_invite(
        opt_.to,
        [this](const signaling::Reply& c) {
          if (c.ok) {
            call_id_ = c.body.value("call_id", "");
            return;
          }
          if (c.code == "peer_offline") return end(opt_.to + " is not online", kExitUnreachable);
          if (c.code == "call_refused")
            return end(opt_.to + " does not accept calls from " + opt_.self_id, kExitRefused);
          end("cannot call " + opt_.to + ": " + c.message + " (" + c.code + ")", kExitFailure);
        },
        opt_.ring_timeout_ms);
  });
}

void CallSession::on_incoming(const nlohmann::json& m) {
  std::string from = m.value("from", ""), cid = m.value("call_id", "");
  if (!call_id_.empty() || phase_ != CallPhase::kWaiting) {
    client_->call_decline(cid, "busy", [](const signaling::Reply&) {});
    return;
  }
  call_id_ = cid;
  peer_ = from;
  bool listed =
      opt_.accept_from.empty() ||
      std::find(opt_.accept_from.begin(), opt_.accept_from.end(), from) != opt_.accept_from.end();
  if (!listed) return answer(false);
  if (opt_.auto_answer) return answer(true);
  if (on_ask_)
    on_ask_(from, [this, cid](bool yes) {
      if (call_id_ == cid && phase_ == CallPhase::kWaiting) answer(yes);
    });
  else
    answer(false);
}

void CallSession::answer(bool accept) {
  if (!accept) {
    client_->call_decline(call_id_, "declined", [](const signaling::Reply&) {});
    call_id_.clear();
    peer_.clear();
    return;
  }
  phase_ = CallPhase::kLinking;
  client_->call_accept(call_id_, [this](const signaling::Reply& r) {
    if (!r.ok) end("could not accept the call: " + r.message, kExitFailure);
  });
  // The caller offers once it hears of the acceptance; our link is made on its offer.
}

void CallSession::open_link(bool offerer) {
  link_opened_us_ = meshcast::monotonic_us();
  auto created = link::PeerLink::create(ctx_, with_tracker_turn(opt_.link, *client_), cert_,
                                        offerer ? link::Role::kOfferer : link::Role::kAnswerer);
  if (!created) return end("cannot create the media link: " + created.error(), kExitFailure);
  link_ = std::move(*created);
  // Each side impairs what it sends, so `loss` is the loss of each direction.
  if (opt_.impairment.active())
    link_->set_impairment(link::PeerLink::Direction::kSend, opt_.impairment);
  link_->set_on_state([this](link::LinkState s, const std::string& why) { on_link_state(s, why); });
  link_->set_on_rtp([this](const uint8_t* d, size_t n) { on_rtp(d, n); });
  link_->set_on_rtcp([this](const uint8_t* d, size_t n) { on_rtcp(d, n); });
  link_->set_on_local_candidate([this](const std::string& c) {
    if (!description_sent_) return early_candidates_.push_back(c);
    if (std::find(early_candidates_.begin(), early_candidates_.end(), c) != early_candidates_.end())
      return;
    nlohmann::json p = {{"candidate", c}};
    // Trickle of a restart names its generation; the first exchange's has none (= 0).
    if (link_->ice_generation() > 0) p["generation"] = link_->ice_generation();
    client_->relay(peer_, "candidate", p);
  });
  link_->set_on_gathering_done([this] {
    if (!description_sent_) return;
    nlohmann::json p = nlohmann::json::object();
    if (link_->ice_generation() > 0) p["generation"] = link_->ice_generation();
    client_->relay(peer_, "end-of-candidates", p);
  });
  // Offerer: the link went silent and restarted ICE; the answerer restarts on this message.
  link_->set_on_restart([this](uint32_t generation, const link::SessionDescription& local) {
    early_candidates_ = local.candidates;
    client_->relay(peer_, "ice-restart", link::RestartDescription{generation, local}.to_json());
  });
  if (offerer) {
    if (auto r = link_->start(); !r) return end("cannot start ICE: " + r.error(), kExitFailure);
    auto d = link_->local_description();
    early_candidates_ = d.candidates;
    description_sent_ = true;
    client_->relay(peer_, "offer", signed_description(d));
  }
}

nlohmann::json CallSession::signed_description(const link::SessionDescription& d) const {
  nlohmann::json j = d.to_json();
  const auto& key = *opt_.client.identity;
  j["identity"] = {{"key", key.public_key_b64()},
                   {"sig", key.sign_b64(signaling::call_proof_message(call_id_, client_->peer_id(),
                                                                      peer_, d.fingerprint))}};
  return j;
}

bool CallSession::check_peer_identity(const nlohmann::json& payload,
                                      const link::SessionDescription& d) {
  std::string key, sig;
  if (auto id = payload.find("identity"); id != payload.end() && id->is_object()) {
    if (auto k = id->find("key"); k != id->end() && k->is_string()) key = *k;
    if (auto s = id->find("sig"); s != id->end() && s->is_string()) sig = *s;
  }
  auto refuse = [&](const std::string& why) {
    if (!call_id_.empty()) client_->call_hangup(call_id_, [](const signaling::Reply&) {});
    end(why, kExitIdentity);
    return false;
  };
  // The signature covers the very fingerprint the link will demand of the peer's DTLS
  // certificate: whoever completes the handshake holds the key's blessing.
  if (key.empty() ||
      !signaling::verify_identity_signature(
          key, signaling::call_proof_message(call_id_, peer_, client_->peer_id(), d.fingerprint),
          sig))
    return refuse("refused the call: " + peer_ +
                  " did not sign its media link's fingerprint with an identity key");
  auto& known = *opt_.known_peers;
  const auto pub = signaling::decode_identity_key(key);
  const std::string fp = pub ? signaling::identity_fingerprint(*pub) : "?";
  const std::string where = known.path().empty() ? "memory" : known.path();
  switch (known.check(peer_, key)) {
    case signaling::KnownPeers::Check::kMatch:
      return true;
    case signaling::KnownPeers::Check::kNew: {
      std::string note = "new peer '" + peer_ + "': identity key " + fp + ", pinned in " + where;
      if (auto pinned = known.pin(peer_, key); !pinned)
        note += " (not saved: " + pinned.error() + ")";
      if (on_notice_)
        on_notice_(note);
      else
        std::fprintf(stderr, "meshcast call: %s\n", note.c_str());
      return true;
    }
    case signaling::KnownPeers::Check::kChanged:
      break;
  }
  auto pinned = known.key_of(peer_);
  auto old = pinned ? signaling::decode_identity_key(*pinned) : std::nullopt;
  return refuse("refused the call: the identity key of '" + peer_ + "' has changed (pinned " +
                (old ? signaling::identity_fingerprint(*old) : "?") + ", now " + fp +
                "). Someone, possibly the tracker, may be impersonating " + peer_ + ". If " +
                peer_ + " really has a new key, remove its line from " + where + ".");
}

void CallSession::on_relay(const nlohmann::json& m) {
  if (m.value("from", "") != peer_ || phase_ == CallPhase::kEnded) return;
  std::string kind = m.value("kind", "");
  const nlohmann::json& payload = m.contains("payload") ? m["payload"] : nlohmann::json();
  if (kind == "offer" && !link_ && phase_ == CallPhase::kLinking) {
    auto d = link::SessionDescription::from_json(payload);
    if (!d) return end("bad offer from " + peer_ + ": " + d.error(), kExitFailure);
    if (!check_peer_identity(payload, *d)) return;
    open_link(false);
    if (!link_) return;
    auto r = link_->set_remote_description(*d);
    if (r) r = link_->start();
    if (!r) return end("cannot answer " + peer_ + ": " + r.error(), kExitFailure);
    auto local = link_->local_description();
    early_candidates_ = local.candidates;
    description_sent_ = true;
    client_->relay(peer_, "answer", signed_description(local));
  } else if (kind == "answer" && link_) {
    auto d = link::SessionDescription::from_json(payload);
    if (!d) return end("bad answer from " + peer_ + ": " + d.error(), kExitFailure);
    if (!check_peer_identity(payload, *d)) return;
    if (auto r = link_->set_remote_description(*d); !r)
      return end("bad answer from " + peer_ + ": " + r.error(), kExitFailure);
  } else if (kind == "candidate" && link_ && payload.is_object() && payload.contains("candidate") &&
             payload["candidate"].is_string()) {
    auto g = link::parse_ice_generation(payload);
    if (g) link_->add_remote_candidate(payload["candidate"].get<std::string>(), *g);
  } else if (kind == "end-of-candidates" && link_) {
    if (auto g = link::parse_ice_generation(payload)) link_->remote_candidates_done(*g);
  } else if ((kind == "ice-restart" || kind == "ice-restart-answer") && link_) {
    on_restart_message(kind == "ice-restart", payload);
  }
}

void CallSession::on_restart_message(bool offer, const nlohmann::json& payload) {
  // A bad restart (garbled, stale, another fingerprint) is refused; the call goes on, and
  // ends only if the link cannot heal within its window.
  auto r = link::RestartDescription::from_json(payload);
  std::string err = r ? "" : r.error();
  bool expected = offer == (link_->role() == link::Role::kAnswerer);
  if (r && !expected) err = offer ? "restart offer sent to the offerer" : "unasked restart answer";
  bool applied = false;
  if (r && expected) {
    auto a = link_->set_remote_restart(r->generation, r->description);
    applied = bool(a);
    if (!a) err = std::move(a).error();
  }
  if (!applied) {
    ++restarts_rejected_;
    notice("ignored an ICE restart from " + peer_ + ": " + err);
    return;
  }
  if (!offer) return;
  auto local = link_->local_description();
  early_candidates_ = local.candidates;
  client_->relay(peer_, "ice-restart-answer",
                 link::RestartDescription{r->generation, local}.to_json());
}

void CallSession::notice(const std::string& text) {
  if (on_notice_)
    on_notice_(text);
  else
    std::fprintf(stderr, "meshcast call: %s\n", text.c_str());
}

void CallSession::on_link_state(link::LinkState st, const std::string& reason) {
  if (st == link::LinkState::kConnected && phase_ == CallPhase::kLinking) {
    link_setup_ms_ = (meshcast::monotonic_us() - link_opened_us_) / 1e3;
    phase_ = CallPhase::kInCall;
    start_media();
  } else if (st == link::LinkState::kReconnecting && phase_ == CallPhase::kInCall) {
    notice("reconnecting to " + peer_ + " (" + reason + ")");
  } else if (st == link::LinkState::kConnected && phase_ == CallPhase::kInCall) {
    healed_at_ = g_get_real_time() / 1e6;
    auto ls = link_->stats();
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.0f", ls.last_heal_ms);
    notice("reconnected to " + peer_ + " after " + ms + " ms (" + std::to_string(ls.ice_restarts) +
           " ICE restarts so far), route " + link_->route().kind());
  } else if (st == link::LinkState::kFailed) {
    end("the media link to " + peer_ + " failed: " + reason, kExitFailure);
  } else if (st == link::LinkState::kClosed && phase_ == CallPhase::kInCall) {
    end(peer_ + " hung up", kExitOk);
  }
}

void CallSession::start_media() {
  media_started_us_ = meshcast::monotonic_us();
  audio_tx_ = std::make_unique<media::AudioSender>(opt_.audio_tx, ctx_);
  audio_tx_->set_on_rtp([this](std::vector<uint8_t> p) {
    if (link_) link_->send_rtp(p.data(), p.size());
  });
  audio_tx_->set_on_error(
      [this](const std::string& e) { end("audio capture: " + e, kExitFailure); });
  audio_rx_ = std::make_unique<media::AudioReceiver>(opt_.audio_rx, ctx_);
  audio_rx_->set_on_error(
      [this](const std::string& e) { end("audio playout: " + e, kExitFailure); });
  if (on_media_created_) on_media_created_();
  if (auto r = audio_rx_->start(); !r)
    return end("cannot start audio playout: " + r.error(), kExitFailure);
  if (auto r = audio_tx_->start(); !r)
    return end("cannot start audio capture: " + r.error(), kExitFailure);
  if (opt_.video) {
    video_tx_ = std::make_unique<media::VideoSender>(opt_.video_tx, ctx_);
    video_tx_->set_on_rtp([this](std::vector<uint8_t> p) {
      if (link_) link_->send_rtp(p.data(), p.size());
    });
    video_rx_ = std::make_unique<media::VideoReceiver>(opt_.video_rx, ctx_);
    video_rx_->set_on_rtcp_feedback([this](std::vector<uint8_t> p) {
      if (link_) link_->send_rtcp(p.data(), p.size());
    });
    if (auto r = video_rx_->start(); !r)
      return end("cannot start video playout: " + r.error(), kExitFailure);
    if (auto r = video_tx_->start(); !r)
      return end("cannot start video capture: " + r.error(), kExitFailure);
  }
  report_timer_ = media::SourceGuard::timeout(1000, &CallSession::on_report_tick, this);
}

void CallSession::on_rtp(const uint8_t* d, size_t n) {
  if (n < 2) return;
  uint8_t pt = d[1] & 0x7f;
  if (audio_rx_ && pt == opt_.audio_rx.payload_type)
    audio_rx_->push_rtp({d, n});
  else if (video_rx_ && pt == opt_.video_rx.payload_type)
    video_rx_->push_rtp({d, n});
}

void CallSession::on_rtcp(const uint8_t* d, size_t n) {
  auto pkts = media::parse_rtcp({d, n});
  if (!pkts) return;
  for (auto& p : *pkts) {
    if (auto* sr = std::get_if<media::SenderReport>(&p)) {
      if (audio_rx_) audio_rx_->on_sender_report(*sr);
    } else if (auto* rr = std::get_if<media::ReceiverReport>(&p)) {
      for (auto& b : rr->reports) {
        if (!audio_tx_ || b.ssrc != audio_tx_->ssrc()) continue;
        if (auto rtt = audio_tx_->rtt_ms(b)) rtt_ms_ = *rtt;
        // The peer's measured loss steers how much FEC our encoder spends.
        loss_ewma_ = 0.7 * loss_ewma_ + 0.3 * (b.fraction_lost / 256.0);
        audio_tx_->set_expected_loss(std::clamp(int(loss_ewma_ * 100 + 0.5), 0, 50));
      }
    }
  }
  if (video_tx_) video_tx_->handle_rtcp({d, n});  // NACK / PLI
}

void CallSession::send_reports() {
  if (!link_ || !audio_tx_ || !audio_rx_) return;
  auto sr = media::build_sr(audio_tx_->make_sender_report());
  link_->send_rtcp(sr.data(), sr.size());
  auto rr = media::build_rr(audio_rx_->make_receiver_report(audio_tx_->ssrc()));
  link_->send_rtcp(rr.data(), rr.size());
}

gboolean CallSession::on_report_tick(gpointer p) {
  static_cast<CallSession*>(p)->send_reports();
  return G_SOURCE_CONTINUE;
}

namespace {
nlohmann::json route_json(const link::LinkRoute& r) {
  nlohmann::json j = {{"kind", r.kind()}};
  if (!r.selected) return j;
  j["local"] = r.local_type;
  j["remote"] = r.remote_type;
  j["local_address"] = r.local_address;
  j["remote_address"] = r.remote_address;
  j["transport"] = r.transport;
  if (!r.relay_transport.empty()) {
    j["relay_transport"] = r.relay_transport;
    j["relay_server"] = r.relay_server;
    j["relay_scheme"] = r.relay_scheme;
  }
  return j;
}

// "direct host/srflx udp", "relayed relay(tcp)/srflx udp": what the user needs to know about
// the path in one short phrase.
std::string route_text(const link::LinkRoute& r) {
  if (!r.selected) return "no route yet";
  std::string local = r.local_type;
  if (!r.relay_transport.empty()) local += "(" + r.relay_transport + ")";
  return std::string(r.kind()) + " " + local + "/" + r.remote_type + " " + r.transport;
}
}  // namespace

nlohmann::json CallSession::stats_json() const {
  nlohmann::json j;
  j["t"] = g_get_real_time() / 1e6;
  j["phase"] = to_string(phase_);
  j["peer"] = peer_;
  if (link_) j["route"] = route_json(link_->route());
  if (link_setup_ms_ >= 0) j["link_setup_ms"] = link_setup_ms_;
  if (link_) {
    auto ls = link_->stats();
    j["link_state"] = link::to_string(link_->state());
    j["ice_restarts"] = ls.ice_restarts;
    j["ice_generation"] = link_->ice_generation();
    j["heals"] = ls.heals;
    if (ls.last_heal_ms >= 0) j["last_heal_ms"] = ls.last_heal_ms;
    if (healed_at_ > 0) j["healed_at"] = healed_at_;
    j["dtls_handshakes"] = ls.dtls_handshakes;
    j["restarts_rejected"] = restarts_rejected_ + ls.stale_restart_messages;
    j["tracker_resumes"] = tracker_resumes_;
  }
  if (!audio_rx_ || !audio_tx_) return j;
  auto rx = audio_rx_->stats();
  auto tx = audio_tx_->stats();
  double secs = std::max(1e-3, (meshcast::monotonic_us() - media_started_us_) / 1e6);
  double link_rtt = link_ ? link_->stats().rtt_ms : -1;
  j["rtt_ms"] = rtt_ms_ >= 0 ? rtt_ms_ : link_rtt;
  j["loss"] = rx.reception.total_loss_ratio;
  j["jitter_ms"] = rx.reception.jitter_ms;
  j["send_kbps"] = tx.bytes_sent * 8 / 1e3 / secs;
  j["expected_loss_pct"] = tx.expected_loss_pct;
  j["frames_normal"] = rx.jitter.frames_normal;
  j["frames_fec"] = rx.jitter.frames_fec;
  j["frames_concealed"] = rx.jitter.frames_plc + rx.jitter.frames_expand;
  j["jitter_target_ms"] = rx.jitter.target_us / 1e3;
  j["data_fraction"] = rx.data_fraction();
  if (link_) {
    auto ls = link_->stats();
    j["srtp_auth_failures"] = ls.srtp_auth_failures;
    j["replays_rejected"] = ls.replays_rejected;
  }
  if (video_rx_) j["video_frames_decoded"] = video_rx_->stats().frames_decoded;
  return j;
}

std::string CallSession::status_line() const {
  auto j = stats_json();
  char buf[384];
  if (!j.contains("rtt_ms")) {
    std::snprintf(buf, sizeof buf, "call %s | %s", peer_.empty() ? "-" : peer_.c_str(),
                  to_string(phase_));
    return buf;
  }
  std::string route = link_ ? route_text(link_->route()) : "no route yet";
  if (link_ && link_->state() == link::LinkState::kReconnecting)
    route = "reconnecting (ICE restart " + std::to_string(link_->stats().ice_restarts) + ")";
  std::snprintf(buf, sizeof buf,
                "call %s | %s | rtt %.0f ms | loss %.1f%% | jitter %.1f ms | %.0f kbps | "
                "fec %llu | concealed %llu",
                peer_.c_str(), route.c_str(), j["rtt_ms"].get<double>(),
                100 * j["loss"].get<double>(), j["jitter_ms"].get<double>(),
                j["send_kbps"].get<double>(), (unsigned long long)j["frames_fec"].get<uint64_t>(),
                (unsigned long long)j["frames_concealed"].get<uint64_t>());
  return buf;
}

void CallSession::stop_media() {
  report_timer_.reset();
  if (audio_tx_) audio_tx_->stop();
  if (video_tx_) video_tx_->stop();
  if (audio_rx_) audio_rx_->stop();
  if (video_rx_) video_rx_->stop();
}

void CallSession::leave_tracker() {
  if (client_ && client_->state() == signaling::ClientState::kConnected)
    client_->leave([](const signaling::Reply&) {});
}

void CallSession::hangup() {
  if (phase_ == CallPhase::kEnded) return;
  if (!call_id_.empty() && client_) {
    if (phase_ == CallPhase::kCalling || phase_ == CallPhase::kRinging)
      client_->call_cancel(call_id_, [](const signaling::Reply&) {});
    else
      client_->call_hangup(call_id_, [](const signaling::Reply&) {});
  }
  phase_ = CallPhase::kEnded;
  stop_media();
  if (link_) link_->close();
}

void CallSession::end(const std::string& msg, int code) {
  if (phase_ == CallPhase::kEnded) return;
  // A failed link: tell the tracker so the other side hears it even if media is gone.
  if (!call_id_.empty() && client_ && phase_ == CallPhase::kInCall)
    client_->call_hangup(call_id_, [](const signaling::Reply&) {});
  phase_ = CallPhase::kEnded;
  stop_media();
  if (on_end_) on_end_(msg, code);
}

}  // namespace meshcast::app
