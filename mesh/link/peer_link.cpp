#include "mesh/link/peer_link.hpp"

#include <agent.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "mesh/base/time.hpp"
#include "mesh/link/candidate.hpp"
#include "mesh/link/packet_class.hpp"

namespace meshcast::link {
namespace {

constexpr guint kComponent = 1;
constexpr size_t kMaxRemoteCandidates = 64;
constexpr size_t kMaxPendingDtls = 32;
constexpr size_t kMaxWirePacket = 4096;
// Keepalive: RTCP APP (PT 204) named "MCLK", subtype 1 = ping, 2 = pong, carrying the
// pinger's 64-bit monotonic microseconds. 20 bytes plain.
constexpr uint8_t kPing = 1, kPong = 2;
constexpr size_t kKeepaliveLen = 20;
// A restart offer may skip generations (offers lost on the way) but not jump far ahead: a
// forged huge generation would make every later genuine offer look stale.
constexpr uint32_t kMaxGenerationStep = 64;

NiceRelayType nice_relay_type(RelayTransport t) {
  switch (t) {
    case RelayTransport::kTcp:
      return NICE_RELAY_TYPE_TURN_TCP;
    case RelayTransport::kTls:
      // libnice (RFC 5245 mode) would speak plain TURN to the TLS port: a turns: server
      // is given as TURN over TCP at its TlsTunnel.
      return NICE_RELAY_TYPE_TURN_TCP;
    case RelayTransport::kUdp:
      break;
  }
  return NICE_RELAY_TYPE_TURN_UDP;
}

const char* candidate_type_name(NiceCandidateType t) {
  switch (t) {
    case NICE_CANDIDATE_TYPE_HOST:
      return "host";
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
      return "srflx";
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
      return "prflx";
    case NICE_CANDIDATE_TYPE_RELAYED:
      return "relay";
  }
  return "?";
}

std::string address_text(const NiceAddress& a) {
  char ip[NICE_ADDRESS_STRING_LEN] = {0};
  nice_address_to_string(&a, ip);
  std::string host = nice_address_ip_version(&a) == 6 ? "[" + std::string(ip) + "]" : ip;
  return host + ":" + std::to_string(nice_address_get_port(&a));
}

}  // namespace

const char* to_string(RelayTransport t) {
  switch (t) {
    case RelayTransport::kUdp:
      return "udp";
    case RelayTransport::kTcp:
      return "tcp";
    case RelayTransport::kTls:
      return "tls";
  }
  return "?";
}

const char* to_string(LinkState s) {
  switch (s) {
    case LinkState::kNew:
      return "new";
    case LinkState::kGathering:
      return "gathering";
    case LinkState::kConnecting:
      return "connecting";
    case LinkState::kConnected:
      return "connected";
    case LinkState::kReconnecting:
      return "reconnecting";
    case LinkState::kFailed:
      return "failed";
    case LinkState::kClosed:
      return "closed";
  }
  return "?";
}

// ---------------------------------------------------------------- lifecycle

PeerLink::PeerLink(GMainContext* ctx, LinkConfig config, std::shared_ptr<Certificate> cert,
                   Role role)
    : ctx_(ctx),
      config_(std::move(config)),
      cert_(std::move(cert)),
      role_(role),
      local_setup_(role == Role::kOfferer ? DtlsSetup::kActpass : DtlsSetup::kActive) {
  g_main_context_ref(ctx_);
}

Expected<std::unique_ptr<PeerLink>, std::string> PeerLink::create(GMainContext* ctx,
                                                                  LinkConfig config,
                                                                  std::shared_ptr<Certificate> cert,
                                                                  Role role) {
  if (!ctx) return unexpected("no GMainContext");
  if (!cert || !cert->ssl_ctx()) return unexpected("no DTLS certificate");
  if (auto srtp = SrtpSession::global_init(); !srtp) return unexpected(std::move(srtp).error());
  std::unique_ptr<PeerLink> link(new PeerLink(ctx, std::move(config), std::move(cert), role));
  if (auto r = link->init(); !r) return unexpected(std::move(r).error());
  return link;
}

Expected<void, std::string> PeerLink::init() {
  config_.max_packet_size = std::clamp<size_t>(config_.max_packet_size, 12, kMaxWirePacket - 64);
  tx_buf_.resize(config_.max_packet_size + kSrtpMaxOverhead);
  rx_buf_.resize(kMaxWirePacket);
  std::random_device rd;
  keepalive_ssrc_ = rd();
  return make_agent();
}

Expected<void, std::string> PeerLink::make_agent() {
  agent_ = nice_agent_new_full(ctx_, NICE_COMPATIBILITY_RFC5245,
                               static_cast<NiceAgentOption>(NICE_AGENT_OPTION_ICE_TRICKLE |
                                                            NICE_AGENT_OPTION_CONSENT_FRESHNESS));
  if (!agent_) return unexpected("nice_agent_new_full failed");
  g_object_set(agent_, "controlling-mode", role_ == Role::kOfferer, "ice-tcp", FALSE, nullptr);
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent_), "upnp"))
    g_object_set(agent_, "upnp", FALSE, nullptr);
  if (!config_.stun_host.empty())
    g_object_set(agent_, "stun-server", config_.stun_host.c_str(), "stun-server-port",
                 static_cast<guint>(config_.stun_port), nullptr);
  for (const auto& a : config_.local_addresses) {
    NiceAddress addr;
    nice_address_init(&addr);
    if (!nice_address_set_from_string(&addr, a.c_str()))
      return unexpected("bad local address '" + a + "' (numeric IP expected)");
    nice_agent_add_local_address(agent_, &addr);
  }
  stream_id_ = nice_agent_add_stream(agent_, 1);
  if (stream_id_ == 0) return unexpected("nice_agent_add_stream failed");
  if (config_.turn_servers.size() > kMaxTurnServers)
    return unexpected("more than " + std::to_string(kMaxTurnServers) + " TURN servers");
  // libnice numbers the servers in this order (the relay candidate's local preference);
  // route() maps a selected relay candidate back to its entry that way.
  tls_tunnels_.clear();
  relay_addresses_.clear();
  for (const auto& t : config_.turn_servers) {
    RelayAddress at{t.host, t.port};
    if (t.transport == RelayTransport::kTls) {
      auto tunnel = TlsTunnel::shared(ctx_, {t.host, t.port, t.tls_name, config_.turn_ca_file});
      if (!tunnel) return unexpected(tunnel.error());
      at = {"127.0.0.1", (*tunnel)->local_port()};
      tls_tunnels_.push_back(std::move(*tunnel));
    }
    if (!nice_agent_set_relay_info(agent_, stream_id_, kComponent, at.host.c_str(), at.port,
                                   t.username.c_str(), t.password.c_str(),
                                   nice_relay_type(t.transport)))
      return unexpected("bad TURN server settings for " + t.host + ":" + std::to_string(t.port));
    relay_addresses_.push_back(std::move(at));
  }
  g_signal_connect(agent_, "new-candidate-full", G_CALLBACK(on_nice_candidate), this);
  g_signal_connect(agent_, "candidate-gathering-done", G_CALLBACK(on_nice_gathering_done), this);
  g_signal_connect(agent_, "component-state-changed", G_CALLBACK(on_nice_state), this);
  g_signal_connect(agent_, "new-selected-pair-full", G_CALLBACK(on_nice_selected_pair), this);
  if (!nice_agent_attach_recv(agent_, stream_id_, kComponent, ctx_, on_nice_recv, this))
    return unexpected("nice_agent_attach_recv failed");
  return {};
}

