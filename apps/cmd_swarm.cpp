// meshcast swarm: a tracker, a broadcaster and N viewers on loopback with real links.
#include <cstdio>
#include <fstream>

#include "apps/cli/args.hpp"
#include "apps/cli/loop.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "apps/session/process_swarm.hpp"
#include "apps/session/swarm.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast swarm --viewers N --duration S [options]\n\n"
    "Starts a tracker, a broadcaster and N viewers in this process on 127.0.0.1, every hop a\n"
    "real ICE + DTLS-SRTP link (viewers relay but do not decode), applies churn and loss,\n"
    "and prints one JSON object with the metrics of docs/ (startup_ms, lag_ms, continuity,\n"
    "source_upload_copies, control_overhead, duplicate_ratio, forged_played, ...).\n\n"
    "Options:\n"
    "  --viewers N          viewers at any time (default 10)\n"
    "  --duration S         run time in seconds (default 20)\n"
    "  --bitrate KBPS       stream bit rate (default 500)\n"
    "  --segment-ms MS      segment duration (default 200)\n"
    "  --copies N           most copies the broadcaster uploads (default 4)\n"
    "  --churn PER_MIN      viewers killed (and replaced by new joiners) per minute\n"
    "  --kill-at S:FRACTION kill FRACTION of the viewers at once at second S\n"
    "  --loss P             packet loss probability on every viewer link (0..0.5)\n"
    "  --join-spread S      initial viewers join over S seconds (default 2)\n"
    "  --max-upload KBPS    per-viewer uplink: budget, and sends are paced to it (pushes\n"
    "                       and control before pull answers); default 4x bit rate, unpaced\n"
    "  --media              encode real VP8+Opus at the broadcaster (default: synthetic)\n"
    "  --malicious N        N viewers alter what they relay and push forged segments\n"
    "  --sybils N           the first N viewers are sybils: they declare 10 Gbit/s upload,\n"
    "                       report played segments and many children, accept partners and\n"
    "                       subscriptions and never forward a byte. continuity and lag_ms\n"
    "                       are then the honest viewers'; \"sybils\" holds the sybils' own\n"
    "  --seed N             random seed (default 1)\n"
    "  --workers N          run the viewers in N child processes (default: 1 per 40\n"
    "                       viewers above 40; 0 = all in this process)\n"
    "  --tracker-port N     tracker port on 127.0.0.1 (default: ephemeral); the dashboard\n"
    "                       URL is printed on stderr at start\n"
    "  --json FILE          also write the result JSON to FILE\n"
    "  --quiet              no live status line\n"
    "  --stats FILE.jsonl   one JSON status line per second\n"
    "  --log-level L        error | warn | info | debug (default warn)\n\n"
    "Soak mode (long runs; memory and CPU of every process):\n"
    "  --sample-rss S       run every participant as its own process (`meshcast tracker`,\n"
    "                       `broadcast`, one `watch --out null` per viewer), sample each\n"
    "                       one's RSS and CPU every S seconds, and report per process the\n"
    "                       growth and slope after warm-up (KB/s, CPU ms/s), with\n"
    "                       continuity and lag over time. Takes --viewers, --duration,\n"
    "                       --bitrate, --segment-ms, --copies, --churn, --join-spread,\n"
    "                       --max-upload, --media, --seed, --json, --quiet\n"
    "  --warmup S           growth is measured from S s after each process started (30)\n"
    "  --stats-dir DIR      keep every process's --stats file in DIR (default: a temp dir,\n"
    "                       removed)\n\n"
    "Examples:\n"
    "  meshcast swarm --viewers 200 --duration 60 --bitrate 500\n"
    "  meshcast swarm --viewers 200 --duration 60 --bitrate 500 --churn 20 --loss 0.03\n"
    "  meshcast swarm --viewers 20 --sybils 4 --duration 40 --workers 0\n"
    "  meshcast swarm --viewers 12 --duration 300 --tracker-port 8090   # open "
    "http://127.0.0.1:8090/\n"
    "  meshcast swarm --viewers 50 --duration 1800 --bitrate 1500 --churn 5 --sample-rss 10 "
    "--json soak.json\n";

