// A viewer: registers with the tracker, joins a stream, meshes with neighbours over
// secure links, verifies every segment, relays within its upload budget and plays
// (or records, or only counts) what arrives.
#pragma once
#include <glib.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/cli/stats.hpp"
#include "apps/session/tracker_clock.hpp"
#include "apps/session/tracker_signaling.hpp"
#include "apps/session/whep_hub.hpp"
#include "media/broadcast/frame_player.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/base/expected.hpp"
#include "mesh/core/ed25519.hpp"
#include "mesh/node/mesh_peer.hpp"
#include "signaling/tracker_client.hpp"

namespace meshcast::app {

struct ViewerOptions {
  std::string tracker_url;
  std::string stream;
  std::string view_key;
  std::string peer_id;          // empty = assigned by the tracker
  int64_t max_upload_kbps = 0;  // 0 = 4x the stream bit rate
  // Estimate the uplink from what the links see and relay within min(budget, estimate)
  // (node::UplinkEstimator). Off where many viewers share one process and loop: there the
  // links' RTT measures the loop's latency, not an uplink.
  bool estimate_upload = false;
  std::optional<media::PlayerConfig> player;  // nullopt = do not decode (swarm viewers)
  // Serve what this viewer plays to browsers over WHEP (and the player page).
  std::optional<WhepHubOptions> whep;
  link::LinkConfig link;
  link::Impairment impairment;  // applied to every link (tests, swarm --loss)
  bool tamper_relayed = false;  // test helper: a malicious relay that alters segments
  // Test helper: a sybil. Declares 10 Gbit/s, reports played segments and many children,
  // accepts partners and subscriptions and never forwards a byte.
  bool sybil = false;
  signaling::TrackerClientOptions client;
};

struct ViewerMetrics {
  int64_t started_us = 0;
  int64_t first_play_us = -1;
  uint64_t played = 0;
  uint64_t missed = 0;
  uint64_t forged_played = 0;  // segments played whose signature does not verify (must stay 0)
  SampleSet lag_ms;            // one sample per played segment (thinned evenly on long runs)
  SampleSet hops;
  double startup_ms() const { return first_play_us < 0 ? -1 : (first_play_us - started_us) / 1e3; }
  double continuity() const {
    return played + missed == 0 ? 0 : double(played) / double(played + missed);
  }
};

class ViewerSession {
 public:
  // Fatal problems (stream refused, tracker unreachable): message and an exit code.
  using FatalFn = std::function<void(const std::string& message, int exit_code)>;

  ViewerSession(GMainContext* ctx, ViewerOptions opt, std::shared_ptr<link::Certificate> cert);
  ~ViewerSession();

  void start();
  // graceful: tell the tracker and partners; otherwise vanish like a killed process.
  void stop(bool graceful);
  void set_on_fatal(FatalFn fn) { on_fatal_ = std::move(fn); }
  void set_on_joined(std::function<void()> fn) { on_joined_ = std::move(fn); }
  // Display output: the viewer closed the window.
  void set_on_window_closed(std::function<void()> fn) { on_window_closed_ = std::move(fn); }

  const ViewerMetrics& metrics() const { return metrics_; }
  const std::string& id() const { return id_; }
  bool joined() const { return peer_ != nullptr; }
  node::MeshPeer* peer() { return peer_.get(); }
  media::FramePlayer* player() { return player_.get(); }
  WhepHub* whep() { return whep_.get(); }
  nlohmann::json status_json() const;
  // Stops the player (finalizes a recording); the error if it failed.
  Expected<void, std::string> finish_output();

 private:
  void on_connected();
  void join();
  void on_joined(const nlohmann::json& reply);
  void fatal(const std::string& msg, int code);
  void on_play(const mesh::Segment& seg, std::span<const mesh::Segment> stripes,
               int64_t play_at_us);
  static gboolean on_report_tick(gpointer self);
  static gboolean on_rejoin_timer(gpointer self);
  // A restarted tracker learns the stream again from its broadcaster: wait this long for it.
  static constexpr int kMaxRejoinAttempts = 60;
  static constexpr unsigned kRejoinIntervalMs = 1000;

  GMainContext* ctx_;
  ViewerOptions opt_;
  std::shared_ptr<link::Certificate> cert_;
  std::unique_ptr<signaling::TrackerClient> client_;
  std::unique_ptr<TrackerClock> clock_;
  std::unique_ptr<TrackerSignaling> signaling_;
  std::unique_ptr<mesh::Ed25519Verifier> verifier_;
  std::unique_ptr<node::MeshPeer> peer_;
  std::unique_ptr<media::FramePlayer> player_;
  std::unique_ptr<WhepHub> whep_;
  ViewerMetrics metrics_;
  std::string id_;
  uint32_t last_played_ = 0;
  bool any_played_ = false;
  media::SourceGuard report_timer_;
  media::SourceGuard rejoin_timer_;
  int rejoin_attempts_ = 0;
  // Media bytes received per partner at the last report: reports carry the difference.
  std::map<std::string, uint64_t> rx_reported_;
  bool stopped_ = false;
  bool log_level_debug_ = g_getenv("MESHCAST_DEBUG") != nullptr;
  FatalFn on_fatal_;
  std::function<void()> on_joined_;
  std::function<void()> on_window_closed_;
};

}  // namespace meshcast::app
