// PeerLink: one secure peer-to-peer media link.
//   libnice ICE (RFC 5245, one stream, one component, trickle) on the caller's
//   GMainContext -> DTLS 1.2 handshake (OpenSSL, fingerprint checked against the
//   remote description) -> DTLS-SRTP keys -> libsrtp protect/unprotect.
// Everything (libnice, timers, callbacks) runs on that context's thread; no threads.
//
// Usage: create(), set callbacks, start() (gathers candidates), exchange
// local_description()/set_remote_description() and trickle candidates through
// signaling, wait for on_state(kConnected), then send_rtp/send_rtcp.
//
// Destruction: a PeerLink may be destroyed at any time on the context thread,
// including from inside its own callbacks; the method that invoked the callback
// returns without touching the object, and the libnice agent is released from an
// idle source on the context.
#pragma once
#include <glib.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mesh/base/expected.hpp"
#include "mesh/link/certificate.hpp"
#include "mesh/link/dtls_transport.hpp"
#include "mesh/link/impairment.hpp"
#include "mesh/link/link_types.hpp"
#include "mesh/link/session_description.hpp"
#include "mesh/link/srtp_session.hpp"
#include "mesh/link/tls_tunnel.hpp"

typedef struct _NiceAgent NiceAgent;
typedef struct _NiceCandidate NiceCandidate;

namespace meshcast::link {

class PeerLink {
 public:
  using PacketCallback = std::function<void(const uint8_t* data, size_t len)>;
  using CandidateCallback = std::function<void(const std::string& candidate)>;
  using GatheringDoneCallback = std::function<void()>;
  using StateCallback = std::function<void(LinkState state, const std::string& reason)>;
  // Offerer: a new ICE generation started (restart); signal `local` to the peer as a restart
  // offer with `generation`, then the candidates trickled after it, tagged the same.
  using RestartCallback = std::function<void(uint32_t generation, const SessionDescription& local)>;

  enum class Direction { kSend, kReceive };

  // Result of send_rtp/send_rtcp: sent, or a static reason string (no allocation on the
  // per-packet path).
  using SendResult = Expected<void, const char*>;

  // The reason instead if libnice/OpenSSL/libsrtp setup fails. `cert` may be shared
  // by many links (Certificate::process_default()).
  static Expected<std::unique_ptr<PeerLink>, std::string> create(GMainContext* ctx,
                                                                 LinkConfig config,
                                                                 std::shared_ptr<Certificate> cert,
                                                                 Role role);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  // Callbacks (invoked on the context thread). Set them before start().
  void set_on_rtp(PacketCallback cb);
  void set_on_rtcp(PacketCallback cb);
  void set_on_local_candidate(CandidateCallback cb);
  void set_on_gathering_done(GatheringDoneCallback cb);
  void set_on_state(StateCallback cb);
  void set_on_restart(RestartCallback cb);

  // Starts candidate gathering (state kGathering). Call once.
  Expected<void, std::string> start();
  // ICE credentials, candidates gathered so far, fingerprint and DTLS setup role.
  // The answerer must call set_remote_description(offer) first so its setup role
  // answers the offer's.
  SessionDescription local_description() const;
  // Validates the setup role against ours, installs ICE credentials and the expected
  // DTLS fingerprint, adds the description's candidates. Call once.
  Expected<void, std::string> set_remote_description(const SessionDescription& remote);
  // Trickled candidate ("candidate:..." or "a=candidate:..."), validated like the
  // ones in a description. May arrive before set_remote_description (buffered).
  Expected<void, std::string> add_remote_candidate(const std::string& candidate);
  // The peer's end-of-candidates.
  void remote_candidates_done();

