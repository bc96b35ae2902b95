// A two-party call: invitation through the tracker (the callee's offer only flows after
// it accepts), one PeerLink (ICE + DTLS-SRTP), Opus both ways with FEC driven by the
// measured loss, optional VP8 with NACK/PLI, RTCP SR/RR for RTT, loss and jitter.
#pragma once
#include <glib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "media/call/audio_receiver.hpp"
#include "media/call/audio_sender.hpp"
#include "media/call/video_receiver.hpp"
#include "media/call/video_sender.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/link/peer_link.hpp"
#include "signaling/known_peers.hpp"
#include "signaling/tracker_client.hpp"

namespace meshcast::app {

struct CallOptions {
  std::string tracker_url;
  std::string self_id;
  std::string to;                        // caller: whom to ring; empty = wait for calls
  bool auto_answer = false;              // callee: accept (from accept_from, if set)
  std::vector<std::string> accept_from;  // callee allow-list; empty = anyone
  int ring_timeout_ms = 30'000;
  media::AudioSenderConfig audio_tx;
  media::AudioReceiverConfig audio_rx;
  bool video = false;
  media::VideoSenderConfig video_tx;
  media::VideoReceiverConfig video_rx;
  link::LinkConfig link;
  link::Impairment impairment;             // both directions of the call's link
  signaling::TrackerClientOptions client;  // client.identity also signs our DTLS fingerprint
  // Identity keys of peers called before (trust on first use); nullptr = pins kept in memory
  // for this session only.
  std::shared_ptr<signaling::KnownPeers> known_peers;
};

enum class CallPhase { kConnecting, kCalling, kRinging, kWaiting, kLinking, kInCall, kEnded };
const char* to_string(CallPhase p);

class CallSession {
 public:
  // The call is over: a message for the user and the command's exit code.
  using EndFn = std::function<void(const std::string& message, int exit_code)>;
  // Callee without auto-answer: ask the user; call `decide(true/false)` later.
  using AskFn = std::function<void(const std::string& from, std::function<void(bool)> decide)>;

  CallSession(GMainContext* ctx, CallOptions opt, std::shared_ptr<link::Certificate> cert);
  ~CallSession();

  void start();
  // Hang up (or cancel a ringing call); the other side is told.
  void hangup();
  // Ends the tracker session (leave): the id is free at once, not after the resume grace.
  void leave_tracker();
  void set_on_end(EndFn fn) { on_end_ = std::move(fn); }
  void set_on_ask(AskFn fn) { on_ask_ = std::move(fn); }
  // Messages for the user that do not end the call (a new peer's key was pinned). Default:
  // printed on stderr.
  void set_on_notice(std::function<void(const std::string&)> fn) { on_notice_ = std::move(fn); }
  // Called once the audio sender/receiver exist and before they start, so taps set on them
  // (e.g. media::DelayProbe) are live from the first sample. Benchmarks only.
  void set_on_media_created(std::function<void()> fn) { on_media_created_ = std::move(fn); }

  CallPhase phase() const { return phase_; }
  const std::string& peer_id() const { return peer_; }
  nlohmann::json stats_json() const;
  std::string status_line() const;
  media::AudioReceiver* audio_receiver() { return audio_rx_.get(); }
  media::AudioSender* audio_sender() { return audio_tx_.get(); }
  link::PeerLink* peer_link() { return link_.get(); }
  // Stops media (finalizes recordings). Idempotent.
  void stop_media();

 private:
  void on_connected();
  signaling::HelloParams hello_params() const;
  // A hello on a new tracker connection: resumes our session (id, call) there.
  void resume_tracker();
  void on_incoming(const nlohmann::json& m);
  void answer(bool accept);
  void open_link(bool offerer);
  void on_relay(const nlohmann::json& m);
  // "ice-restart" (offer) / "ice-restart-answer" from the peer.
  void on_restart_message(bool offer, const nlohmann::json& payload);
  void notice(const std::string& text);
  // Our description for the peer, with our DTLS fingerprint signed by our identity key.
  nlohmann::json signed_description(const link::SessionDescription& d) const;
  // The peer's proof: its key signed the fingerprint `d` carries, and the key is the one
  // pinned for its id (or is pinned now). False = the call was refused and ended.
  bool check_peer_identity(const nlohmann::json& payload, const link::SessionDescription& d);
  void on_link_state(link::LinkState st, const std::string& reason);
  void start_media();
  void on_rtp(const uint8_t* d, size_t n);
  void on_rtcp(const uint8_t* d, size_t n);
  void send_reports();
  void end(const std::string& msg, int code);
  static gboolean on_report_tick(gpointer self);

  GMainContext* ctx_;
  CallOptions opt_;
  std::shared_ptr<link::Certificate> cert_;
  std::unique_ptr<signaling::TrackerClient> client_;
  std::unique_ptr<link::PeerLink> link_;
  std::unique_ptr<media::AudioSender> audio_tx_;
  std::unique_ptr<media::AudioReceiver> audio_rx_;
  std::unique_ptr<media::VideoSender> video_tx_;
  std::unique_ptr<media::VideoReceiver> video_rx_;
  CallPhase phase_ = CallPhase::kConnecting;
  std::string call_id_;
  std::string peer_;
  bool registered_ = false;
  bool description_sent_ = false;
  std::vector<std::string> early_candidates_;
  media::SourceGuard report_timer_;
  int64_t media_started_us_ = 0;
  int64_t link_opened_us_ = 0;  // the link was created (offer made or received)
  double link_setup_ms_ = -1;   // created -> connected (ICE + DTLS)
  double rtt_ms_ = -1;
  double loss_ewma_ = 0;
  uint64_t restarts_rejected_ = 0;
  uint64_t tracker_resumes_ = 0;  // restart messages refused (garbled, stale, lying)
  double healed_at_ = 0;          // wall clock (s) of the last heal, 0 = never
  EndFn on_end_;
  AskFn on_ask_;
  std::function<void()> on_media_created_;
  std::function<void(const std::string&)> on_notice_;
};

}  // namespace meshcast::app