// The result on stdout, and in --json FILE if given; false if the file could not be written.
bool print_result(Args& a, const nlohmann::json& j) {
  std::printf("%s\n", j.dump().c_str());
  if (!a.has("json")) return true;
  std::ofstream f(a.get("json"));
  f << j.dump(2) << "\n";
  if (f) return true;
  std::fprintf(stderr, "meshcast swarm: cannot write %s\n", a.get("json").c_str());
  return false;
}

// The options both swarm kinds take (SwarmOptions and ProcessSwarmOptions name them alike).
template <class Options>
void parse_common(Args& a, Options& o, long max_viewers) {
  o.viewers = int(a.get_int("viewers", 10, 1, max_viewers));
  o.duration_s = a.get_double("duration", 20, 1, 86400);
  o.bitrate_kbps = int(a.get_int("bitrate", 500, 16, 10000));
  o.segment_ms = int(a.get_int("segment-ms", 200, 50, 1000));
  o.source_copies = int(a.get_int("copies", 4, 1, 16));
  o.churn_per_min = a.get_double("churn", 0, 0, 10000);
  o.join_spread_s = a.get_double("join-spread", 2, 0, 600);
  o.max_upload_kbps = int(a.get_int("max-upload", 0, 0, 1'000'000));
  o.real_media = a.has("media");
  o.seed = uint64_t(a.get_int("seed", 1, 0, 1L << 40));
}

int run_processes(Args& a) {
  ProcessSwarmOptions o;
  parse_common(a, o, 500);  // one process per viewer
  o.sample_s = a.get_double("sample-rss", 5, 0.5, 3600);
  o.warmup_s = a.get_double("warmup", 30, 0, 86400);
  o.stats_dir = a.get("stats-dir");
  std::string err = a.ok() ? "" : a.error();
  for (const char* only_in_process :
       {"loss", "malicious", "sybils", "kill-at", "workers", "tracker-port", "stats", "log-level"})
    if (err.empty() && a.has(only_in_process))
      err = std::string("--") + only_in_process + " does not go with --sample-rss";
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast swarm: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  ProcessSwarm swarm(o);
  if (!a.has("quiet"))
    std::fprintf(stderr, "meshcast swarm: %d viewer processes for %.0f s, sampling every %.1f s\n",
                 o.viewers, o.duration_s, o.sample_s);
  const auto ran = swarm.run();
  auto j = swarm.report();
  if (!print_result(a, j)) return kExitFailure;
  if (!ran) {
    std::fprintf(stderr, "meshcast swarm: %s\n", ran.error().c_str());
    return kExitFailure;
  }
  return swarm.interrupted() ? kExitInterrupted : kExitOk;
}