PeerLink::~PeerLink() {
  *alive_ = false;
  cancel_all_timers();
  if (agent_) {
    g_signal_handlers_disconnect_by_data(agent_, this);
    nice_agent_attach_recv(agent_, stream_id_, kComponent, ctx_, nullptr, nullptr);
    if (depth_ > 0) {
      // Destroyed from a callback that libnice may still be inside: release the
      // agent once the stack has unwound.
      GSource* idle = g_idle_source_new();
      g_source_set_callback(
          idle,
          [](gpointer agent) -> gboolean {
            g_object_unref(agent);
            return G_SOURCE_REMOVE;
          },
          agent_, nullptr);
      g_source_attach(idle, ctx_);
      g_source_unref(idle);
    } else {
      g_object_unref(agent_);
    }
  }
  g_main_context_unref(ctx_);
}

void PeerLink::release_agent() {
  if (!agent_) return;
  g_signal_handlers_disconnect_by_data(agent_, this);
  nice_agent_attach_recv(agent_, stream_id_, kComponent, ctx_, nullptr, nullptr);
  // Its TURN allocations are released on the server (refresh with lifetime 0) before the
  // agent goes. The unref runs later from our context (libnice completes on the
  // thread-default one, made ours here), so a restart inside one of this agent's signals
  // does not free it under libnice's feet.
  g_main_context_push_thread_default(ctx_);
  nice_agent_close_async(
      agent_, [](GObject* agent, GAsyncResult*, gpointer) { g_object_unref(agent); }, nullptr);
  g_main_context_pop_thread_default(ctx_);
  agent_ = nullptr;
  stream_id_ = 0;
}

void PeerLink::set_on_restart(RestartCallback cb) {
  auto c = std::make_shared<Callbacks>(*callbacks_);
  c->restart = std::move(cb);
  callbacks_ = std::move(c);
}

void PeerLink::set_on_rtp(PacketCallback cb) {
  auto c = std::make_shared<Callbacks>(*callbacks_);
  c->rtp = std::move(cb);
  callbacks_ = std::move(c);
}
void PeerLink::set_on_rtcp(PacketCallback cb) {
  auto c = std::make_shared<Callbacks>(*callbacks_);
  c->rtcp = std::move(cb);
  callbacks_ = std::move(c);
}
void PeerLink::set_on_local_candidate(CandidateCallback cb) {
  auto c = std::make_shared<Callbacks>(*callbacks_);
  c->candidate = std::move(cb);
  callbacks_ = std::move(c);
}
void PeerLink::set_on_gathering_done(GatheringDoneCallback cb) {
  auto c = std::make_shared<Callbacks>(*callbacks_);
  c->gathering_done = std::move(cb);
  callbacks_ = std::move(c);
}
void PeerLink::set_on_state(StateCallback cb) {
  auto c = std::make_shared<Callbacks>(*callbacks_);
  c->state = std::move(cb);
  callbacks_ = std::move(c);
}

bool PeerLink::set_state(LinkState s, const std::string& reason) {
  if (state_ == s) return true;
  if (state_ == LinkState::kFailed || state_ == LinkState::kClosed) return true;  // terminal
  state_ = s;
  if (s == LinkState::kFailed || s == LinkState::kClosed) {
    reason_ = reason;
    cancel_all_timers();
    send_impair_.clear();
    recv_impair_.clear();
    pending_dtls_in_.clear();
  }
  return emit([&](const Callbacks& c) {
    if (c.state) c.state(s, reason);
  });
}

// ---------------------------------------------------------------- offer / answer

Expected<void, std::string> PeerLink::start() {
  if (started_) return unexpected("start() called twice");
  if (state_ != LinkState::kNew) return unexpected(std::string("link is ") + to_string(state_));
  started_ = true;
  if (!nice_agent_gather_candidates(agent_, stream_id_)) {
    std::string error = "candidate gathering failed (no usable local address?)";
    fail(error);  // may destroy this: only the local reason is used after it
    return unexpected(std::move(error));
  }
  // Gathering may have completed synchronously (host candidates only).
  if (state_ == LinkState::kNew && !set_state(LinkState::kGathering, "")) return {};
  if (remote_set_) enter_connecting();
  return {};
}

