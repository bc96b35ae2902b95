// A broadcast on loopback with every participant its own process, as real users run it: a
// `meshcast tracker`, a `meshcast broadcast` and one `meshcast watch --out null` per viewer.
// It samples every process's resident memory and CPU time, kills and replaces viewers
// (churn), reads the viewers' per-second stats, and reports per process how memory and
// CPU grow over time: the soak test for long streams (`meshcast swarm --processes`).
#pragma once
#include <glib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::app {

struct ProcessSwarmOptions {
  int viewers = 10;
  double duration_s = 60;
  int bitrate_kbps = 500;
  int segment_ms = 200;
  int source_copies = 4;
  double churn_per_min = 0;  // viewers killed (SIGKILL) and replaced per minute
  double join_spread_s = 2;
  int max_upload_kbps = 0;  // per viewer; 0 = watch's default
  bool real_media = false;  // the broadcaster encodes its test pattern instead of synthetic data
  double sample_s = 5;      // RSS / CPU sampling period
  double warmup_s = 30;     // growth is measured from this long after each process started
  std::string stream = "soak";
  std::string exe;        // the meshcast binary (default /proc/self/exe)
  std::string stats_dir;  // where the processes' --stats files go (default: a temp dir, removed)
  uint64_t seed = 1;
};

class ProcessSwarm {
 public:
  explicit ProcessSwarm(ProcessSwarmOptions opt);
  // Kills whatever still runs and removes the temp dir: nothing outlives the swarm.
  ~ProcessSwarm();
  ProcessSwarm(const ProcessSwarm&) = delete;
  ProcessSwarm& operator=(const ProcessSwarm&) = delete;

  // Runs the whole soak on the default GLib context; the error if it could not start or a
  // process it needs died. Ctrl-C / SIGTERM end it early (the report covers what ran).
  Expected<void, std::string> run();
  bool interrupted() const { return interrupted_; }
  nlohmann::json report() const;

 private:
  struct Sample {
    double t, rss_kb, cpu_ms;
  };
  struct Proc {
    std::string role;  // tracker | broadcaster | viewer
    std::string name;
    GPid pid = 0;
    double started_s = 0, ended_s = -1;
    int exit_status = -1;
    bool killed = false;  // by churn
    std::string stats_path;
    std::vector<Sample> samples;
    media::SourceGuard child_watch;
    ProcessSwarm* owner = nullptr;
  };

  double now_s() const;
  Expected<Proc*, std::string> spawn(const std::string& role, const std::string& name,
                                     std::vector<std::string> args, int* stdout_fd);
  Expected<void, std::string> start_tracker();
  Expected<void, std::string> start_broadcaster();
  void start_viewer();
  void sample_all();
  void churn_one();
  void stop_all();
  bool wait_for(const std::function<bool()>& pred, double timeout_s);
  nlohmann::json process_json(const Proc& p) const;
  nlohmann::json timeline_json() const;

  ProcessSwarmOptions opt_;
  std::string dir_;
  bool own_dir_ = false;
  std::string tracker_url_;
  int tracker_out_ = -1;
  media::SourceGuard tracker_out_watch_;  // drains the tracker's stdout
  std::vector<std::unique_ptr<Proc>> procs_;
  int next_viewer_ = 0;
  int64_t t0_us_ = 0;
  double ran_s_ = 0;
  bool interrupted_ = false;
  std::string fatal_;
  std::mt19937_64 rng_;
};

}  // namespace meshcast::app
