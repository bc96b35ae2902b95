// A whole broadcast on loopback in one process: a tracker, a broadcaster and N viewers
// with real links (ICE + DTLS-SRTP), churn (viewers vanish, new ones join) and loss
// (the links' impairment hook). Used by `meshcast swarm`, `meshcast demo` and the
// integration tests; everything runs on the one GLib loop.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "apps/session/broadcast_session.hpp"
#include "apps/session/viewer_session.hpp"
#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/base/expected.hpp"
#include "signaling/tracker_server.hpp"

namespace meshcast::app {

struct SwarmOptions {
  int viewers = 10;
  double duration_s = 20;
  int bitrate_kbps = 500;
  int segment_ms = 200;
  int source_copies = 4;
  double churn_per_min = 0;  // viewers killed (and replaced) per minute, spread evenly
  double loss = 0;           // per-packet drop probability on every viewer's links
  double join_spread_s = 2;  // viewers join uniformly over this window
  int max_upload_kbps = 0;   // per viewer; 0 = 4x bit rate
  bool real_media = false;   // encode with GStreamer instead of a synthetic payload
  std::string stream = "swarm";
  std::string view_key;       // non-empty: a private stream
  uint16_t tracker_port = 0;  // 0 = ephemeral
  // Viewers with these indices (0-based) record to the given player config.
  std::vector<std::pair<int, media::PlayerConfig>> recorders;
  std::vector<int> tamperers;  // indices of malicious viewers (alter what they relay)
  std::vector<int> sybils;     // indices of sybils (declare 10 Gbit/s, never forward)
  uint64_t seed = 1;
  // One GLib loop polls every link's sources on each wake-up, so hundreds of viewers in
  // one process spend their time in g_main_context_check. With workers > 0 the viewers
  // run in that many `meshcast swarm-worker` child processes (tracker and broadcaster
  // stay here), which also uses both cores.
  int workers = 0;
  std::string worker_exe;  // the meshcast binary (default /proc/self/exe)
  double kill_at_s = -1;   // workers: kill kill_fraction of their viewers at this time
  double kill_fraction = 0;
  // Worker mode: join this tracker's stream; no tracker or broadcaster here.
  std::string tracker_url;
  int first_index = 0;
};

// Raw figures of a set of viewers, mergeable across worker processes.
struct SwarmTally {
  std::vector<double> startup, lag, hops, recovery;
  // Sybils' own figures, apart from the honest viewers' (lag above is honest viewers only).
  std::vector<double> sybil_lag;
  uint64_t sybil_played = 0, sybil_missed = 0;
  int sybils = 0;
  uint64_t played = 0, missed = 0, forged = 0, dup = 0, media_rx = 0, ctrl_tx = 0, media_tx = 0,
           forged_rejected = 0, missed_unavailable = 0, stalls = 0;
  int viewers_total = 0, playing = 0;
  double cpu_s = 0, rss_mb = 0;
  nlohmann::json to_json() const;
  static SwarmTally from_json(const nlohmann::json& j);
  void merge(const SwarmTally& o);
};

struct SwarmViewer {
  int index = 0;
  std::unique_ptr<ViewerSession> session;
  bool alive = true;
  bool malicious = false;
  bool sybil = false;
  double joined_at_s = 0;  // relative to the swarm's start
  double left_at_s = -1;
};

class Swarm {
 public:
  explicit Swarm(SwarmOptions opt);
  ~Swarm();

  // Starts the tracker and broadcaster; viewers join on their schedule once it is live. The
  // error when either cannot start.
  Expected<void, std::string> start();
  // Kill `fraction` of the live honest viewers at once (no goodbye), now.
  int kill_fraction(double fraction);
  void stop();

  double elapsed_s() const;
  signaling::TrackerServer* tracker() { return tracker_.get(); }
  BroadcastSession* broadcaster() { return broadcaster_.get(); }
  std::vector<SwarmViewer>& viewers() { return viewers_; }
  // The summary JSON of `meshcast swarm`.
  nlohmann::json summary() const;
  // This process's viewers only (what a worker reports).
  SwarmTally tally() const;
  // Workers: true once every child has exited and its figures are merged.
  bool workers_done() const { return workers_left_ == 0; }
  // One line of live status, and the same as JSON (for --stats).
  std::string status_line() const;
  nlohmann::json status_json() const;
  std::string fatal_error() const { return fatal_; }
  // Per-viewer time (ms) from a mass kill until it was back to its partner count.
  const std::vector<double>& recovery_ms() const { return recovery_ms_; }

 private:
  void add_viewer(bool malicious, bool sybil, std::optional<media::PlayerConfig> player);
  void spawn_workers();
  struct Worker {
    GPid pid = 0;
    std::string out;
    media::GIOChannelPtr ch;
    media::SourceGuard watch;        // the output pipe
    media::SourceGuard child_watch;  // the process exit
    Swarm* owner = nullptr;
  };
  std::vector<std::unique_ptr<Worker>> workers_;
  int workers_left_ = 0;
  bool workers_spawned_ = false;
  SwarmTally worker_tally_;
  bool killed_ = false;
  static gboolean on_tick(gpointer self);
  void tick();

  SwarmOptions opt_;
  std::shared_ptr<link::Certificate> cert_;
  std::unique_ptr<signaling::TrackerServer> tracker_;
  std::unique_ptr<BroadcastSession> broadcaster_;
  std::vector<SwarmViewer> viewers_;
  std::vector<std::unique_ptr<ViewerSession>> graveyard_;  // killed, kept for their metrics
  std::mt19937_64 rng_;
  int64_t start_us_ = 0;
  media::SourceGuard tick_source_;
  int joined_ = 0;
  double churn_credit_ = 0;
  std::string fatal_;
  // Recovery tracking after kill_fraction.
  struct Watch {
    int index;
    size_t before;
    int64_t since_us;
  };
  std::vector<Watch> recovering_;
  std::vector<double> recovery_ms_;
};

}  // namespace meshcast::app