SessionDescription PeerLink::local_description() const {
  SessionDescription d;
  gchar *ufrag = nullptr, *pwd = nullptr;
  if (nice_agent_get_local_credentials(agent_, stream_id_, &ufrag, &pwd)) {
    d.ufrag = ufrag;
    d.pwd = pwd;
  }
  g_free(ufrag);
  g_free(pwd);
  GSList* cands = nice_agent_get_local_candidates(agent_, stream_id_, kComponent);
  for (GSList* i = cands; i && d.candidates.size() < kMaxCandidates; i = i->next) {
    gchar* sdp =
        nice_agent_generate_local_candidate_sdp(agent_, static_cast<NiceCandidate*>(i->data));
    if (sdp) {
      std::string line = sdp;
      if (line.rfind("a=", 0) == 0) line.erase(0, 2);
      d.candidates.push_back(std::move(line));
      g_free(sdp);
    }
  }
  g_slist_free_full(cands, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  d.end_of_candidates = gathering_done_;
  d.fingerprint = cert_->fingerprint();
  d.setup = local_setup_;
  return d;
}

Expected<void, std::string> PeerLink::set_remote_description(const SessionDescription& remote) {
  if (remote_set_) return unexpected("remote description already set");
  if (state_ == LinkState::kFailed || state_ == LinkState::kClosed)
    return unexpected(std::string("link is ") + to_string(state_));
  // Re-validate: the struct may have been built in memory rather than parsed.
  auto checked = SessionDescription::from_json(remote.to_json());
  if (!checked) return unexpected("invalid remote description: " + checked.error());
  bool client;
  if (role_ == Role::kOfferer) {
    if (checked->setup == DtlsSetup::kActpass)
      return unexpected("answer has setup 'actpass'; it must be 'active' or 'passive'");
    client = checked->setup == DtlsSetup::kPassive;
  } else {
    client = checked->setup != DtlsSetup::kActive;  // actpass or passive -> we are active
    local_setup_ = client ? DtlsSetup::kActive : DtlsSetup::kPassive;
  }
  dtls_ = std::make_unique<DtlsTransport>(cert_, client, config_.cipher, checked->fingerprint);
  if (auto r = dtls_->init(); !r) {
    dtls_.reset();
    return r;
  }
  if (auto r = apply_remote_ice(*checked); !r) {
    dtls_.reset();
    return r;
  }
  remote_set_ = true;
  remote_fingerprint_ = normalize_fingerprint(checked->fingerprint);
  remote_setup_ = checked->setup;
  if (started_) enter_connecting();
  return {};
}

Expected<void, std::string> PeerLink::apply_remote_ice(const SessionDescription& d) {
  if (!nice_agent_set_remote_credentials(agent_, stream_id_, d.ufrag.c_str(), d.pwd.c_str()))
    return unexpected("libnice rejected the remote ICE credentials");
  ice_remote_set_ = true;
  std::vector<std::string> lines = std::move(pending_remote_candidates_);
  pending_remote_candidates_.clear();
  lines.insert(lines.end(), d.candidates.begin(), d.candidates.end());
  for (const auto& l : lines) {
    if (auto r = add_candidate_to_agent(l); !r)
      g_debug("meshcast link: ignoring remote candidate: %s", r.error().c_str());
  }
  if (d.end_of_candidates) remote_done_ = true;
  if (remote_done_) nice_agent_peer_candidate_gathering_done(agent_, stream_id_);
  return {};
}

// ---------------------------------------------------------------- healing

Expected<void, std::string> PeerLink::can_restart() const {
  if ((state_ != LinkState::kConnected && state_ != LinkState::kReconnecting) || !srtp_)
    return unexpected(std::string("link is ") + to_string(state_) + " (a restart needs DTLS done)");
  if (config_.heal_window_ms <= 0)
    return unexpected("this link does not heal (heal_window_ms = 0)");
  return {};
}

Expected<void, std::string> PeerLink::restart_ice() {
  if (role_ != Role::kOfferer)
    return unexpected("only the offerer (ICE controlling) starts a restart");
  if (auto r = can_restart(); !r) return r;
  if (state_ == LinkState::kConnected) {
    reconnect_since_us_ = monotonic_us();
    episode_restarts_ = 0;
    next_restart_ms_ = config_.restart_interval_ms;
    lost_reason_ = "ICE restart requested";
    ++stats_.reconnects_started;
    arm(heal_timer_, config_.heal_window_ms, on_heal_timer);
    if (!set_state(LinkState::kReconnecting, lost_reason_)) return {};
  }
  heal_attempt();
  return {};
}

bool PeerLink::lost(const std::string& reason) {
  if (config_.heal_window_ms <= 0) return fail(reason);
  reconnect_since_us_ = monotonic_us();
  episode_restarts_ = 0;
  next_restart_ms_ = config_.restart_interval_ms;
  lost_reason_ = reason;
  ++stats_.reconnects_started;
  arm(heal_timer_, config_.heal_window_ms, on_heal_timer);
  if (!set_state(LinkState::kReconnecting, reason)) return false;
  if (role_ == Role::kOfferer) return heal_attempt();
  return true;
}

bool PeerLink::heal_attempt() {
  if (state_ != LinkState::kReconnecting || episode_restarts_ >= config_.max_ice_restarts)
    return true;  // the heal timer ends it
  if (auto r = replace_ice(generation_ + 1); !r) return fail("ICE restart failed: " + r.error());
  ++episode_restarts_;
  ++stats_.ice_restarts;
  restart_grace_used_ = false;
  arm(restart_timer_, next_restart_ms_, on_restart_timer);
  next_restart_ms_ = std::min(next_restart_ms_ * 3 / 2, config_.restart_interval_max_ms);
  const SessionDescription local = local_description();
  const uint32_t g = generation_;
  return emit([&](const Callbacks& c) {
    if (c.restart) c.restart(g, local);
  });
}

Expected<void, std::string> PeerLink::replace_ice(uint32_t generation) {
  release_agent();
  ice_connected_ = false;
  ice_remote_set_ = false;
  gathering_done_ = false;
  remote_done_ = false;
  pending_remote_candidates_.clear();
  remote_candidates_.clear();
  generation_ = generation;
  if (auto r = make_agent(); !r) return r;
  // Candidates gathered synchronously are in local_description(); the owner signals that
  // first, so they are not trickled ahead of it.
  replacing_ = true;
  bool ok = nice_agent_gather_candidates(agent_, stream_id_);
  replacing_ = false;
  if (!ok) return unexpected("candidate gathering failed");
  return {};
}

Expected<void, std::string> PeerLink::set_remote_restart(uint32_t generation,
                                                         const SessionDescription& remote) {
  if (auto r = can_restart(); !r) return r;
  auto checked = SessionDescription::from_json(remote.to_json());
  if (!checked) return unexpected("invalid restart description: " + checked.error());
  // DTLS is not redone: the peer must be the one whose certificate we verified.
  if (normalize_fingerprint(checked->fingerprint) != remote_fingerprint_)
    return unexpected("restart description has another DTLS fingerprint than the link's peer");
  if (checked->setup != remote_setup_)
    return unexpected(std::string("restart description has setup '") + to_string(checked->setup) +
                      "', the link's peer said '" + to_string(remote_setup_) + "'");
  if (role_ == Role::kOfferer) {
    if (generation != generation_ || ice_remote_set_ || state_ != LinkState::kReconnecting) {
      ++stats_.stale_restart_messages;
      return unexpected("restart answer for ICE generation " + std::to_string(generation) +
                        ", the link is at " + std::to_string(generation_) +
                        (ice_remote_set_ ? " (already answered)" : ""));
    }
    return apply_remote_ice(*checked);
  }
  if (generation <= generation_ || generation > generation_ + kMaxGenerationStep) {
    ++stats_.stale_restart_messages;
    return unexpected("restart offer for ICE generation " + std::to_string(generation) +
                      ", the link is at " + std::to_string(generation_) +
                      " (must grow, by at most " + std::to_string(kMaxGenerationStep) + ")");
  }
  auto alive = alive_;
  if (state_ == LinkState::kConnected) {
    reconnect_since_us_ = monotonic_us();
    episode_restarts_ = 0;
    lost_reason_ = "the peer restarted ICE";
    ++stats_.reconnects_started;
    arm(heal_timer_, config_.heal_window_ms, on_heal_timer);
    if (!set_state(LinkState::kReconnecting, lost_reason_) || !*alive) return {};
  }
  ++stats_.ice_restarts;
  ++episode_restarts_;
  auto r = replace_ice(generation);
  if (r) r = apply_remote_ice(*checked);
  if (!r) fail("ICE restart failed: " + r.error());  // may destroy this; r is ours
  return r;
}

bool PeerLink::healed() {
  cancel(heal_timer_);
  cancel(restart_timer_);
  ++stats_.heals;
  stats_.last_heal_ms = (monotonic_us() - reconnect_since_us_) / 1000.0;
  last_rx_us_ = last_pong_us_ = monotonic_us();
  return set_state(LinkState::kConnected, "");
}

bool PeerLink::enter_connecting() {
  if (state_ != LinkState::kGathering && state_ != LinkState::kNew) return true;
  arm(connect_timer_, config_.connect_timeout_ms, on_connect_timer);
  if (!set_state(LinkState::kConnecting, "")) return false;
  if (ice_connected_) on_ice_connected();
  return true;
}

Expected<void, std::string> PeerLink::add_remote_candidate(const std::string& candidate) {
  if (state_ == LinkState::kFailed || state_ == LinkState::kClosed)
    return unexpected(std::string("link is ") + to_string(state_));
  auto info = parse_candidate(candidate);
  if (!info) return unexpected(std::move(info).error());
  if (info->component != kComponent)
    return unexpected("candidate for component " + std::to_string(info->component) +
                      " (only component 1 exists: RTP/RTCP mux)");
  std::string line = candidate.rfind("a=", 0) == 0 ? candidate.substr(2) : candidate;
  if (!ice_remote_set_) {
    if (pending_remote_candidates_.size() >= kMaxRemoteCandidates)
      return unexpected("too many remote candidates");
    pending_remote_candidates_.push_back(std::move(line));
    return {};
  }
  return add_candidate_to_agent(line);
}

Expected<void, std::string> PeerLink::add_candidate_to_agent(const std::string& line) {
  if (std::find(remote_candidates_.begin(), remote_candidates_.end(), line) !=
      remote_candidates_.end())
    return {};  // trickled and also in the description
  if (remote_candidates_.size() >= kMaxRemoteCandidates)
    return unexpected("too many remote candidates");
  std::string sdp = "a=" + line;
  NiceCandidate* c = nice_agent_parse_remote_candidate_sdp(agent_, stream_id_, sdp.c_str());
  if (!c) return unexpected("libnice could not parse candidate '" + line + "'");
  if (c->component_id != kComponent) {
    const guint component = c->component_id;
    nice_candidate_free(c);
    return unexpected("candidate for component " + std::to_string(component) +
                      " (only component 1 exists: RTP/RTCP mux)");
  }
  GSList* list = g_slist_append(nullptr, c);
  int n = nice_agent_set_remote_candidates(agent_, stream_id_, kComponent, list);
  g_slist_free(list);
  nice_candidate_free(c);
  if (n < 0) return unexpected("libnice rejected candidate '" + line + "'");
  remote_candidates_.push_back(line);
  return {};
}

void PeerLink::remote_candidates_done() {
  remote_done_ = true;
  if (ice_remote_set_) nice_agent_peer_candidate_gathering_done(agent_, stream_id_);
}

Expected<void, std::string> PeerLink::add_remote_candidate(const std::string& candidate,
                                                           uint32_t generation) {
  if (generation != generation_) {
    ++stats_.stale_restart_messages;
    return unexpected("candidate of ICE generation " + std::to_string(generation) +
                      ", the link is at " + std::to_string(generation_));
  }
  return add_remote_candidate(candidate);
}

void PeerLink::remote_candidates_done(uint32_t generation) {
  if (generation == generation_)
    remote_candidates_done();
  else
    ++stats_.stale_restart_messages;
}

// ---------------------------------------------------------------- libnice signals

void PeerLink::on_nice_candidate(NiceAgent* agent, NiceCandidate* cand, gpointer self) {
  auto* l = static_cast<PeerLink*>(self);
  if (l->replacing_) return;  // part of the restart description
  gchar* sdp = nice_agent_generate_local_candidate_sdp(agent, cand);
  if (!sdp) return;
  std::string line = sdp;
  g_free(sdp);
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  l->emit([&](const Callbacks& c) {
    if (c.candidate) c.candidate(line);
  });
}

void PeerLink::on_nice_gathering_done(NiceAgent*, guint, gpointer self) {
  auto* l = static_cast<PeerLink*>(self);
  l->gathering_done_ = true;
  if (l->replacing_) return;  // the restart description says end_of_candidates
  l->emit([&](const Callbacks& c) {
    if (c.gathering_done) c.gathering_done();
  });
}

void PeerLink::on_nice_state(NiceAgent*, guint, guint, guint state, gpointer self) {
  auto* l = static_cast<PeerLink*>(self);
  if (state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) {
    if (!l->ice_connected_) {
      l->ice_connected_ = true;
      l->apply_socket_buffers();
      if (l->state_ == LinkState::kConnecting) l->on_ice_connected();
      // A new ICE generation has a pair: ping at once; the pong (any authenticated packet)
      // ends the reconnect.
      if (l->state_ == LinkState::kReconnecting) l->send_keepalive(kPing, monotonic_us());
    }
  } else if (state == NICE_COMPONENT_STATE_FAILED) {
    if (l->state_ == LinkState::kReconnecting) return;  // the next restart or the heal timer
    if (l->state_ == LinkState::kConnected)
      l->lost("ICE consent lost (peer stopped answering connectivity checks)");
    else if (l->state_ != LinkState::kFailed && l->state_ != LinkState::kClosed)
      l->fail("ICE failed: no candidate pair could connect");
  }
}

void PeerLink::on_nice_selected_pair(NiceAgent*, guint, guint, NiceCandidate*, NiceCandidate*,
                                     gpointer self) {
  static_cast<PeerLink*>(self)->apply_socket_buffers();
}

void PeerLink::apply_socket_buffers() {
  // Loopback bursts overflow the default 208 KiB buffers; the kernel caps the
  // request at net.core.rmem_max / wmem_max.
  if (config_.socket_buffer_bytes <= 0) return;
  GSocket* s = nice_agent_get_selected_socket(agent_, stream_id_, kComponent);
  if (!s) return;
  int fd = g_socket_get_fd(s);
  int size = config_.socket_buffer_bytes;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  socklen_t len = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) == 0) stats_.socket_rcvbuf_bytes = size;
  len = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) == 0) stats_.socket_sndbuf_bytes = size;
  g_object_unref(s);
}

