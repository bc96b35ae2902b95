#include "apps/session/process_swarm.hpp"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "apps/cli/stats.hpp"
#include "mesh/base/time.hpp"

namespace meshcast::app {

namespace {

// Children die with us, even if we are killed: nothing of a soak outlives it.
void die_with_parent(gpointer) { prctl(PR_SET_PDEATHSIG, SIGKILL); }

nlohmann::json dist(const std::vector<double>& v) {
  return {{"p50", percentile(v, 0.5)},
          {"p95", percentile(v, 0.95)},
          {"max", percentile(v, 1.0)},
          {"n", v.size()}};
}

// Reads `fd` for up to timeout_s until a line contains `needle`; returns that line.
std::string read_line_with(int fd, const std::string& needle, double timeout_s) {
  std::string buf;
  const int64_t end = meshcast::monotonic_us() + int64_t(timeout_s * 1e6);
  while (meshcast::monotonic_us() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return "";
    buf.append(chunk, size_t(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
  }
  return "";
}

// The last complete JSON line of a stats file (empty object if none yet).
nlohmann::json last_stats_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  auto j = nlohmann::json::parse(last, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

ProcessSwarm::ProcessSwarm(ProcessSwarmOptions opt) : opt_(std::move(opt)), rng_(opt_.seed) {
  if (opt_.exe.empty()) {
    std::error_code ec;
    opt_.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  }
}

ProcessSwarm::~ProcessSwarm() {
  for (auto& p : procs_) {
    if (p->ended_s < 0 && p->pid > 0) kill(p->pid, SIGKILL);
    p->child_watch.reset();
  }
  tracker_out_watch_.reset();
  if (tracker_out_ >= 0) close(tracker_out_);
  if (own_dir_ && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

double ProcessSwarm::now_s() const { return double(meshcast::monotonic_us() - t0_us_) / 1e6; }

Expected<ProcessSwarm::Proc*, std::string> ProcessSwarm::spawn(const std::string& role,
                                                               const std::string& name,
                                                               std::vector<std::string> args,
                                                               int* stdout_fd) {
  auto p = std::make_unique<Proc>();
  p->role = role;
  p->name = name;
  p->owner = this;
  p->stats_path = dir_ + "/" + name + ".jsonl";
  args.insert(args.begin(), opt_.exe);
  args.insert(args.end(), {"--stats", p->stats_path});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  media::GErrorPtr err;
  const auto flags =
      GSpawnFlags(G_SPAWN_DO_NOT_REAP_CHILD | (stdout_fd ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL));
  if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, flags, die_with_parent, nullptr,
                                &p->pid, nullptr, stdout_fd, nullptr, media::out_ptr(err)))
    return unexpected("cannot start " + name + ": " + (err ? err->message : "?"));
  p->started_s = now_s();
  GChildWatchFunc on_exit = [](GPid pid, gint status, gpointer data) {
    auto* proc = static_cast<Proc*>(data);
    g_spawn_close_pid(pid);
    proc->child_watch.reset();  // a child watch fires once
    proc->ended_s = proc->owner->now_s();
    proc->exit_status = status;
  };
  p->child_watch = media::SourceGuard::with_callback(g_child_watch_source_new(p->pid),
                                                     media::source_func(on_exit), p.get());
  procs_.push_back(std::move(p));
  return procs_.back().get();
}

bool ProcessSwarm::wait_for(const std::function<bool()>& pred, double timeout_s) {
  // Unlike MainLoop::run_until this also waits after Ctrl-C: children get their SIGTERM's
  // grace period. Between events it sleeps (pred may read a file) instead of spinning.
  const int64_t end = meshcast::monotonic_us() + int64_t(timeout_s * 1e6);
  while (!pred() && meshcast::monotonic_us() < end)
    if (!g_main_context_iteration(nullptr, FALSE)) g_usleep(20'000);
  return pred();
}

Expected<void, std::string> ProcessSwarm::start_tracker() {
  auto t =
      spawn("tracker", "tracker", {"tracker", "--listen", "127.0.0.1:0", "--quiet"}, &tracker_out_);
  if (!t) return unexpected(std::move(t).error());
  const std::string line = read_line_with(tracker_out_, "listening on ", 15);
  const auto at = line.find("ws://");
  if (at == std::string::npos) return unexpected("the tracker did not say where it listens");
  tracker_url_ = line.substr(at);
  while (!tracker_url_.empty() && isspace(uint8_t(tracker_url_.back()))) tracker_url_.pop_back();
  // Keep reading what it prints, so it never blocks on a full pipe.
  GUnixFDSourceFunc drain = [](gint fd, GIOCondition, gpointer) -> gboolean {
    char sink[4096];
    return read(fd, sink, sizeof sink) > 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
  };
  tracker_out_watch_ = media::SourceGuard::with_callback(
      g_unix_fd_source_new(tracker_out_, GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR)),
      media::source_func(drain), nullptr);
  return {};
}

Expected<void, std::string> ProcessSwarm::start_broadcaster() {
  std::vector<std::string> args = {"broadcast",
                                   "--tracker",
                                   tracker_url_,
                                   "--stream",
                                   opt_.stream,
                                   "--bitrate",
                                   std::to_string(opt_.bitrate_kbps),
                                   "--segment-ms",
                                   std::to_string(opt_.segment_ms),
                                   "--copies",
                                   std::to_string(opt_.source_copies),
                                   "--quiet"};
  if (!opt_.real_media) args.push_back("--synthetic");
  auto spawned = spawn("broadcaster", "broadcaster", args, nullptr);
  if (!spawned) return unexpected(std::move(spawned).error());
  Proc* b = *spawned;
  // Viewers are refused a stream the tracker does not know yet: wait until it is live.
  const bool live = wait_for(
      [&] { return b->ended_s >= 0 || last_stats_line(b->stats_path).value("segments", 0) > 0; },
      20);
  if (!live || b->ended_s >= 0) return unexpected("the broadcaster did not go live");
  return {};
}

void ProcessSwarm::start_viewer() {
  const std::string name = "viewer-" + std::to_string(next_viewer_++);
  std::vector<std::string> args = {"watch", "--tracker", tracker_url_, "--stream", opt_.stream,
                                   "--id",  name,        "--out",      "null",     "--quiet"};
  if (opt_.max_upload_kbps > 0)
    args.insert(args.end(), {"--max-upload", std::to_string(opt_.max_upload_kbps)});
  if (auto spawned = spawn("viewer", name, args, nullptr); !spawned) fatal_ = spawned.error();
}

void ProcessSwarm::sample_all() {
  const double t = now_s();
  for (auto& p : procs_) {
    if (p->ended_s >= 0 || t - p->started_s < 1) continue;  // still starting (exec, libs)
    if (auto s = sample_process(p->pid)) p->samples.push_back({t, s->rss_kb, s->cpu_ms});
  }
}

void ProcessSwarm::churn_one() {
  std::vector<Proc*> live;
  for (auto& p : procs_)
    if (p->role == "viewer" && p->ended_s < 0) live.push_back(p.get());
  if (live.empty()) return;
  Proc* victim = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng_)];
  sample_all();  // its last figures
  victim->killed = true;
  kill(victim->pid, SIGKILL);
  start_viewer();
}

void ProcessSwarm::stop_all() {
  sample_all();
  // Viewers first (they say goodbye to the tracker), then the broadcaster, then the tracker.
  for (const char* role : {"viewer", "broadcaster", "tracker"}) {
    for (auto& p : procs_)
      if (p->role == role && p->ended_s < 0) kill(p->pid, SIGTERM);
    wait_for(
        [&] {
          return std::none_of(procs_.begin(), procs_.end(),
                              [&](auto& p) { return p->role == role && p->ended_s < 0; });
        },
        10);
    for (auto& p : procs_)
      if (p->role == role && p->ended_s < 0) kill(p->pid, SIGKILL);
  }
  wait_for(
      [&] {
        return std::none_of(procs_.begin(), procs_.end(), [](auto& p) { return p->ended_s < 0; });
      },
      5);
}

Expected<void, std::string> ProcessSwarm::run() {
  t0_us_ = meshcast::monotonic_us();
  if (opt_.stats_dir.empty()) {
    char tmpl[] = "/tmp/meshcast-soak-XXXXXX";
    if (!g_mkdtemp(tmpl)) return unexpected("cannot create a temp dir");
    dir_ = tmpl;
    own_dir_ = true;
  } else {
    dir_ = opt_.stats_dir;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return unexpected("cannot create " + dir_ + ": " + ec.message());
  }
  auto started = start_tracker();
  if (started) started = start_broadcaster();
  if (!started) {
    stop_all();
    return started;
  }
  const double t_live = now_s();
  // Initial viewers spread over the join window; churn and sampling on their own clocks.
  double next_join = t_live, next_churn = -1, next_sample = t_live;
  const double churn_every = opt_.churn_per_min > 0 ? 60.0 / opt_.churn_per_min : -1;
  const double end = t_live + opt_.duration_s;
  auto stop_signal = [](gpointer p) -> gboolean {
    *static_cast<bool*>(p) = true;
    return G_SOURCE_CONTINUE;
  };
  auto sigint = media::SourceGuard::with_callback(g_unix_signal_source_new(SIGINT), stop_signal,
                                                  &interrupted_);
  auto sigterm = media::SourceGuard::with_callback(g_unix_signal_source_new(SIGTERM), stop_signal,
                                                   &interrupted_);
  bool ok = true;
  while (!interrupted_ && now_s() < end) {
    const double t = now_s();
    if (next_viewer_ < opt_.viewers && t >= next_join) {
      start_viewer();
      next_join = t_live + opt_.join_spread_s * next_viewer_ / std::max(1, opt_.viewers);
      if (next_viewer_ == opt_.viewers && churn_every > 0) next_churn = t + churn_every;
    }
    if (next_churn >= 0 && t >= next_churn) {
      churn_one();
      next_churn += churn_every;
    }
    if (t >= next_sample) {
      sample_all();
      next_sample += opt_.sample_s;
    }
    for (auto& p : procs_)
      if (p->role != "viewer" && p->ended_s >= 0 && fatal_.empty())
        fatal_ = "the " + p->role + " exited (status " + std::to_string(p->exit_status) + ")";
    if (!fatal_.empty()) {
      ok = false;
      break;
    }
    g_main_context_iteration(nullptr, FALSE);
    g_usleep(20'000);
  }
  ran_s_ = now_s() - t_live;
  sigint.reset();
  sigterm.reset();
  stop_all();
  if (!ok) return unexpected(fatal_);
  return {};
}

nlohmann::json ProcessSwarm::process_json(const Proc& p) const {
  // Growth is measured from the first sample at least warmup_s after the process started.
  std::vector<double> t, rss, cpu;
  double at_warmup = -1, max_after = -1;
  for (auto& s : p.samples) {
    if (s.t - p.started_s < opt_.warmup_s) continue;
    if (at_warmup < 0) at_warmup = s.rss_kb;
    max_after = std::max(max_after, s.rss_kb);
    t.push_back(s.t);
    rss.push_back(s.rss_kb);
    cpu.push_back(s.cpu_ms);
  }
  nlohmann::json j = {{"role", p.role}, {"name", p.name}, {"started_s", p.started_s}};
  j["ended_s"] = p.ended_s >= 0 ? nlohmann::json(p.ended_s) : nlohmann::json(nullptr);
  j["killed_by_churn"] = p.killed;
  j["exit_status"] = p.exit_status;
  if (!p.samples.empty()) {
    j["rss_kb_first"] = p.samples.front().rss_kb;
    j["rss_kb_last"] = p.samples.back().rss_kb;
    j["cpu_ms_total"] = p.samples.back().cpu_ms;
  }
  const bool measured = t.size() >= 2;
  j["measured_after_warmup"] = measured;
  if (measured) {
    j["rss_kb_at_warmup"] = at_warmup;
    j["rss_growth_kb"] = max_after - at_warmup;
    j["rss_slope_kb_per_s"] = slope(t, rss);
    j["cpu_ms_per_s"] = slope(t, cpu);
    // CPU per second in the first and the last third after warm-up: a cost that grows with
    // the stream's age shows here.
    const size_t third = std::max<size_t>(2, t.size() / 3);
    auto rate = [&](size_t a, size_t b) {
      return t[b] > t[a] ? (cpu[b] - cpu[a]) / (t[b] - t[a]) : 0.0;
    };
    j["cpu_ms_per_s_early"] = rate(0, std::min(third, t.size()) - 1);
    j["cpu_ms_per_s_late"] = rate(t.size() - std::min(third, t.size()), t.size() - 1);
  }
  nlohmann::json samples = nlohmann::json::array();
  for (auto& s : p.samples)
    samples.push_back({std::round(s.t * 10) / 10, s.rss_kb, std::round(s.cpu_ms)});
  j["samples_t_rsskb_cpums"] = std::move(samples);
  return j;
}

nlohmann::json ProcessSwarm::timeline_json() const {
  // Viewers' per-second stats lines, bucketed in time: continuity from the played and missed
  // counts' increments, lag from each line's latest segment.
  const double bucket = std::max(5.0, std::ceil(ran_s_ / 30.0 / 5.0) * 5.0);
  struct Bucket {
    uint64_t played = 0, missed = 0;
    std::vector<double> lag;
    std::set<std::string> viewers;
  };
  std::map<int, Bucket> buckets;
  const double t0_real = double(g_get_real_time()) / 1e6 - now_s();  // real time of t = 0
  std::vector<double> all_lag;
  uint64_t played = 0, missed = 0;
  for (auto& p : procs_) {
    if (p->role != "viewer") continue;
    std::ifstream f(p->stats_path);
    std::string line;
    uint64_t last_played = 0, last_missed = 0;
    while (std::getline(f, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("t")) continue;
      const double t = j.value("t", 0.0) - t0_real;
      const uint64_t pl = j.value("played", uint64_t(0)), mi = j.value("missed", uint64_t(0));
      Bucket& b = buckets[int(std::max(0.0, t) / bucket)];
      b.played += pl - std::min(pl, last_played);
      b.missed += mi - std::min(mi, last_missed);
      last_played = pl;
      last_missed = mi;
      b.viewers.insert(p->name);
      if (pl > 0) {
        const double lag = j.value("lag_ms", 0.0);
        b.lag.push_back(lag);
        all_lag.push_back(lag);
      }
    }
    played += last_played;
    missed += last_missed;
  }
  nlohmann::json rows = nlohmann::json::array();
  for (auto& [k, b] : buckets) {
    rows.push_back(
        {{"t_s", k * bucket},
         {"viewers", b.viewers.size()},
         {"continuity", b.played + b.missed ? double(b.played) / double(b.played + b.missed) : 0.0},
         {"lag_ms_p50", percentile(b.lag, 0.5)},
         {"lag_ms_p95", percentile(b.lag, 0.95)}});
  }
  return {{"bucket_s", bucket},
          {"rows", rows},
          {"continuity", played + missed ? double(played) / double(played + missed) : 0.0},
          {"lag_ms", dist(all_lag)}};
}

nlohmann::json ProcessSwarm::report() const {
  nlohmann::json procs = nlohmann::json::array();
  std::map<std::string, std::vector<double>> growth, slope_kb, cpu_rate;
  double viewer_cpu_ms = 0, viewer_seconds = 0;
  for (auto& p : procs_) {
    auto j = process_json(*p);
    if (j.value("measured_after_warmup", false)) {
      growth[p->role].push_back(j["rss_growth_kb"].get<double>());
      slope_kb[p->role].push_back(j["rss_slope_kb_per_s"].get<double>());
      cpu_rate[p->role].push_back(j["cpu_ms_per_s"].get<double>());
    }
    if (p->role == "viewer" && !p->samples.empty()) {
      viewer_cpu_ms += p->samples.back().cpu_ms;
      viewer_seconds += p->samples.back().t - p->started_s;
    }
    procs.push_back(std::move(j));
  }
  nlohmann::json by_role = nlohmann::json::object();
  for (auto& [role, g] : growth)
    by_role[role] = {{"processes_measured", g.size()},
                     {"rss_growth_kb", dist(g)},
                     {"rss_slope_kb_per_s", dist(slope_kb[role])},
                     {"cpu_ms_per_s", dist(cpu_rate[role])}};
  double worst = 0;
  for (auto& [role, g] : growth) worst = std::max(worst, percentile(g, 1.0));
  const auto timeline = timeline_json();
  return {{"viewers", opt_.viewers},
          {"duration_s", ran_s_},
          {"bitrate_kbps", opt_.bitrate_kbps},
          {"segment_ms", opt_.segment_ms},
          {"churn_per_min", opt_.churn_per_min},
          {"sample_s", opt_.sample_s},
          {"warmup_s", opt_.warmup_s},
          {"real_media", opt_.real_media},
          {"viewer_processes_started", next_viewer_},
          {"interrupted", interrupted_},
          {"max_rss_growth_kb", worst},
          {"viewer_cpu_ms_per_viewer_s", viewer_seconds > 0 ? viewer_cpu_ms / viewer_seconds : 0},
          {"by_role", by_role},
          {"continuity", timeline["continuity"]},
          {"lag_ms", timeline["lag_ms"]},
          {"timeline", timeline},
          {"processes", procs}};
}

}  // namespace meshcast::app