  // ICE restarts (docs/link.md, "Healing"). Generation 0 is the first offer/answer; each
  // restart uses a higher one. Only the ICE layer is replaced (a fresh libnice agent: new
  // ufrag/pwd, candidates gathered again, TURN allocated again); DTLS and SRTP stay.
  uint32_t ice_generation() const { return generation_; }
  // Offerer, connected or reconnecting: start generation ice_generation()+1 now (the link
  // also does this itself when it goes silent). Emits on_restart.
  Expected<void, std::string> restart_ice();
  // The peer's restart description for `generation`: the answerer takes an offer of a
  // higher generation (replaces its ICE layer, then local_description() is the answer), the
  // offerer the answer to its current generation. The fingerprint and setup must be those of
  // the first exchange. Anything else is rejected with the reason and changes nothing.
  Expected<void, std::string> set_remote_restart(uint32_t generation,
                                                 const SessionDescription& remote);
  // Trickle of a given generation: another generation's candidates are rejected (stale).
  Expected<void, std::string> add_remote_candidate(const std::string& candidate,
                                                   uint32_t generation);
  void remote_candidates_done(uint32_t generation);

  // Plain RTP / RTCP in; sent SRTP / SRTCP protected. Fails if not connected, too
  // large (> LinkConfig::max_packet_size), malformed, or the socket refused it.
  SendResult send_rtp(const uint8_t* data, size_t len);
  SendResult send_rtcp(const uint8_t* data, size_t len);

  // Impairment of raw UDP payloads: after protection (kSend) or before
  // unprotection (kReceive). Takes effect immediately; a default Impairment{} turns
  // it off (already delayed packets are still delivered).
  void set_impairment(Direction dir, const Impairment& imp);
  // Both directions at once.
  void set_impairment(const Impairment& send, const Impairment& receive);

  LinkStats stats() const;
  // The candidate pair ICE selected (read from libnice each time; it can change).
  LinkRoute route() const;
  LinkState state() const { return state_; }
  // Why the link failed or closed ("" otherwise).
  const std::string& reason() const { return reason_; }
  Role role() const { return role_; }
  bool dtls_client() const { return dtls_ && dtls_->is_client(); }

  // Sends DTLS close_notify (the peer reports kClosed) and stops; state kClosed.
  void close();

  // Test hooks: feed bytes as if they came from the socket (no impairment), or
  // re-feed the last protected RTP/RTCP packet received so replay rejection shows.
  void inject_raw_for_test(const uint8_t* data, size_t len);
  bool replay_last_received_for_test();

 private:
  struct Callbacks {
    PacketCallback rtp, rtcp;
    CandidateCallback candidate;
    GatheringDoneCallback gathering_done;
    StateCallback state;
    RestartCallback restart;
  };
  // A one-shot GLib timeout owned by the link.
  struct Timer {
    GSource* source = nullptr;
  };

  PeerLink(GMainContext* ctx, LinkConfig config, std::shared_ptr<Certificate> cert, Role role);
  Expected<void, std::string> init();
  // A libnice agent with one stream (ours), relays and signals set; not gathering yet.
  Expected<void, std::string> make_agent();
  // Disconnects the agent and releases it from an idle source (we may be inside its signal).
  void release_agent();
  // Replaces the ICE layer (new agent, gathering started); generation_ = generation.
  Expected<void, std::string> replace_ice(uint32_t generation);
  Expected<void, std::string> apply_remote_ice(const SessionDescription& d);
  // kConnected went silent or lost its pair: heal (kReconnecting) or fail.
  bool lost(const std::string& reason);
  bool heal_attempt();
  bool healed();

  // libnice callbacks.
  static void on_nice_recv(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer self);
  static void on_nice_candidate(NiceAgent*, NiceCandidate* cand, gpointer self);
  static void on_nice_gathering_done(NiceAgent*, guint stream, gpointer self);
  static void on_nice_state(NiceAgent*, guint stream, guint comp, guint state, gpointer self);
  static void on_nice_selected_pair(NiceAgent*, guint, guint, NiceCandidate*, NiceCandidate*,
                                    gpointer self);

  // Every method returning bool below returns false when `this` was destroyed by a
  // callback it invoked; the caller must then return at once.
  bool receive_wire(const uint8_t* data, size_t len);
  bool process_incoming(const uint8_t* data, size_t len);
  bool handle_dtls(const uint8_t* data, size_t len);
  bool handle_srtp(const uint8_t* data, size_t len, bool rtcp);
  bool after_dtls_activity();
  void flush_dtls();
  void send_wire(const uint8_t* data, size_t len, bool may_corrupt);
  bool nice_send(const uint8_t* data, size_t len);
  SendResult send_protected(const uint8_t* data, size_t len, bool rtcp);
  void send_keepalive(uint8_t subtype, uint64_t stamp);
  bool handle_keepalive(const uint8_t* data, size_t len);