void PeerLink::on_ice_connected() {
  if (!dtls_) return;
  dtls_->start(monotonic_us());  // client: ClientHello; server: no-op until the hello arrives
  auto early = std::move(pending_dtls_in_);
  pending_dtls_in_.clear();
  auto alive = alive_;
  for (auto& p : early) {
    if (!handle_dtls(p.data(), p.size()) || !*alive) return;
  }
  after_dtls_activity();
}

// ---------------------------------------------------------------- receive path

void PeerLink::on_nice_recv(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer self) {
  static_cast<PeerLink*>(self)->receive_wire(reinterpret_cast<const uint8_t*>(buf), len);
}

bool PeerLink::receive_wire(const uint8_t* data, size_t len) {
  if (state_ == LinkState::kFailed || state_ == LinkState::kClosed) return true;
  ++stats_.wire_packets_received;
  stats_.wire_bytes_received += len;
  if (!recv_impair_.active()) return process_incoming(data, len);
  PacketClass cls = classify_packet(data, len);
  std::vector<ImpairmentStage::Packet> ready;
  recv_impair_.push(ImpairmentStage::Packet(data, data + len),
                    cls == PacketClass::kRtp || cls == PacketClass::kRtcp, monotonic_us(), ready);
  for (auto& p : ready)
    if (!process_incoming(p.data(), p.size())) return false;
  arm_impairment_timer(Direction::kReceive);
  return true;
}

