// One standard WebRTC leg (GStreamer's webrtcbin) that answers a remote SDP offer: the
// shell under WHIP ingest (the publisher offers, we receive) and WHEP playback (the browser
// offers recvonly, we send). The caller builds the pipeline around a webrtcbin named
// "webrtc"; this class restricts its ICE agent, runs offer -> answer -> ICE gathering and
// hands the complete answer (every candidate inside: WHIP/WHEP have no server-side trickle)
// back on the main context.
//
// Threads: webrtcbin calls back on its own threads; everything reaches the owner through a
// MainContextQueue, so callbacks run on the main context and never after destruction.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "media/common/main_context_queue.hpp"
#include "media/common/pipeline_runner.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct WebrtcLegConfig {
  // ICE host candidates only on these addresses (libnice would use every interface).
  std::vector<std::string> local_addresses{"127.0.0.1"};
  std::string stun_server;                // "stun://IP:PORT" or empty
  std::vector<std::string> turn_servers;  // "turn://USER:PASS@IP:PORT" each
  int gather_timeout_ms = 2000;           // answer with what is there after this
};

// Restricts webrtcbin's ICE agent: host candidates on `addresses` only, no UPnP, no TCP.
// False if the agent does not offer the needed controls (then nothing is safe to start).
bool restrict_ice(GstElement* webrtcbin, const std::vector<std::string>& addresses);

class WebrtcLeg {
 public:
  using AnswerFn = std::function<void(Expected<std::string, std::string>)>;
  // "new", "connecting", "connected", "disconnected", "failed", "closed"
  using StateFn = std::function<void(const std::string&)>;

  WebrtcLeg(GMainContext* context, WebrtcLegConfig config);
  ~WebrtcLeg();
  WebrtcLeg(const WebrtcLeg&) = delete;
  WebrtcLeg& operator=(const WebrtcLeg&) = delete;

  // Builds the pipeline (gst-launch description containing `webrtcbin name=webrtc`).
  Expected<void, std::string> build(const std::string& description);
  GstElement* webrtcbin() const { return webrtc_.get(); }
  PipelineRunner& runner() { return runner_; }

  void set_on_state(StateFn fn) { on_state_ = std::move(fn); }
  void set_on_error(std::function<void(const std::string&)> fn) { on_error_ = std::move(fn); }

  // Starts the pipeline and answers `offer`. done() runs once on the main context with the
  // answer SDP (all candidates gathered) or the reason the offer was refused.
  void answer(const std::string& offer, AnswerFn done);
  // A remote trickled candidate ("candidate:..."), for m-line `mline`.
  void add_remote_candidate(unsigned mline, const std::string& candidate);
  // Stops the pipeline; no callback runs afterwards. Idempotent.
  void stop();
  const std::string& state() const { return state_; }
  // Posts from webrtcbin's or streaming threads to the main context (dropped after stop()).
  // Valid after a successful build().
  MainContextQueue& queue();

  struct Shared;  // what webrtcbin's threads may touch

 private:
  static void on_remote_set(GstPromise* promise, gpointer data);
  static void on_answer_created(GstPromise* promise, gpointer data);
  static void on_gathering(GObject* webrtc, GParamSpec*, gpointer data);
  static void on_connection_state(GObject* webrtc, GParamSpec*, gpointer data);
  void finish_answer(Expected<std::string, std::string> result);
  void check_gathered(bool timed_out = false);

  GMainContext* context_;
  WebrtcLegConfig config_;
  PipelineRunner runner_;
  GstElementPtr webrtc_;
  std::shared_ptr<Shared> shared_;
  AnswerFn pending_answer_;
  SourceGuard gather_timer_;
  std::string state_ = "new";
  StateFn on_state_;
  std::function<void(const std::string&)> on_error_;
};

}  // namespace meshcast::media
