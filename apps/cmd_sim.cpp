// meshcast sim: discrete-event simulation of a broadcast swarm running the mesh core.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "apps/cli/args.hpp"
#include "apps/cli/stats.hpp"
#include "apps/command.hpp"
#include "mesh/core/ed25519.hpp"
#include "mesh/sim/simulator.hpp"

using namespace meshcast;
using namespace meshcast::mesh;

namespace {

const char* kHelp =
    "Usage: meshcast sim [options]\n"
    "Simulates a broadcaster and N viewers running the mesh core (push-pull, signed segments)\n"
    "in one process with a discrete-event network model; prints/writes metrics as JSON.\n\n"
    "Options:\n"
    "  --peers N              viewers kept in the swarm (default 1000)\n"
    "  --duration S           simulated seconds (default 120)\n"
    "  --bitrate KBPS         stream bit rate (default 1000)\n"
    "  --segment-ms MS        segment duration (default 200)\n"
    "  --rtt-ms A..B          per-pair RTT range from peer coordinates (default 20..200)\n"
    "  --loss P               per-packet (1,100-byte chunk) loss (default 0)\n"
    "  --no-nack              a lost chunk loses its whole segment (default: the link NACKs\n"
    "                         lost media chunks, costing one RTT per round, 3 rounds max)\n"
    "  --store-and-forward    relays send a segment on only once all of it is in (default:\n"
    "                         to the first child piece by piece while it arrives, as real peers)\n"
    "  --churn-lifetime S     mean exponential viewer lifetime; departed viewers are replaced\n"
    "                         by new joiners (default 0 = no churn)\n"
    "  --upload-dist SPEC     fraction:multiple-of-stream-rate list (default 0.2:0.5,0.5:2,0.3:4)\n"
    "  --join-spread S        initial viewers join uniformly over S seconds (default 10)\n"
    "  --flash-crowd          all initial viewers join within 1 s\n"
    "  --source-copies N      broadcaster serves at most N stream copies (default 4)\n"
    "  --substreams K         push sub-streams (default 4)\n"
    "  --forgers N            viewers that alter every segment they relay (default 0)\n"
    "  --sybils N             the first N viewers join before the others, declare the most\n"
    "                         upload peers believe, accept partners and children and never\n"
    "                         send a segment; metrics are the honest viewers' (default 0)\n"
    "  --node K=V,...         protocol knobs (ms for times), K one of:\n"
    "%s"
    "  --seed N               RNG seed; same seed, same metrics (default 1)\n"
    "  --json FILE            write the metrics to FILE (always printed to stdout)\n"
    "  --progress             a line on stderr per 10 simulated seconds\n"
    "  --partitions N         peers split into N partitions run in parallel windows; results\n"
    "                         depend on N, not on the threads (default 2)\n"
    "  --threads N            threads running the partitions (default: one per core)\n"
    "  --trace-peer ID        print every input and output of peer ID (0 = source, viewers\n"
    "                         from 1 in join order) to stderr; runs on one thread\n"
    "  --tree-shape           print the push trees at the end to stderr: per depth, viewers\n"
    "                         by upload class (< 1x, < 3x, faster) and their mean children\n"
    "  --bench-crypto         measure Ed25519 sign/verify + SHA-256 per segment and exit\n\n"
    "Examples:\n"
    "  meshcast sim --peers 1000 --duration 60 --seed 1\n"
    "  meshcast sim --peers 100000 --duration 120 --bitrate 1000 --segment-ms 200 \\\n"
    "      --rtt-ms 20..200 --loss 0.01 --churn-lifetime 200 --seed 1 --json out.json\n"
    "  meshcast sim --peers 200 --duration 20 --trace-peer 5 2> peer5.log\n"
    "  meshcast sim --bench-crypto --bitrate 1000 --segment-ms 200\n";

// --node key=value,...: protocol parameters of every node (times in ms), one line a knob.
using Knob = void (*)(NodeConfig&, double);
#define MS_KNOB(name, field)                                          \
  {                                                                   \
    name, [](NodeConfig& n, double v) { n.field = TimeUs(v * 1000); } \
  }
#define N_KNOB(name, field, type)                            \
  {                                                          \
    name, [](NodeConfig& n, double v) { n.field = type(v); } \
  }
const std::map<std::string, Knob>& node_knobs() {
  static const std::map<std::string, Knob> knobs = {
      N_KNOB("push_utilization", push_utilization, double),
      N_KNOB("target_partners", target_partners, uint32_t),
      N_KNOB("max_partners", max_partners, uint32_t),
      N_KNOB("max_stalls_per_segment", max_stalls_per_segment, uint32_t),
      N_KNOB("window", window, uint32_t),
      N_KNOB("max_candidates", max_candidates, uint32_t),
      N_KNOB("silent_parent_strikes", silent_parent_strikes, uint32_t),
      N_KNOB("preempt_upload_percent", preempt_upload_percent, uint32_t),
      N_KNOB("home_below_slots", home_below_slots, uint32_t),
      N_KNOB("foreign_children", foreign_children, uint32_t),
      N_KNOB("startup_lookback_segments", startup_lookback_segments, uint32_t),
      N_KNOB("startup_unanswered_max", startup_unanswered_max, uint32_t),
      N_KNOB("unknown_depth_hops", unknown_depth_hops, uint32_t),
      MS_KNOB("tick_ms", tick_us),
      MS_KNOB("bm_interval_ms", bm_interval_us),
      MS_KNOB("initial_buffer_ms", initial_buffer_us),
      MS_KNOB("startup_widen_ms", startup_widen_us),
      MS_KNOB("startup_retry_ms", startup_retry_us),
      MS_KNOB("startup_phase_ms", startup_phase_us),
      MS_KNOB("deadline_pull_ms", deadline_pull_us),
      MS_KNOB("stall_step_ms", stall_step_us),
      MS_KNOB("pull_grace_ms", pull_grace_us),
      MS_KNOB("hop_estimate_ms", hop_estimate_us),
      MS_KNOB("switch_gain_ms", switch_gain_us),
      MS_KNOB("balance_spread_ms", balance_spread_us),
      MS_KNOB("balance_gain_ms", balance_gain_us),
      MS_KNOB("shrink_margin_ms", shrink_margin_us),
      MS_KNOB("shrink_step_ms", shrink_step_us),
      MS_KNOB("shrink_period_ms", shrink_period_us),
      MS_KNOB("request_timeout_ms", request_timeout_us),
      MS_KNOB("max_fanout_delay_ms", max_fanout_delay_us),
      MS_KNOB("parent_timeout_ms", parent_timeout_us),
      MS_KNOB("first_push_timeout_ms", first_push_timeout_us),
      MS_KNOB("orphan_timeout_ms", orphan_timeout_us),
      MS_KNOB("refuse_backoff_ms", refuse_backoff_us),
      MS_KNOB("parent_check_ms", parent_check_us),
      MS_KNOB("parent_jitter_ms", parent_jitter_us),
      MS_KNOB("need_neighbours_ms", need_neighbours_us),
      MS_KNOB("source_partner_grace_ms", source_partner_grace_us),
  };
  return knobs;
}
#undef MS_KNOB
#undef N_KNOB

// The knob names for --help, wrapped under the option's description column.
std::string knob_list() {
  std::string out, line;
  for (auto& [name, fn] : node_knobs()) {
    if (!line.empty() && line.size() + name.size() + 2 > 64) {
      out += "                         " + line + ",\n";
      line.clear();
    }
    line += (line.empty() ? "" : ", ") + name;
  }
  return out + "                         " + line + "\n";
}

// Returns "" on success, else what is wrong with the list.
std::string parse_node(const std::string& s, NodeConfig& n) {
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto e = item.find('=');
    if (e == std::string::npos) return "'" + item + "' is not KEY=VALUE";
    const std::string key = item.substr(0, e), text = item.substr(e + 1);
    const auto knob = node_knobs().find(key);
    if (knob == node_knobs().end()) return "unknown knob '" + key + "'";
    double v = -1;
    size_t used = 0;
    try {
      v = std::stod(text, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != text.size() || !(v >= 0) || v > 1e9)
      return key + " wants a number from 0 to 1e9, not '" + text + "'";
    knob->second(n, v);
  }
  return "";
}

bool parse_dist(const std::string& s, std::vector<std::pair<double, double>>& out) {
  out.clear();
  std::stringstream ss(s);
  std::string item;
  double total = 0;
  while (std::getline(ss, item, ',')) {
    const auto c = item.find(':');
    if (c == std::string::npos) return false;
    try {
      const double f = std::stod(item.substr(0, c)), m = std::stod(item.substr(c + 1));
      if (!(f > 0 && m >= 0)) return false;
      out.emplace_back(f, m);
      total += f;
    } catch (...) {
      return false;
    }
  }
  if (out.empty() || total <= 0) return false;
  for (auto& [f, m] : out) f /= total;
  return true;
}

int bench_crypto(uint32_t seg_bytes) {
  auto signer = Ed25519Signer::generate();
  if (!signer) return app::kExitFailure;
  auto verifier = Ed25519Verifier::from_public(signer->public_key());
  Segment seg;
  seg.header.stream_id = 1;
  seg.header.size = seg_bytes;
  seg.payload = std::make_shared<std::vector<uint8_t>>(seg_bytes, 0xAB);
  const int n = 2000;
  using clk = std::chrono::steady_clock;
  auto t0 = clk::now();
  for (int i = 0; i < n; ++i) {
    seg.header.number = uint32_t(i);
    signer->sign(seg);
  }
  auto t1 = clk::now();
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += verifier->verify(seg);
  auto t2 = clk::now();
  for (int i = 0; i < n; ++i) (void)sha256(seg.payload_bytes());
  auto t3 = clk::now();
  auto us = [&](auto a, auto b) {
    return std::chrono::duration<double, std::micro>(b - a).count() / n;
  };
  nlohmann::json j = {{"segment_bytes", seg_bytes},
                      {"sign_us", us(t0, t1)},
                      {"verify_us", us(t1, t2)},
                      {"sha256_us", us(t2, t3)},
                      {"verified", ok}};
  std::printf("%s\n", j.dump(2).c_str());
  return ok == n ? app::kExitOk : app::kExitFailure;
}

nlohmann::json dist_json(const sim::Dist& d) {
  return {{"p50", d.p50}, {"p95", d.p95}, {"max", d.max}, {"count", d.count}};
}

// 100,000 simulated peers touch ~2 GB at random: with 4 KiB pages the run is TLB-bound.
// glibc >= 2.35 backs malloc with transparent huge pages when asked by a tunable, which
// must be set before the process starts: re-exec ourselves once with it (~20 % faster).
void reexec_with_huge_pages(int argc, char** argv) {
  if (std::getenv("GLIBC_TUNABLES") || std::getenv("MESHCAST_SIM_NO_REEXEC")) return;
  if (setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1) != 0) return;
  std::vector<char*> args;
  std::string self = "/proc/self/exe";
  args.push_back(self.data());
  std::string name = "sim";
  args.push_back(name.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(self.c_str(), args.data());
  unsetenv("GLIBC_TUNABLES");  // exec failed: carry on without
}

int run(int argc, char** argv) {
  app::Args args(
      argc, argv,
      {"flash-crowd", "progress", "bench-crypto", "no-nack", "store-and-forward", "tree-shape"},
      {"peers", "duration", "bitrate", "segment-ms", "rtt-ms", "loss", "churn-lifetime",
       "upload-dist", "join-spread", "source-copies", "substreams", "forgers", "sybils", "seed",
       "json", "node", "partitions", "threads", "trace-peer"});
  if (args.help()) {
    std::printf(kHelp, knob_list().c_str());
    return app::kExitOk;
  }
  sim::SimConfig c;
  c.peers = uint32_t(args.get_int("peers", 1000, 1, 2'000'000));
  c.duration_s = args.get_double("duration", 120, 1, 36000);
  c.bitrate_kbps = uint64_t(args.get_int("bitrate", 1000, 8, 100'000));
  c.segment_ms = uint32_t(args.get_int("segment-ms", 200, 20, 2000));
  c.loss = args.get_double("loss", 0, 0, 0.5);
  c.churn_lifetime_s = args.get_double("churn-lifetime", 0, 0, 1e9);
  c.join_spread_s = args.get_double("join-spread", 10, 0, 36000);
  c.source_copies = uint32_t(args.get_int("source-copies", 4, 1, 64));
  c.node.substreams = uint32_t(args.get_int("substreams", 4, 1, kMaxSubstreams));
  c.forgers = uint32_t(args.get_int("forgers", 0, 0, 1'000'000));
  c.sybils = uint32_t(args.get_int("sybils", 0, 0, 1'000'000));
  c.seed = uint64_t(args.get_int("seed", 1, 0, 1L << 62));
  c.progress = args.has("progress");
  c.partitions = uint32_t(args.get_int("partitions", 2, 1, 64));
  c.threads = uint32_t(args.get_int("threads", 0, 0, 64));
  c.nack = !args.has("no-nack");
  c.cut_through = !args.has("store-and-forward");
  c.tree_shape = args.has("tree-shape");
  if (args.has("trace-peer"))
    c.trace_peer = PeerId(args.get_int("trace-peer", 0, 0, int64_t(kNoPeer) - 1));
  if (args.has("flash-crowd")) c.join_spread_s = 1;
  if (args.ok() && args.has("rtt-ms")) {
    const std::string r = args.get("rtt-ms");
    const auto dots = r.find("..");
    try {
      if (dots == std::string::npos) {
        c.rtt_min_ms = c.rtt_max_ms = uint32_t(std::stoul(r));
      } else {
        c.rtt_min_ms = uint32_t(std::stoul(r.substr(0, dots)));
        c.rtt_max_ms = uint32_t(std::stoul(r.substr(dots + 2)));
      }
    } catch (...) {
      c.rtt_max_ms = 0, c.rtt_min_ms = 1;
    }
    if (c.rtt_min_ms > c.rtt_max_ms || c.rtt_max_ms > 10000) {
      std::fprintf(stderr, "meshcast sim: --rtt-ms must be A..B with A <= B <= 10000 ms\n");
      return app::kExitUsage;
    }
  }
  if (args.ok() && args.has("upload-dist") && !parse_dist(args.get("upload-dist"), c.upload_dist)) {
    std::fprintf(stderr, "meshcast sim: --upload-dist must look like 0.2:0.5,0.5:2,0.3:4\n");
    return app::kExitUsage;
  }
  if (args.ok() && args.has("node")) {
    if (std::string err = parse_node(args.get("node"), c.node); !err.empty()) {
      std::fprintf(stderr, "meshcast sim: --node: %s (see meshcast sim --help)\n", err.c_str());
      return app::kExitUsage;
    }
  }
  if (!args.ok()) {
    std::fprintf(stderr, "meshcast sim: %s\n(see meshcast sim --help)\n", args.error().c_str());
    return app::kExitUsage;
  }
  if (c.sybils > 0 && uint64_t(c.forgers) + c.sybils >= c.peers) {
    std::fprintf(stderr, "meshcast sim: --forgers plus --sybils must be below --peers\n");
    return app::kExitUsage;
  }
  if (c.forgers > c.peers) {
    std::fprintf(stderr, "meshcast sim: --forgers must not exceed --peers\n");
    return app::kExitUsage;
  }
  if (args.has("bench-crypto"))
    return bench_crypto(uint32_t(c.bitrate_kbps * 1000 / 8 * c.segment_ms / 1000));

  if (c.peers >= 20000) reexec_with_huge_pages(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  const sim::SimResult r = sim::run_simulation(c);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j = {
      {"startup_ms", dist_json(r.startup_ms)},
      {"lag_ms", dist_json(r.lag_ms)},
      {"hops", dist_json(r.hops)},
      {"continuity", r.continuity},
      {"source_upload_copies", r.source_upload_copies},
      {"control_overhead", r.control_overhead},
      {"duplicate_ratio", r.duplicate_ratio},
      {"wall_time_s", wall},
      {"peak_rss_mb", app::peak_rss_mb()},
      {"cpu_time_s", app::cpu_seconds()},
      {"context",
       {{"peers", c.peers},
        {"duration_s", c.duration_s},
        {"seed", c.seed},
        {"events", r.events},
        {"partitions", r.partitions},
        {"threads", r.threads},
        {"viewers_joined", r.viewers_joined},
        {"viewers_never_started", r.viewers_never_started},
        {"departures", r.departures},
        {"retransmitted_ratio", r.retransmitted_ratio},
        {"arrival_ms", dist_json(r.arrival_ms)},
        {"arrivals_pushed", r.arrivals_pushed},
        {"media_send_ms",
         {{"queue", r.send_queue_ms},
          {"serialise", r.send_serialise_ms},
          {"latency", r.send_latency_ms},
          {"repair", r.send_repair_ms}}},
        {"nack", c.nack},
        {"cut_through", c.cut_through},
        {"parents_lost", r.parents_lost},
        {"subtree_releases", r.subtree_releases},
        {"segments_published", r.segments_published},
        {"played", r.played},
        {"missed", r.missed},
        {"missed_unavailable", r.missed_unavailable},
        {"stalls", r.stalls},
        {"warmup_s", r.warmup_s},
        {"lag_ms_after_warmup", dist_json(r.lag_ms_steady)},
        {"startup_ms_joined_after_warmup", dist_json(r.startup_ms_steady)},
        {"min_viewer_continuity", r.min_viewer_continuity},
        {"source_max_subscribers_per_substream", r.source_max_subscribers},
        {"final_playout_delay_ms_p50", r.final_playout_delay_ms_p50},
        {"hops_reference_log2n_plus_1", int(std::ceil(std::log2(double(c.peers)))) + 1},
        {"forged_played", r.forged_played},
        {"forged_sent", r.forged_sent},
        {"forger_reports", r.forger_reports},
        {"forger_links_dropped", r.forger_links_dropped},
        {"honest_reported", r.honest_reported},
        {"sybils", r.sybils},
        {"source_idle_children_replaced", r.source_idle_children_replaced},
        {"source_silent_children_replaced", r.source_silent_children_replaced}}}};
  const std::string s = j.dump(2);
  std::printf("%s\n", s.c_str());
  if (args.has("json")) {
    std::ofstream f(args.get("json"));
    f << s << "\n";
    if (!f) {
      std::fprintf(stderr, "meshcast sim: cannot write %s\n", args.get("json").c_str());
      return app::kExitFailure;
    }
  }
  return app::kExitOk;
}

app::RegisterCommand reg("sim",
                         "simulate a broadcast swarm (mesh core, N peers) and report metrics", run);

}  // namespace