void PeerLink::inject_raw_for_test(const uint8_t* data, size_t len) { process_incoming(data, len); }

bool PeerLink::replay_last_received_for_test() {
  if (last_protected_.empty()) return false;
  std::vector<uint8_t> copy = last_protected_;
  process_incoming(copy.data(), copy.size());
  return true;
}

bool PeerLink::process_incoming(const uint8_t* data, size_t len) {
  if (state_ == LinkState::kFailed || state_ == LinkState::kClosed) return true;
  switch (classify_packet(data, len)) {
    case PacketClass::kDtls:
      if (!dtls_ || !ice_connected_) {
        // DTLS before the remote description or before our ICE side is ready to
        // answer: keep a few and handle them once we can.
        if (pending_dtls_in_.size() < kMaxPendingDtls)
          pending_dtls_in_.emplace_back(data, data + len);
        return true;
      }
      if (!handle_dtls(data, len)) return false;
      return after_dtls_activity();
    case PacketClass::kRtp:
      return handle_srtp(data, len, false);
    case PacketClass::kRtcp:
      return handle_srtp(data, len, true);
    case PacketClass::kStun:  // libnice consumes STUN; anything left is noise
    case PacketClass::kUnknown:
      ++stats_.unknown_packets;
      return true;
  }
  return true;
}