int run(int argc, char** argv) {
  Args a(
      argc, argv, {"quiet", "media"},
      {"viewers", "duration",     "bitrate",    "segment-ms", "copies",     "churn",  "kill-at",
       "loss",    "join-spread",  "max-upload", "malicious",  "seed",       "json",   "workers",
       "sybils",  "tracker-port", "stats",      "log-level",  "sample-rss", "warmup", "stats-dir"});
  if (a.help()) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  if (a.has("sample-rss")) return run_processes(a);
  if (a.has("warmup") || a.has("stats-dir")) {
    std::fprintf(stderr,
                 "meshcast swarm: --warmup and --stats-dir need --sample-rss (see --help)\n");
    return kExitUsage;
  }
  SwarmOptions o;
  parse_common(a, o, 2000);
  o.loss = a.get_double("loss", 0, 0, 0.5);
  o.tracker_port = uint16_t(a.get_int("tracker-port", 0, 0, 65535));
  int malicious = int(a.get_int("malicious", 0, 0, 1000));
  int sybils = int(a.get_int("sybils", 0, 0, 1000));
  // One GLib loop per ~40 viewers: a loop polls all its sources on every wake-up.
  o.workers = int(a.get_int("workers", o.viewers > 40 ? (o.viewers + 39) / 40 : 0, 0, 64));
  double kill_at = -1, kill_fraction = 0;
  std::string err = a.ok() ? "" : a.error();
  if (err.empty()) err = apply_log_level_option(a.get("log-level"), a.has("log-level"));
  StatsWriter stats;
  if (err.empty() && a.has("stats")) {
    if (auto opened = stats.open(a.get("stats")); !opened) err = opened.error();
  }
  if (err.empty() && a.has("kill-at")) {
    std::string v = a.get("kill-at");
    auto colon = v.find(':');
    try {
      kill_at = std::stod(v.substr(0, colon));
      kill_fraction = std::stod(v.substr(colon + 1));
    } catch (...) {
      kill_at = -1;
    }
    if (colon == std::string::npos || kill_at < 0 || kill_fraction <= 0 || kill_fraction > 1)
      err = "--kill-at must be SECONDS:FRACTION, e.g. 10:0.3";
  }
  if (err.empty() && malicious >= o.viewers) err = "--malicious must be below --viewers";
  if (err.empty() && o.workers > 0 && malicious > 0)
    err = "--malicious needs the viewers in this process (--workers 0)";
  if (err.empty() && sybils + malicious >= o.viewers)
    err = "--sybils plus --malicious must be below --viewers";
  if (err.empty() && o.workers > 0 && sybils > 0)
    err = "--sybils needs the viewers in this process (--workers 0)";
  if (o.workers > 0 && kill_at >= 0) {  // the workers kill their own share
    o.kill_at_s = kill_at;
    o.kill_fraction = kill_fraction;
    kill_at = -1;
  }
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast swarm: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  // Sybils join first: the strongest position, holding whatever slots come first.
  for (int i = 0; i < sybils; ++i) o.sybils.push_back(i);
  for (int i = 0; i < malicious; ++i)
    o.tamperers.push_back(sybils + (sybils ? 0 : 1) + i * (o.viewers - sybils) / malicious);

  MainLoop loop;
  Swarm swarm(o);
  if (auto started = swarm.start(); !started) {
    std::fprintf(stderr, "meshcast swarm: %s\n", started.error().c_str());
    return kExitFailure;
  }
  std::fprintf(stderr, "meshcast swarm: dashboard at %s/?stream=%s\n",
               swarm.tracker()->http_url().c_str(), o.stream.c_str());
  StatusLine status(a.has("quiet"));
  bool killed = false;
  loop.every(1000, [&] {
    if (!swarm.fatal_error().empty()) loop.quit();
    if (kill_at >= 0 && !killed && swarm.elapsed_s() >= kill_at) {
      killed = true;
      int n = swarm.kill_fraction(kill_fraction);
      log_msg(LogLevel::Info, "killed %d viewers", n);
    }
    status.update(swarm.status_line());
    stats.write(swarm.status_json());
    return true;
  });
  bool interrupted = loop.run(o.duration_s);
  if (o.workers > 0) loop.run_until([&] { return swarm.workers_done(); }, 15000);
  status.finish();
  if (!swarm.fatal_error().empty()) {
    std::fprintf(stderr, "meshcast swarm: %s\n", swarm.fatal_error().c_str());
    return kExitFailure;
  }
  auto j = swarm.summary();
  swarm.stop();
  loop.run_until([] { return false; }, 300);
  if (!print_result(a, j)) return kExitFailure;
  return interrupted ? kExitInterrupted : kExitOk;
}

RegisterCommand reg("swarm", "run a tracker, a broadcaster and N viewers on loopback", run);

}  // namespace
}  // namespace meshcast::app