  // A restart needs a finished DTLS handshake (connected or reconnecting) and healing on.
  Expected<void, std::string> can_restart() const;
  bool set_state(LinkState s, const std::string& reason);
  bool fail(const std::string& reason) { return set_state(LinkState::kFailed, reason); }
  bool enter_connecting();
  void on_ice_connected();
  void apply_socket_buffers();
  Expected<void, std::string> add_candidate_to_agent(const std::string& line);

  void arm(Timer& t, int ms, GSourceFunc fn);
  static void cancel(Timer& t);
  void cancel_all_timers();
  void arm_dtls_timer();
  void arm_impairment_timer(Direction dir);
  static gboolean on_dtls_timer(gpointer self);
  static gboolean on_connect_timer(gpointer self);
  static gboolean on_keepalive_timer(gpointer self);
  static gboolean on_heal_timer(gpointer self);
  static gboolean on_restart_timer(gpointer self);
  static gboolean on_send_impair_timer(gpointer self);
  static gboolean on_recv_impair_timer(gpointer self);
  bool release_impaired(Direction dir);

  template <typename F>
  bool emit(F&& invoke) {
    auto alive = alive_;
    auto cbs = callbacks_;  // keeps the callback objects alive during the call
    ++depth_;
    invoke(*cbs);
    if (!*alive) return false;
    --depth_;
    return true;
  }

  GMainContext* ctx_;
  LinkConfig config_;
  std::shared_ptr<Certificate> cert_;
  Role role_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<const Callbacks> callbacks_ = std::make_shared<Callbacks>();
  int depth_ = 0;

  NiceAgent* agent_ = nullptr;
  std::vector<std::shared_ptr<TlsTunnel>> tls_tunnels_;  // the turns: servers' (libnice: TCP)
  // Where libnice was told each of config_.turn_servers is (a turns: server: its tunnel).
  struct RelayAddress {
    std::string host;
    uint16_t port = 0;
  };
  std::vector<RelayAddress> relay_addresses_;
  guint stream_id_ = 0;
  bool started_ = false;
  bool gathering_done_ = false;
  bool ice_connected_ = false;
  bool remote_set_ = false;      // the first remote description (DTLS peer) is known
  bool ice_remote_set_ = false;  // the current ICE generation has the peer's credentials
  bool replacing_ = false;       // gathering of a restart's first candidates
  bool remote_done_ = false;
  std::vector<std::string> pending_remote_candidates_;
  std::vector<std::string> remote_candidates_;
  DtlsSetup local_setup_;
  std::unique_ptr<DtlsTransport> dtls_;
  std::deque<std::vector<uint8_t>> pending_dtls_in_;  // DTLS that arrived before ICE was up
  std::unique_ptr<SrtpSession> srtp_;
  std::string remote_fingerprint_;  // of the first exchange; restarts must keep it
  DtlsSetup remote_setup_ = DtlsSetup::kActpass;

  uint32_t generation_ = 0;
  int episode_restarts_ = 0;  // restarts since the link last went kReconnecting
  int next_restart_ms_ = 0;
  bool restart_grace_used_ = false;  // the current generation got its one extra second
  int64_t reconnect_since_us_ = 0;
  std::string lost_reason_;

  LinkState state_ = LinkState::kNew;
  std::string reason_;
  LinkStats stats_;
  int64_t last_rx_us_ = 0;
  int64_t last_pong_us_ = 0;  // our last ping answered
  uint32_t keepalive_ssrc_ = 0;
  std::vector<uint8_t> tx_buf_, rx_buf_, last_protected_;

  ImpairmentStage send_impair_, recv_impair_;
  std::vector<ImpairmentStage::Packet> impaired_ready_;

  Timer dtls_timer_, connect_timer_, keepalive_timer_, send_impair_timer_, recv_impair_timer_,
      heal_timer_, restart_timer_;
};

}  // namespace meshcast::link