bool PeerLink::handle_srtp(const uint8_t* data, size_t len, bool rtcp) {
  if (!srtp_ || len > rx_buf_.size()) {
    ++stats_.unknown_packets;  // media before keys exist, or absurdly large
    return true;
  }
  last_protected_.assign(data, data + len);
  std::memcpy(rx_buf_.data(), data, len);
  int n = static_cast<int>(len);
  auto st =
      rtcp ? srtp_->unprotect_rtcp(rx_buf_.data(), n) : srtp_->unprotect_rtp(rx_buf_.data(), n);
  switch (st) {
    case SrtpSession::Status::kOk:
      break;
    case SrtpSession::Status::kAuthFail:
      ++stats_.srtp_auth_failures;
      return true;
    case SrtpSession::Status::kReplay:
      ++stats_.replays_rejected;
      return true;
    case SrtpSession::Status::kError:
      ++stats_.srtp_auth_failures;
      return true;
  }
  last_rx_us_ = monotonic_us();
  const int64_t pong_before = last_pong_us_;
  const bool keepalive = rtcp && handle_keepalive(rx_buf_.data(), static_cast<size_t>(n));
  // A reconnect ends on a round trip for the offerer (its ping answered: both directions
  // work), on any authenticated packet for the answerer (it cannot restart anyway).
  if (state_ == LinkState::kReconnecting && ice_connected_ &&
      (role_ == Role::kAnswerer || last_pong_us_ != pong_before) && !healed())
    return false;
  if (keepalive) return true;
  ++stats_.packets_received;
  stats_.bytes_received += static_cast<size_t>(n);
  const uint8_t* p = rx_buf_.data();
  size_t plen = static_cast<size_t>(n);
  return emit([&](const Callbacks& c) {
    if (rtcp ? bool(c.rtcp) : bool(c.rtp)) (rtcp ? c.rtcp : c.rtp)(p, plen);
  });
}

bool PeerLink::handle_keepalive(const uint8_t* d, size_t len) {
  if (len != kKeepaliveLen || d[1] != 204 || std::memcmp(d + 8, "MCLK", 4) != 0) return false;
  uint8_t subtype = d[0] & 0x1f;
  uint64_t stamp = 0;
  for (int i = 0; i < 8; ++i) stamp = (stamp << 8) | d[12 + i];
  ++stats_.keepalives_received;
  if (subtype == kPing) {
    send_keepalive(kPong, stamp);
    // The peer has a path to us now; our own ping's round trip ends a reconnect, so ask at
    // once instead of at the next keepalive tick (an earlier pong may have found no pair).
    if (state_ == LinkState::kReconnecting && role_ == Role::kOfferer && ice_connected_)
      send_keepalive(kPing, static_cast<uint64_t>(monotonic_us()));
  } else if (subtype == kPong) {
    int64_t rtt = monotonic_us() - static_cast<int64_t>(stamp);
    if (rtt >= 0 && rtt < 60'000'000) {
      last_pong_us_ = monotonic_us();
      double ms = rtt / 1000.0;
      stats_.rtt_ms = stats_.rtt_ms < 0 ? ms : 0.875 * stats_.rtt_ms + 0.125 * ms;
      stats_.rtt_last_ms = ms;
      ++stats_.rtt_samples;
    }
  }
  return true;
}

bool PeerLink::handle_dtls(const uint8_t* data, size_t len) {
  last_rx_us_ = monotonic_us();
  dtls_->handle_datagram(data, len, last_rx_us_);
  return true;
}

// Reacts to a DTLS state change: flush its output, arm its timer, key SRTP.
bool PeerLink::after_dtls_activity() {
  flush_dtls();
  switch (dtls_->state()) {
    case DtlsTransport::State::kFailed:
      return fail(dtls_->error());
    case DtlsTransport::State::kClosed:
      return set_state(LinkState::kClosed, "peer closed the link (DTLS close_notify)");
    case DtlsTransport::State::kConnected:
      cancel(dtls_timer_);
      if (!srtp_) {
        const auto& k = dtls_->keys();
        auto srtp = SrtpSession::create(k.cipher, k.local_key_salt.data(), k.remote_key_salt.data(),
                                        config_.replay_window);
        if (!srtp) return fail("SRTP setup failed: " + srtp.error());
        srtp_ = std::move(*srtp);
        stats_.cipher = k.cipher;
        ++stats_.dtls_handshakes;
        cancel(connect_timer_);
        last_rx_us_ = last_pong_us_ = monotonic_us();
        // A first RTT before any media crosses the link: the uplink estimate takes it for
        // the path's floor, and one measured later, under load, would hide the queue.
        send_keepalive(kPing, static_cast<uint64_t>(monotonic_us()));
        arm(keepalive_timer_, config_.keepalive_interval_ms, on_keepalive_timer);
        return set_state(LinkState::kConnected, "");
      }
      return true;
    default:
      arm_dtls_timer();
      return true;
  }
}

void PeerLink::flush_dtls() {
  for (auto& d : dtls_->take_outgoing()) send_wire(d.data(), d.size(), false);
}

// ---------------------------------------------------------------- send path

PeerLink::SendResult PeerLink::send_rtp(const uint8_t* data, size_t len) {
  if (len < 12 || (data[0] & 0xc0) != 0x80)
    return unexpected("not an RTP packet (version 2, >= 12 bytes)");
  if (data[1] >= 192 && data[1] <= 223)
    return unexpected("RTP marker+payload type collides with RTCP types 192-223 (RFC 5761)");
  return send_protected(data, len, false);
}

PeerLink::SendResult PeerLink::send_rtcp(const uint8_t* data, size_t len) {
  if (len < 8 || (data[0] & 0xc0) != 0x80 || data[1] < 192 || data[1] > 223)
    return unexpected("not an RTCP packet (version 2, type 192-223, >= 8 bytes)");
  return send_protected(data, len, true);
}

PeerLink::SendResult PeerLink::send_protected(const uint8_t* data, size_t len, bool rtcp) {
  if (state_ != LinkState::kConnected || !srtp_) return unexpected("link not connected");
  if (len > config_.max_packet_size) return unexpected("packet larger than max_packet_size");
  std::memcpy(tx_buf_.data(), data, len);
  int n = static_cast<int>(len);
  auto st = rtcp ? srtp_->protect_rtcp(tx_buf_.data(), n) : srtp_->protect_rtp(tx_buf_.data(), n);
  if (st != SrtpSession::Status::kOk)
    return unexpected("SRTP protect failed (repeated sequence number?)");
  ++stats_.packets_sent;
  stats_.bytes_sent += len;
  if (send_impair_.active()) {
    send_wire(tx_buf_.data(), static_cast<size_t>(n), true);
    return {};
  }
  if (!nice_send(tx_buf_.data(), static_cast<size_t>(n)))
    return unexpected("socket send failed (buffer full or no selected pair)");
  return {};
}

