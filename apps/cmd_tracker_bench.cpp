// meshcast tracker-bench: N concurrent WebSocket clients against a tracker (by default a
// separate `meshcast tracker` process, so its RSS is measured cleanly). Every client says
// hello and joins one stream; then pairs exchange relay ping/pong for a few rounds.
// Reports connect rate, relay round-trip percentiles and server memory per peer as JSON.
#include <glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/bench/raw_load_procs.hpp"
#include "apps/cli/args.hpp"
#include "apps/cli/stats.hpp"
#include "apps/command.hpp"
#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/base/expected.hpp"
#include "mesh/base/time.hpp"
#include "signaling/raw_ws.hpp"
#include "signaling/tracker_client.hpp"

using namespace meshcast;
using nlohmann::json;
using signaling::ClientState;
using signaling::Reply;
using signaling::TrackerClient;

namespace {
using meshcast::app::percentile;
using meshcast::app::sample_process;

const char* kHelp = R"(Usage: meshcast tracker-bench [options]

Load test for the tracker: N clients connect over WebSocket, say hello and join one stream
(bounded concurrency while connecting), then half of them exchange relay ping/pong messages
with a partner through the tracker. Prints one JSON object with the connect rate, relay
round-trip p50/p95/p99 and the tracker's memory per peer (RSS delta / N).

Options:
  --clients N        number of clients (default 1000, max 20000)
  --url URL          use a running tracker instead of starting one (no RSS figures unless
                     --tracker-pid is given too). URL1,URL2,...: instances of a tracker
                     cluster; client i connects to URL number i mod K (the stream's owner
                     to the first)
  --tracker-pid PID  process whose RSS to sample when --url is used (PID1,PID2,...: the
                     instances; RSS and CPU are their sums)
  --pairing MODE     across (default): client i pings client i+1, on another instance when
                     several URLs are given; within: client i pings client i+K, on its own
  --concurrency N    connects in flight at once (default 256)
  --rounds N         ping/pong round trips per pinging client (default 5)
  --one-pair-rounds N  round trips of the single pair before the others start (default
                     100). Its tracker CPU per relay is the cost of one message with N
                     clients connected and nothing else going on (enough rounds to be
                     well above the 10 ms resolution of the process's CPU time)
  --timeout-s N      give up after N seconds in total (default 120)
  --generator KIND   libsoup (default): every client is a TrackerClient, the code peers
                     run; raw: clients are bare sockets in epoll loops of --procs child
                     processes, a few microseconds per message, so the generator stays
                     far from saturated and the figures are the tracker's. raw allows
                     --clients up to 200000 (with a tracker cluster: one instance holds
                     fewer than its descriptor limit)
  --procs N          raw: generator processes (default: one per 10,000 clients)
  --help             this text

Attack modes (a tracker child process is always started; its RSS is sampled every 100 ms):
  --attack amplification
                     owners create --streams streams (each with a ~1.8 KB codec object);
                     then --conns raw WebSocket connections (receive buffer 4 KB) say hello
                     and send --requests stream_list requests each without reading a byte,
                     and hold for --hold-s seconds (default 5)
  --attack idle      --half-open sockets send half an HTTP request, --idle sockets send
                     nothing, --silent sockets upgrade to WebSocket, say hello and then never
                     read (so never answer a ping); held for --hold-s seconds (default 70)
  Both report the tracker's RSS before, peak and after, its CPU time during the hold
  (tracker_cpu_s_hold: what holding the sockets costs), how many attacking sockets the
  tracker closed, and whether an honest client could connect, say hello and list streams
  at the end. --streams N (56), --conns N (10), --requests N (100), --half-open N (200),
  --idle N (200), --silent N (200), --tracker-args "ARGS" (extra tracker options),
  --tracker-exe PATH (run the tracker of another meshcast build, e.g. to compare versions),
  --repeat N (1: run the attack N times against the same tracker, RSS after each round).

Examples:
  meshcast tracker-bench --clients 5000
  meshcast tracker-bench --clients 19000 --generator raw
  meshcast tracker-bench --clients 200 --url ws://127.0.0.1:8700/ws --tracker-pid 1234
  meshcast tracker-bench --clients 2000 --url ws://127.0.0.1:8701/ws,ws://127.0.0.1:8702/ws \
      --tracker-pid 1234,1235 --pairing within
  meshcast tracker-bench --attack amplification
  meshcast tracker-bench --attack idle --hold-s 30
)";

// Tracker CPU per relayed message over a phase (each round trip = 2 relays); null when the
// CPU was not read (-1) or nothing was relayed.
json per_relay_us(double cpu_from_s, double cpu_to_s, std::size_t round_trips) {
  return (cpu_from_s >= 0 && cpu_to_s >= 0 && round_trips > 0)
             ? json((cpu_to_s - cpu_from_s) * 1e6 / (2.0 * static_cast<double>(round_trips)))
             : json();
}

long rss_kb(pid_t pid) {
  auto s = sample_process(pid);
  return s ? long(s->rss_kb) : -1;
}

double cpu_seconds(pid_t pid) {
  auto s = sample_process(pid);
  return s ? s->cpu_ms / 1000.0 : -1;
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

struct Bench {
  int n = 0, concurrency = 256, rounds = 5;
  std::string url;
  std::vector<std::string> urls;  // instances of a cluster (or the one tracker)
  media::GObjectPtr<SoupSession> session;
  std::vector<std::unique_ptr<TrackerClient>> clients;
  int next_to_start = 0, in_flight = 0, joined = 0, failed = 0;
  int pingers = 0;
  std::vector<double> rtt_ms;
  std::vector<std::string> errors;  // first few, for the report
  bool stream_ready = false;
  media::SourceGuard stream_ready_timer;

  static std::string id_of(int i) { return "bench-" + std::to_string(i); }

  void note_error(const std::string& e) {
    ++failed;
    if (errors.size() < 5) errors.push_back(e);
  }

  void start_more() {
    while (stream_ready && in_flight < concurrency && next_to_start < n)
      start_client(next_to_start++);
  }

  void finished_one(bool ok) {
    --in_flight;
    if (ok) ++joined;
    start_more();
  }

  void start_client(int i) {
    ++in_flight;
    signaling::TrackerClientOptions o;
    o.max_reconnect_attempts = 0;
    o.session = session.get();
    o.keepalive_s = 0;
    o.request_timeout_ms = 60000;
    clients[i] = std::make_unique<TrackerClient>(o);
    TrackerClient* c = clients[i].get();
    c->set_on_state([this, c, i](ClientState s, const std::string& why) {
      if (s == ClientState::kConnected) {
        signaling::HelloParams h;
        h.peer_id = id_of(i);
        h.upload_kbps = 5000;
        c->hello(h, [this, c, i](const Reply& r) {
          if (!r.ok) return note_error("hello: " + r.code), finished_one(false);
          c->join("bench", "", [this, i](const Reply& j) {
            if (!j.ok) note_error("join: " + j.code);
            finished_one(j.ok);
            (void)i;
          });
        });
      } else if (s == ClientState::kFailed || s == ClientState::kDisconnected) {
        if (!c->peer_id().empty() || why.empty()) return;
        note_error("connect: " + why);
        finished_one(false);
      }
    });
    // Echo pings back to their sender.
    c->on("relay", [c](const json& m) {
      if (m.value("kind", "") == "ping") c->relay(m["from"], "pong", m["payload"]);
    });
    c->connect(url_for(i));
  }
  const std::string& url_for(int i) const {
    return urls[static_cast<std::size_t>(i) % urls.size()];
  }
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> parts;
  for (std::size_t at = 0; at <= s.size();) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    if (comma > at) parts.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return parts;
}

// Starts `meshcast tracker --listen 127.0.0.1:0 --quiet EXTRA...` and reads its URL.
Expected<std::string, std::string> spawn_tracker(const std::vector<std::string>& extra, GPid* child,
                                                 const std::string& tracker_exe = "") {
  media::GCharPtr exe(g_file_read_link("/proc/self/exe", nullptr));
  std::vector<std::string> args = {
      tracker_exe.empty() ? (exe ? exe.get() : "meshcast") : tracker_exe, "tracker", "--listen",
      "127.0.0.1:0", "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<gchar*> argv_child;
  for (auto& a : args) argv_child.push_back(a.data());
  argv_child.push_back(nullptr);
  gint out_fd = -1;
  media::GErrorPtr e;
  if (!g_spawn_async_with_pipes(nullptr, argv_child.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD,
                                nullptr, nullptr, child, nullptr, &out_fd, nullptr,
                                media::out_ptr(e)))
    return unexpected(std::string("cannot start tracker: ") + e->message);
  FILE* f = fdopen(out_fd, "r");
  char line[512] = {0};
  if (!f || !std::fgets(line, sizeof line, f)) {
    if (f) fclose(f);
    kill(*child, SIGTERM);
    return unexpected("tracker did not start");
  }
  fclose(f);
  std::string s = line;
  auto p = s.find("ws://");
  if (p == std::string::npos) {
    kill(*child, SIGTERM);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return unexpected("unexpected tracker output: " + s);
  }
  std::string url = s.substr(p);
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  return url;
}

void stop_tracker(GPid child) {
  if (child <= 0) return;
  kill(child, SIGTERM);
  int st = 0;
  waitpid(child, &st, 0);
  g_spawn_close_pid(child);
}

uint16_t port_of(const std::string& url) {
  auto colon = url.rfind(':');
  return colon == std::string::npos ? 0 : uint16_t(std::atoi(url.c_str() + colon + 1));
}

// Runs the default main context until `pred` holds or `ms` pass.
bool pump_until(const std::function<bool()>& pred, int64_t ms) {
  media::SourceGuard wake = media::SourceGuard::timeout(
      20, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
  const int64_t end = monotonic_us() + ms * 1000;
  while (!pred() && monotonic_us() < end) g_main_context_iteration(nullptr, TRUE);
  return pred();
}

// One honest client: connect, hello, list streams. True when all three worked.
bool honest_client_works(const std::string& url, SoupSession* session, double* ms) {
  signaling::TrackerClientOptions o;
  o.max_reconnect_attempts = 0;
  o.session = session;
  o.request_timeout_ms = 10000;
  TrackerClient c(o);
  int stage = 0;  // 1 connected, 2 hello ok, 3 list ok, -1 failed
  const int64_t t0 = monotonic_us();
  c.set_on_state([&](ClientState s, const std::string&) {
    if (s == ClientState::kConnected && stage == 0) {
      stage = 1;
      signaling::HelloParams h;
      h.peer_id = "honest-" + std::to_string(monotonic_us());
      c.hello(h, [&](const Reply& r) {
        if (!r.ok) return void(stage = -1);
        stage = 2;
        c.list_streams([&](const Reply& l) { stage = l.ok ? 3 : -1; });
      });
    } else if (s == ClientState::kFailed || s == ClientState::kDisconnected) {
      if (stage < 3) stage = -1;
    }
  });
  c.connect(url);
  pump_until([&] { return stage == 3 || stage == -1; }, 15000);
  *ms = double(monotonic_us() - t0) / 1000.0;
  bool ok = stage == 3;
  c.close();
  return ok;
}

struct RssWatch {
  pid_t pid;
  double peak_kb = 0;
  void sample() {
    if (auto s = sample_process(pid)) peak_kb = std::max(peak_kb, s->rss_kb);
  }
};

int run_attack(app::Args& args) {
  const std::string mode = args.get("attack");
  const long streams = args.get_int("streams", 56, 0, 10000);
  const long conns = args.get_int("conns", 10, 1, 10000);
  const long requests = args.get_int("requests", 100, 1, 100000);
  const long half_open = args.get_int("half-open", 200, 0, 20000);
  const long idle = args.get_int("idle", 200, 0, 20000);
  const long silent = args.get_int("silent", 200, 0, 20000);
  const long hold_s = args.get_int("hold-s", mode == "idle" ? 70 : 5, 1, 3600);
  double hold_cpu_s = 0;
  const long repeat = args.get_int("repeat", 1, 1, 100);
  std::vector<std::string> extra;
  {
    std::istringstream in(args.get("tracker-args"));
    for (std::string w; in >> w;) extra.push_back(w);
  }
  if (!args.ok()) {
    std::fprintf(stderr, "meshcast tracker-bench: %s (see --help)\n", args.error().c_str());
    return app::kExitUsage;
  }
  if (mode != "amplification" && mode != "idle") {
    std::fprintf(stderr, "meshcast tracker-bench: --attack is amplification|idle\n");
    return app::kExitUsage;
  }
  raise_fd_limit();
  GPid child = 0;
  auto spawned = spawn_tracker(extra, &child, args.get("tracker-exe"));
  if (!spawned) {
    std::fprintf(stderr, "meshcast tracker-bench: %s\n", spawned.error().c_str());
    return app::kExitFailure;
  }
  const std::string url = std::move(*spawned);
  const uint16_t port = port_of(url);
  media::GObjectPtr<SoupSession> session(soup_session_new_with_options(
      "max-conns", 10000, "max-conns-per-host", 10000, "timeout", 0u, "idle-timeout", 0u, nullptr));
  RssWatch rss{child};
  std::vector<std::unique_ptr<TrackerClient>> owners;
  std::vector<std::string> errors;
  json report = {{"attack", mode}, {"tracker_args", args.get("tracker-args")}};

  // Streams to list (amplification only): 8 per owner, the per-peer cap.
  int created = 0;
  if (mode == "amplification") {
    const std::string pad(1800, 'x');
    for (long o = 0; o * 8 < streams; ++o) {
      signaling::TrackerClientOptions co;
      co.max_reconnect_attempts = 0;
      co.session = session.get();
      owners.push_back(std::make_unique<TrackerClient>(co));
      TrackerClient* c = owners.back().get();
      c->set_on_state([&, c, o](ClientState s, const std::string&) {
        if (s != ClientState::kConnected) return;
        signaling::HelloParams h;
        h.peer_id = "owner-" + std::to_string(o);
        h.role = "broadcaster";
        c->hello(h, [&, c, o](const Reply& r) {
          if (!r.ok) return errors.push_back("owner hello: " + r.code);
          for (long k = o * 8; k < std::min(streams, (o + 1) * 8); ++k) {
            signaling::StreamParams sp;
            sp.name = "stream-" + std::to_string(k);
            sp.public_key = std::string(64, '0');
            sp.codec = {{"video", "vp8"}, {"audio", "opus"}, {"note", pad}};
            c->create_stream(sp, [&](const Reply& cr) {
              if (cr.ok)
                ++created;
              else
                errors.push_back("create: " + cr.code);
            });
          }
        });
      });
      c->connect(url);
    }
    pump_until([&] { return created >= streams; }, 20000);
  }
  pump_until([] { return false; }, 500);
  auto before = sample_process(child);
  report["streams"] = created;
  report["tracker_rss_kb_before"] = before ? before->rss_kb : -1;

  // The attack, `repeat` times against the same tracker (each round's sockets are closed
  // before the next): memory that is not given back grows round after round.
  struct Sock {
    int fd;
    std::string kind;
  };
  std::vector<Sock> socks;
  int setup_failed = 0;
  const int64_t t_attack = monotonic_us();
  std::optional<app::ProcSample> after;
  json open = json::object(), total = json::object(), rounds = json::array();
  for (long round = 0; round < repeat; ++round) {
    if (round > 0) {
      for (auto& s : socks) ::close(s.fd);
      socks.clear();
      pump_until([] { return false; }, 500);
    }
    if (mode == "amplification") {
      const std::string list = signaling::raw::text_frame(R"({"type":"stream_list"})");
      std::string burst;
      for (long i = 0; i < requests; ++i) burst += list;
      for (long i = 0; i < conns; ++i) {
        int fd = signaling::raw::connect_loopback(port, 4096);
        bool ok = fd >= 0 && signaling::raw::handshake(fd, port) &&
                  signaling::raw::send_all(
                      fd, signaling::raw::text_frame(R"({"type":"hello","role":"viewer"})"));
        // The welcome, then hello_ok.
        ok = ok && signaling::raw::read_text(fd).has_value() &&
             signaling::raw::read_text(fd).has_value();
        ok = ok && signaling::raw::send_all(fd, burst, 5000);
        if (!ok) ++setup_failed;
        if (fd >= 0) socks.push_back({fd, "amplification"});
        rss.sample();
      }
    } else {
      const std::string half = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                               "\r\nUpgrade: websocket\r\n";
      for (long i = 0; i < half_open; ++i) {
        int fd = signaling::raw::connect_loopback(port);
        if (fd < 0 || !signaling::raw::send_all(fd, half)) ++setup_failed;
        if (fd >= 0) socks.push_back({fd, "half_open"});
      }
      for (long i = 0; i < idle; ++i) {
        int fd = signaling::raw::connect_loopback(port);
        if (fd < 0)
          ++setup_failed;
        else
          socks.push_back({fd, "idle"});
      }
      for (long i = 0; i < silent; ++i) {
        int fd = signaling::raw::connect_loopback(port, 4096);
        bool ok = fd >= 0 && signaling::raw::handshake(fd, port) &&
                  signaling::raw::send_all(
                      fd, signaling::raw::text_frame(R"({"type":"hello","role":"viewer"})")) &&
                  signaling::raw::read_text(fd).has_value() &&  // welcome
                  signaling::raw::read_text(fd).has_value();    // hello_ok
        if (!ok) ++setup_failed;
        if (fd >= 0) socks.push_back({fd, "silent"});
      }
    }
    // Hold, sampling the tracker's memory.
    media::SourceGuard sampler = media::SourceGuard::timeout(
        100,
        [](gpointer p) -> gboolean {
          static_cast<RssWatch*>(p)->sample();
          return G_SOURCE_CONTINUE;
        },
        &rss);
    const double cpu_hold_start = cpu_seconds(child);
    pump_until([] { return false; }, hold_s * 1000);
    hold_cpu_s += cpu_seconds(child) - cpu_hold_start;
    sampler.reset();
    rss.sample();
    after = sample_process(child);
    open = json::object();
    total = json::object();
    for (auto& s : socks) {
      total[s.kind] = total.value(s.kind, 0) + 1;
      open[s.kind] = open.value(s.kind, 0) + (signaling::raw::closed_by_peer(s.fd) ? 0 : 1);
    }
    rounds.push_back(
        {{"still_open_after_hold", open}, {"tracker_rss_kb_after", after ? after->rss_kb : -1}});
  }

  double honest_ms = 0;
  bool honest = honest_client_works(url, session.get(), &honest_ms);
  report["sockets"] = total;
  report["still_open_after_hold"] = open;
  report["setup_failed"] = setup_failed;
  report["hold_s"] = hold_s;
  // What holding the sockets cost the tracker (pings, sweeps, its loop), summed over rounds.
  report["tracker_cpu_s_hold"] = hold_cpu_s;
  report["attack_seconds"] = double(monotonic_us() - t_attack) / 1e6;
  report["tracker_rss_kb_peak"] = rss.peak_kb;
  report["tracker_rss_kb_after"] = after ? after->rss_kb : -1;
  report["tracker_rss_growth_kb"] =
      (before && after) ? json(std::max(rss.peak_kb, after->rss_kb) - before->rss_kb) : json();
  report["honest_client_ok"] = honest;
  report["honest_client_ms"] = honest_ms;
  report["errors"] = errors;
  if (repeat > 1) report["rounds"] = rounds;
  for (auto& s : socks) ::close(s.fd);
  for (auto& o : owners) o->close();
  pump_until([] { return false; }, 200);
  owners.clear();
  session.reset();
  stop_tracker(child);
  std::printf("%s\n", report.dump(2).c_str());
  return honest ? app::kExitOk : app::kExitFailure;
}

// The raw generator: the same phases as the libsoup one (owner creates the stream, every
// client joins, one pair relays alone, then all pairs), with the clients in child
// processes; the tracker's CPU and memory are read between phases.
struct RawRun {
  int n, concurrency, rounds, one_pair_rounds, procs;
  int stride;  // --pairing within: the partner is K places on, on the same instance
  long timeout_s;
  std::vector<std::string> urls;
  std::vector<pid_t> tracker_pids;
  bool own_tracker;
};

int run_raw_bench(const RawRun& r) {
  std::vector<uint16_t> ports;
  for (auto& u : r.urls) {
    const uint16_t p = port_of(u.substr(0, u.rfind('/')));
    if (u.rfind("ws://127.0.0.1:", 0) != 0 || p == 0) {
      std::fprintf(
          stderr,
          "meshcast tracker-bench: the raw generator needs ws://127.0.0.1:PORT/ws (got %s)\n",
          u.c_str());
      return app::kExitUsage;
    }
    ports.push_back(p);
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const int per_proc = (r.n + r.procs - 1) / r.procs;
  if (rl.rlim_cur < static_cast<rlim_t>(per_proc) + 64) {
    std::fprintf(stderr,
                 "meshcast tracker-bench: fd limit %llu too low for %d clients per process "
                 "(use more --procs)\n",
                 static_cast<unsigned long long>(rl.rlim_cur), per_proc);
    return app::kExitUsage;
  }
  std::vector<app::RawLoadConfig> shards;
  for (int first = 0; first < r.n; first += per_proc) {
    app::RawLoadConfig c;
    c.ports = ports;
    c.first = first;
    c.count = std::min(per_proc, r.n - first);
    c.concurrency = std::max(1, r.concurrency / r.procs);
    c.phase_timeout_ms = r.timeout_s * 1000;
    shards.push_back(c);
  }
  auto sum = [](const std::vector<pid_t>& pids, auto f) {
    double s = 0;
    for (pid_t p : pids) s += f(p);
    return s;
  };
  auto cpu = [&](const std::vector<pid_t>& pids) { return sum(pids, cpu_seconds); };
  auto rss = [&] { return long(sum(r.tracker_pids, rss_kb)); };
  std::vector<int> all(shards.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = int(i);
  auto shard_of = [&](int client) { return client / per_proc; };
  // Totals over the children's answers.
  struct Totals {
    int ok = 0, failed = 0;
    std::vector<double> rtt;
    std::vector<std::string> errors;
    bool complete = true;
  };
  auto total = [](const std::vector<json>& answers) {
    Totals t;
    for (auto& a : answers) {
      if (!a.is_object()) {
        t.complete = false;
        if (t.errors.size() < 5) t.errors.push_back("a generator process died");
        continue;
      }
      t.ok += a.value("ok", 0);
      t.failed += a.value("failed", 0);
      for (auto& x : a["rtt_ms"]) t.rtt.push_back(x.get<double>());
      for (auto& e : a["errors"])
        if (t.errors.size() < 5) t.errors.push_back(e.get<std::string>());
    }
    t.complete = t.complete && t.failed == 0;
    return t;
  };

  const long rss_before = rss();
  const double cpu0 = cpu(r.tracker_pids);
  app::RawLoadProcs procs;
  if (auto started = procs.start(shards); !started) {
    std::fprintf(stderr, "meshcast tracker-bench: %s\n", started.error().c_str());
    return app::kExitFailure;
  }
  const std::vector<pid_t> gen = procs.pids();
  const int64_t t0 = monotonic_us();
  const double gcpu0 = cpu(gen);
  Totals created = total(procs.run({0}, "create"));
  Totals joined;
  if (created.ok == 1) joined = total(procs.run(all, "join"));
  const double connect_s = double(monotonic_us() - t0) / 1e6;
  const double gcpu1 = cpu(gen);
  // Memory once everyone is in, after a short quiet period.
  usleep(300'000);
  const long rss_after = rss();
  const double cpu1 = cpu(r.tracker_pids);
  // The lone pair (1, 1 + stride), then every other client in pairs from 2 + stride on.
  const std::string stride = " " + std::to_string(r.stride);
  Totals one = total(procs.run({shard_of(1)}, "relay " + std::to_string(r.one_pair_rounds) + " 1 " +
                                                  std::to_string(2 + r.stride) + stride));
  const double cpu_idle = cpu(r.tracker_pids);
  const int64_t t1 = monotonic_us();
  const double gcpu2 = cpu(gen);
  Totals pairs =
      total(procs.run(all, "relay " + std::to_string(r.rounds) + " " +
                               std::to_string(2 + r.stride) + " " + std::to_string(r.n) + stride));
  const double relay_s = double(monotonic_us() - t1) / 1e6;
  const double cpu2 = cpu(r.tracker_pids);
  const double gcpu3 = cpu(gen);
  const int members = created.ok + joined.ok;
  std::vector<std::string> errors = created.errors;
  for (auto* t : {&joined, &one, &pairs})
    for (auto& e : t->errors)
      if (errors.size() < 5) errors.push_back(e);
  json report = {
      {"clients", r.n},
      {"joined", members},
      {"failed", created.failed + joined.failed},
      {"complete",
       created.complete && joined.complete && one.complete && pairs.complete && members == r.n},
      {"generator", "raw"},
      {"generator_processes", procs.size()},
      {"connect_hello_join_seconds", connect_s},
      {"clients_per_s", connect_s > 0 ? members / connect_s : 0},
      {"relay_one_pair",
       {{"round_trips", one.rtt.size()},
        {"rtt_ms_p50", percentile(one.rtt, 0.50)},
        {"rtt_ms_p95", percentile(one.rtt, 0.95)},
        {"rtt_ms_max", percentile(one.rtt, 1.0)}}},
      {"relay_all_pairs",
       {{"round_trips", pairs.rtt.size()},
        {"pingers", pairs.ok + pairs.failed},
        {"seconds", relay_s},
        {"relays_per_s", relay_s > 0 ? 2.0 * double(pairs.rtt.size()) / relay_s : 0},
        {"rtt_ms_p50", percentile(pairs.rtt, 0.50)},
        {"rtt_ms_p95", percentile(pairs.rtt, 0.95)},
        {"rtt_ms_p99", percentile(pairs.rtt, 0.99)},
        {"rtt_ms_max", percentile(pairs.rtt, 1.0)}}},
      {"tracker_cpu_s_connect_phase", cpu1 - cpu0},
      {"tracker_cpu_ms_per_connect", members > 0 ? json((cpu1 - cpu0) * 1e3 / members) : json()},
      {"tracker_cpu_us_per_relay", per_relay_us(cpu_idle, cpu2, pairs.rtt.size())},
      {"tracker_cpu_us_per_relay_one_pair", per_relay_us(cpu1, cpu_idle, one.rtt.size())},
      // How busy the generator was: near 1.0 per process means it, not the tracker, set
      // the pace.
      {"generator_cpu_share_connect_phase",
       connect_s > 0 ? (gcpu1 - gcpu0) / (connect_s * double(procs.size())) : 0},
      {"generator_cpu_share_relay_phase",
       relay_s > 0 ? (gcpu3 - gcpu2) / (relay_s * double(procs.size())) : 0},
      {"tracker_rss_kb_before", rss_before},
      {"tracker_rss_kb_after", rss_after},
      {"tracker_bytes_per_peer", (rss_before > 0 && rss_after > 0 && members > 0)
                                     ? json(double(rss_after - rss_before) * 1024.0 / members)
                                     : json()},
      {"tracker", r.own_tracker ? "child process" : r.urls[0]},
      {"instances", r.urls.size()},
      {"pairing", r.stride > 1 ? "within" : "across"},
      {"errors", errors},
  };
  std::printf("%s\n", report.dump(2).c_str());
  return report["complete"].get<bool>() ? app::kExitOk : app::kExitFailure;
}

int run_bench(int argc, char** argv) {
  app::Args args(
      argc, argv, {},
      {"clients",         "url",       "tracker-pid",  "concurrency", "rounds",    "timeout-s",
       "attack",          "streams",   "conns",        "requests",    "half-open", "idle",
       "silent",          "hold-s",    "tracker-args", "tracker-exe", "repeat",    "pairing",
       "one-pair-rounds", "generator", "procs"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return app::kExitOk;
  }
  if (args.has("attack")) return run_attack(args);
  Bench b;
  const std::string generator = args.get("generator", "libsoup");
  const bool raw = generator == "raw";
  if (!raw && generator != "libsoup") {
    std::fprintf(stderr, "meshcast tracker-bench: --generator is libsoup|raw\n");
    return app::kExitUsage;
  }
  b.n = static_cast<int>(args.get_int("clients", 1000, 3, raw ? 200000 : 20000));
  const int procs = static_cast<int>(args.get_int("procs", (b.n + 9999) / 10000, 1, 64));
  b.concurrency = static_cast<int>(args.get_int("concurrency", 256, 1, 4096));
  b.rounds = static_cast<int>(args.get_int("rounds", 5, 0, 1000));
  const int one_pair_rounds = static_cast<int>(args.get_int("one-pair-rounds", 100, 1, 100000));
  long timeout_s = args.get_int("timeout-s", 120, 1, 3600);
  std::vector<pid_t> pids;
  for (auto& p : split_commas(args.get("tracker-pid")))
    pids.push_back(static_cast<pid_t>(std::atol(p.c_str())));
  pid_t tracker_pid = pids.empty() ? 0 : pids[0];
  b.url = args.get("url");
  const std::string pairing = args.get("pairing", "across");
  if (pairing != "across" && pairing != "within") {
    std::fprintf(stderr, "meshcast tracker-bench: --pairing is across|within\n");
    return app::kExitUsage;
  }
  if (!args.ok()) {
    std::fprintf(stderr, "meshcast tracker-bench: %s (see --help)\n", args.error().c_str());
    return app::kExitUsage;
  }
  raise_fd_limit();
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (!raw && rl.rlim_cur < static_cast<rlim_t>(b.n) + 64) {
    std::fprintf(stderr, "meshcast tracker-bench: fd limit %llu too low for %d clients\n",
                 static_cast<unsigned long long>(rl.rlim_cur), b.n);
    return app::kExitUsage;
  }

  // Start our own tracker as a child process unless given a URL.
  bool own_tracker = b.url.empty();
  GPid child = 0;
  if (own_tracker) {
    auto spawned = spawn_tracker({"--max-rate", "100000"}, &child);
    if (!spawned) {
      std::fprintf(stderr, "meshcast tracker-bench: %s\n", spawned.error().c_str());
      return app::kExitFailure;
    }
    b.url = std::move(*spawned);
    tracker_pid = child;
    pids = {child};
  }
  b.urls = split_commas(b.url);
  if (raw) {
    const int stride = pairing == "within" ? static_cast<int>(b.urls.size()) : 1;
    const int code = run_raw_bench({b.n, b.concurrency, b.rounds, one_pair_rounds, procs, stride,
                                    timeout_s, b.urls, pids, own_tracker});
    if (own_tracker) stop_tracker(child);
    return code;
  }
  // Sums over the instances (one process without a cluster).
  auto rss_sum = [&] {
    long kb = 0;
    for (pid_t p : pids) kb += rss_kb(p);
    return kb;
  };
  auto cpu_sum = [&] {
    double s = 0;
    for (pid_t p : pids) s += cpu_seconds(p);
    return s;
  };

  b.session.reset(soup_session_new_with_options("max-conns", 100000, "max-conns-per-host", 100000,
                                                "timeout", 0u, "idle-timeout", 0u, nullptr));
  b.clients.resize(b.n);
  const int64_t deadline = monotonic_us() + timeout_s * 1000000;
  auto run_until = [&](const std::function<bool()>& pred) {
    media::SourceGuard wake = media::SourceGuard::timeout(
        50, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
    while (!pred() && monotonic_us() < deadline) g_main_context_iteration(nullptr, TRUE);
    return pred();
  };

  // Let the tracker settle, then take the memory baseline.
  long rss_before = tracker_pid ? rss_sum() : -1;

  double cpu0 = tracker_pid ? cpu_sum() : -1;
  // Client 0 is the broadcaster that owns the stream.
  int64_t t0 = monotonic_us();
  {
    signaling::TrackerClientOptions o;
    o.max_reconnect_attempts = 0;
    o.session = b.session.get();
    o.keepalive_s = 0;
    b.clients[0] = std::make_unique<TrackerClient>(o);
    TrackerClient* c = b.clients[0].get();
    c->set_on_state([&, c](ClientState s, const std::string& why) {
      if (s == ClientState::kConnected) {
        signaling::HelloParams h;
        h.peer_id = Bench::id_of(0);
        h.role = "broadcaster";
        h.upload_kbps = 5000;
        c->hello(h, [&, c](const Reply& r) {
          if (!r.ok) return b.note_error("owner hello: " + r.code);
          signaling::StreamParams sp;
          sp.name = "bench";
          sp.public_key = std::string(64, '0');
          sp.bitrate_kbps = 500;
          c->create_stream(sp, [&](const Reply& cr) {
            if (!cr.ok) return b.note_error("create: " + cr.code);
            ++b.joined;
            // Other instances learn of the stream through Redis: give it a moment.
            b.stream_ready_timer = media::SourceGuard::timeout(
                b.urls.size() > 1 ? 300 : 0,
                +[](gpointer d) -> gboolean {
                  auto* bench = static_cast<Bench*>(d);
                  bench->stream_ready = true;
                  bench->start_more();
                  return G_SOURCE_REMOVE;
                },
                &b);
          });
        });
      } else if (s == ClientState::kFailed && !why.empty()) {
        b.note_error("owner connect: " + why);
      }
    });
    c->on("relay", [c](const json& m) {
      if (m.value("kind", "") == "ping") c->relay(m["from"], "pong", m["payload"]);
    });
    b.next_to_start = 1;
    c->connect(b.urls[0]);
  }
  bool all_joined = run_until([&] { return b.joined + b.failed >= b.n; });
  double connect_s = static_cast<double>(monotonic_us() - t0) / 1e6;
  // Server-side memory once every client is in: sample after a short quiet period.
  run_until([&, t = monotonic_us()] { return monotonic_us() - t > 300000; });
  long rss_after = tracker_pid ? rss_sum() : -1;
  double cpu1 = tracker_pid ? cpu_sum() : -1;

  // Relay ping/pong: client i pings i+1 through the tracker, `rounds` times, one at a time.
  // First one pair alone (latency with every client connected), then all pairs at once (load).
  const int stride = pairing == "within" ? static_cast<int>(b.urls.size()) : 1;
  auto run_pings = [&](const std::vector<int>& pingers, int rounds, std::vector<double>& rtts) {
    auto done = std::make_shared<int>(0);
    int started = 0;
    for (int i : pingers) {
      if (i + stride >= b.n || !b.clients[i] || b.clients[i]->peer_id().empty() ||
          !b.clients[i + stride] || b.clients[i + stride]->peer_id().empty())
        continue;
      ++started;
      auto left = std::make_shared<int>(rounds);
      TrackerClient* c = b.clients[i].get();
      std::string partner = Bench::id_of(i + stride);
      auto send_ping = std::make_shared<std::function<void()>>();
      *send_ping = [done, c, partner, left] {
        if (*left <= 0) {
          ++*done;
          return;
        }
        --*left;
        c->relay(partner, "ping", {{"t", monotonic_us()}});
      };
      c->on("relay", [&rtts, send_ping](const json& m) {
        if (m.value("kind", "") != "pong") return;
        rtts.push_back(static_cast<double>(monotonic_us() - m["payload"]["t"].get<int64_t>()) /
                       1000.0);
        (*send_ping)();
      });
      (*send_ping)();
    }
    b.pingers += started;
    bool ok = run_until([&] { return *done >= started; });
    for (int i : pingers)  // this phase's pong handlers must not outlive it
      if (b.clients[i]) b.clients[i]->off("relay");
    return ok;
  };
  std::vector<double> idle_rtt;
  bool idle_done = run_pings({1}, one_pair_rounds, idle_rtt);
  double cpu_idle = tracker_pid ? cpu_sum() : -1;
  std::vector<int> all_pingers;
  // Every client pings or is pinged once: pairs (i, i + stride) with disjoint members.
  for (int i = 3; i + stride < b.n; i += (i - 3) % (2 * stride) == stride - 1 ? stride + 1 : 1)
    all_pingers.push_back(i);
  int64_t t1 = monotonic_us();
  bool relays_done = run_pings(all_pingers, b.rounds, b.rtt_ms) && idle_done;
  double relay_s = static_cast<double>(monotonic_us() - t1) / 1e6;
  double cpu2 = tracker_pid ? cpu_sum() : -1;
  json cpu_per_relay_us = per_relay_us(cpu_idle, cpu2, b.rtt_ms.size());
  json cpu_per_relay_one_pair_us = per_relay_us(cpu1, cpu_idle, idle_rtt.size());

  json report = {
      {"clients", b.n},
      {"joined", b.joined},
      {"failed", b.failed},
      {"complete", all_joined && relays_done && b.failed == 0},
      {"connect_hello_join_seconds", connect_s},
      {"clients_per_s", connect_s > 0 ? b.joined / connect_s : 0},
      {"relay_one_pair",
       {{"round_trips", idle_rtt.size()},
        {"rtt_ms_p50", percentile(idle_rtt, 0.50)},
        {"rtt_ms_p95", percentile(idle_rtt, 0.95)},
        {"rtt_ms_max", percentile(idle_rtt, 1.0)}}},
      {"relay_all_pairs",
       {{"round_trips", b.rtt_ms.size()},
        {"pingers", b.pingers - 1},
        {"seconds", relay_s},
        {"relays_per_s", relay_s > 0 ? 2.0 * static_cast<double>(b.rtt_ms.size()) / relay_s : 0},
        {"rtt_ms_p50", percentile(b.rtt_ms, 0.50)},
        {"rtt_ms_p95", percentile(b.rtt_ms, 0.95)},
        {"rtt_ms_p99", percentile(b.rtt_ms, 0.99)},
        {"rtt_ms_max", percentile(b.rtt_ms, 1.0)}}},
      {"tracker_cpu_s_connect_phase", cpu0 >= 0 ? json(cpu1 - cpu0) : json()},
      {"tracker_cpu_us_per_relay", cpu_per_relay_us},
      {"tracker_cpu_us_per_relay_one_pair", cpu_per_relay_one_pair_us},
      {"tracker_rss_kb_before", rss_before},
      {"tracker_rss_kb_after", rss_after},
      {"tracker_bytes_per_peer",
       (rss_before > 0 && rss_after > 0 && b.joined > 0)
           ? json(static_cast<double>(rss_after - rss_before) * 1024.0 / b.joined)
           : json()},
      {"bench_rss_kb", rss_kb(getpid())},
      {"tracker", own_tracker ? "child process" : b.url},
      {"instances", b.urls.size()},
      {"pairing", pairing},
      {"errors", b.errors},
  };

  // Tear down: clients first (closing sockets), then the tracker.
  for (auto& c : b.clients)
    if (c) c->close();
  run_until([&, t = monotonic_us()] { return monotonic_us() - t > 500000; });
  b.clients.clear();
  b.stream_ready_timer.reset();
  b.session.reset();
  if (own_tracker) stop_tracker(child);
  std::printf("%s\n", report.dump(2).c_str());
  return report["complete"].get<bool>() ? app::kExitOk : app::kExitFailure;
}

app::RegisterCommand reg("tracker-bench", "load-test the tracker with N WebSocket clients",
                         run_bench);

}  // namespace