void PeerLink::send_keepalive(uint8_t subtype, uint64_t stamp) {
  if (!srtp_) return;
  uint8_t* b = tx_buf_.data();
  b[0] = 0x80 | subtype;
  b[1] = 204;
  b[2] = 0;
  b[3] = 4;  // length in 32-bit words minus one
  for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<uint8_t>(keepalive_ssrc_ >> (24 - 8 * i));
  std::memcpy(b + 8, "MCLK", 4);
  for (int i = 0; i < 8; ++i) b[12 + i] = static_cast<uint8_t>(stamp >> (56 - 8 * i));
  int n = kKeepaliveLen;
  if (srtp_->protect_rtcp(b, n) != SrtpSession::Status::kOk) return;
  ++stats_.keepalives_sent;
  send_wire(b, static_cast<size_t>(n), true);
}

void PeerLink::send_wire(const uint8_t* data, size_t len, bool may_corrupt) {
  if (!send_impair_.active()) {
    nice_send(data, len);
    return;
  }
  std::vector<ImpairmentStage::Packet> ready;
  send_impair_.push(ImpairmentStage::Packet(data, data + len), may_corrupt, monotonic_us(), ready);
  for (auto& p : ready) nice_send(p.data(), p.size());
  arm_impairment_timer(Direction::kSend);
}

bool PeerLink::nice_send(const uint8_t* data, size_t len) {
  gint r = nice_agent_send(agent_, stream_id_, kComponent, static_cast<guint>(len),
                           reinterpret_cast<const gchar*>(data));
  if (r < 0) {
    ++stats_.send_errors;
    return false;
  }
  ++stats_.wire_packets_sent;
  stats_.wire_bytes_sent += len;
  return true;
}

// ---------------------------------------------------------------- impairment

void PeerLink::set_impairment(Direction dir, const Impairment& imp) {
  (dir == Direction::kSend ? send_impair_ : recv_impair_).set(imp);
}

void PeerLink::set_impairment(const Impairment& send, const Impairment& receive) {
  send_impair_.set(send);
  recv_impair_.set(receive);
}

void PeerLink::arm_impairment_timer(Direction dir) {
  ImpairmentStage& st = dir == Direction::kSend ? send_impair_ : recv_impair_;
  Timer& t = dir == Direction::kSend ? send_impair_timer_ : recv_impair_timer_;
  int64_t due = st.next_due_us();
  cancel(t);
  if (due < 0) return;
  arm(t, static_cast<int>(ms_until(due, monotonic_us())),
      dir == Direction::kSend ? on_send_impair_timer : on_recv_impair_timer);
}

bool PeerLink::release_impaired(Direction dir) {
  std::vector<ImpairmentStage::Packet> ready;
  (dir == Direction::kSend ? send_impair_ : recv_impair_).pop_due(monotonic_us(), ready);
  for (auto& p : ready) {
    if (dir == Direction::kSend)
      nice_send(p.data(), p.size());
    else if (!process_incoming(p.data(), p.size()))
      return false;
  }
  arm_impairment_timer(dir);
  return true;
}

// ---------------------------------------------------------------- timers

void PeerLink::arm(Timer& t, int ms, GSourceFunc fn) {
  cancel(t);
  t.source = g_timeout_source_new(static_cast<guint>(std::max(0, ms)));
  g_source_set_callback(t.source, fn, this, nullptr);
  g_source_attach(t.source, ctx_);
}

void PeerLink::cancel(Timer& t) {
  if (!t.source) return;
  g_source_destroy(t.source);
  g_source_unref(t.source);
  t.source = nullptr;
}

void PeerLink::cancel_all_timers() {
  cancel(dtls_timer_);
  cancel(connect_timer_);
  cancel(keepalive_timer_);
  cancel(send_impair_timer_);
  cancel(recv_impair_timer_);
  cancel(heal_timer_);
  cancel(restart_timer_);
}

void PeerLink::arm_dtls_timer() {
  const std::optional<TimeUs> at = dtls_ ? dtls_->next_deadline() : std::nullopt;
  if (!at) {
    cancel(dtls_timer_);
    return;
  }
  arm(dtls_timer_, static_cast<int>(ms_until(*at, monotonic_us())), on_dtls_timer);
}

// Each handler runs a one-shot source: forget it first (GLib destroys it on return).
#define MESHCAST_TIMER_FIRED(link, timer)    \
  auto* link = static_cast<PeerLink*>(self); \
  g_source_unref(link->timer.source);        \
  link->timer.source = nullptr

gboolean PeerLink::on_dtls_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, dtls_timer_);
  if (l->dtls_ && l->state_ == LinkState::kConnecting) {
    l->dtls_->on_timer(monotonic_us());
    l->after_dtls_activity();
  }
  return G_SOURCE_REMOVE;
}

gboolean PeerLink::on_connect_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, connect_timer_);
  std::string what = !l->ice_connected_ ? "ICE did not connect" : "DTLS handshake did not finish";
  l->fail("connect timeout after " + std::to_string(l->config_.connect_timeout_ms) +
          " ms: " + what);
  return G_SOURCE_REMOVE;
}

gboolean PeerLink::on_keepalive_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, keepalive_timer_);
  if (l->state_ == LinkState::kConnected) {
    int64_t silent_ms = (monotonic_us() - l->last_rx_us_) / 1000;
    // The offerer of a healing link also watches round trips: when only its own direction
    // is cut, the peer's pings still arrive but its pongs never do. Three liveness periods
    // (18 pings), so heavy random loss does not look like a cut: at 50 % loss each way a
    // round trip fails 3 times in 4, and 18 in a row happen with p = 0.6 %.
    int64_t unanswered_ms = (monotonic_us() - l->last_pong_us_) / 1000;
    bool one_way = l->config_.heal_window_ms > 0 && l->role_ == Role::kOfferer &&
                   unanswered_ms >= 3 * int64_t{l->config_.liveness_timeout_ms};
    if (silent_ms >= l->config_.liveness_timeout_ms) {
      if (!l->lost("peer unresponsive: nothing received for " + std::to_string(silent_ms) + " ms"))
        return G_SOURCE_REMOVE;
    } else if (one_way) {
      if (!l->lost("keepalives unanswered for " + std::to_string(unanswered_ms) +
                   " ms (the path to the peer is cut)"))
        return G_SOURCE_REMOVE;
    } else {
      l->send_keepalive(kPing, static_cast<uint64_t>(monotonic_us()));
    }
  } else if (l->state_ == LinkState::kReconnecting) {
    // Pings on whatever pair the current ICE generation has; a pong heals.
    if (l->ice_connected_) l->send_keepalive(kPing, static_cast<uint64_t>(monotonic_us()));
  }
  if (l->state_ == LinkState::kConnected || l->state_ == LinkState::kReconnecting)
    l->arm(l->keepalive_timer_, l->config_.keepalive_interval_ms, on_keepalive_timer);
  return G_SOURCE_REMOVE;
}

gboolean PeerLink::on_heal_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, heal_timer_);
  if (l->state_ != LinkState::kReconnecting) return G_SOURCE_REMOVE;
  int64_t ms = (monotonic_us() - l->reconnect_since_us_) / 1000;
  l->fail("could not reconnect within " + std::to_string(ms) + " ms (" +
          std::to_string(l->episode_restarts_) + " ICE restarts; heal window " +
          std::to_string(l->config_.heal_window_ms) + " ms) after: " + l->lost_reason_);
  return G_SOURCE_REMOVE;
}

gboolean PeerLink::on_restart_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, restart_timer_);
  // The current generation has a pair and is pinging on it: its round trip may be a moment
  // away (the answer came late through the signalling path), so give it two more pings
  // before throwing it away.
  if (l->state_ == LinkState::kReconnecting && l->ice_connected_ && !l->restart_grace_used_) {
    l->restart_grace_used_ = true;
    l->arm(l->restart_timer_, 2 * l->config_.keepalive_interval_ms, on_restart_timer);
    return G_SOURCE_REMOVE;
  }
  l->heal_attempt();
  return G_SOURCE_REMOVE;
}

gboolean PeerLink::on_send_impair_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, send_impair_timer_);
  l->release_impaired(Direction::kSend);
  return G_SOURCE_REMOVE;
}

gboolean PeerLink::on_recv_impair_timer(gpointer self) {
  MESHCAST_TIMER_FIRED(l, recv_impair_timer_);
  l->release_impaired(Direction::kReceive);
  return G_SOURCE_REMOVE;
}

// ---------------------------------------------------------------- misc

LinkRoute PeerLink::route() const {
  LinkRoute r;
  NiceCandidate *local = nullptr, *remote = nullptr;
  if (!agent_ || !nice_agent_get_selected_pair(agent_, stream_id_, kComponent, &local, &remote) ||
      !local || !remote)
    return r;
  r.selected = true;
  r.local_type = candidate_type_name(local->type);
  r.remote_type = candidate_type_name(remote->type);
  r.local_address = address_text(local->addr);
  r.remote_address = address_text(remote->addr);
  r.transport = nice_candidate_transport_to_string(remote->transport);
  if (local->type == NICE_CANDIDATE_TYPE_RELAYED) {
    NiceAddress server;
    nice_address_init(&server);
    nice_candidate_relay_address(local, &server);
    r.relay_server = address_text(server);
    // libnice gives each TURN server a unique local preference: its position in the list
    // we set (priority bits 14-16, i.e. local preference bits 6-8). libnice has no other
    // public way to tell how the relay is reached; the address must agree.
    size_t index = (local->priority >> 14) & 0x7;
    const auto& servers = config_.turn_servers;
    // Where libnice was told the server is (a turns: server's: its tunnel).
    auto same_address = [&](size_t i) {
      if (i >= relay_addresses_.size()) return false;
      NiceAddress a;
      nice_address_init(&a);
      if (!nice_address_set_from_string(&a, relay_addresses_[i].host.c_str())) return false;
      nice_address_set_port(&a, relay_addresses_[i].port);
      return nice_address_equal(&a, &server) != FALSE;
    };
    const TurnServer* match = nullptr;
    if (index < servers.size() && same_address(index)) {
      match = &servers[index];
    } else {
      for (size_t i = 0; i < servers.size() && !match; ++i)
        if (same_address(i)) match = &servers[i];
    }
    if (match) {
      r.relay_scheme = match->transport == RelayTransport::kTls ? "turns" : "turn";
      r.relay_transport = to_string(match->transport);
      if (match->transport == RelayTransport::kTls)
        r.relay_server = match->host + ":" + std::to_string(match->port);
    } else {
      r.relay_transport = "?";
    }
  }
  return r;
}

LinkStats PeerLink::stats() const {
  LinkStats s = stats_;
  const auto& a = send_impair_.counters();
  const auto& b = recv_impair_.counters();
  s.impaired_dropped = a.dropped + b.dropped;
  s.impaired_corrupted = a.corrupted + b.corrupted;
  s.impaired_duplicated = a.duplicated + b.duplicated;
  s.impaired_overflow = a.overflow + b.overflow;
  return s;
}

void PeerLink::close() {
  if (state_ == LinkState::kFailed || state_ == LinkState::kClosed) return;
  if (dtls_) {
    dtls_->close();
    // close_notify goes out unimpaired: the peer should learn about it.
    for (auto& d : dtls_->take_outgoing()) nice_send(d.data(), d.size());
  }
  set_state(LinkState::kClosed, "closed locally");
}

}  // namespace meshcast::link
