// meshcast tracker: the tracker / signaling server (WebSocket + JSON, HTTP status endpoints).
#include <glib-unix.h>
#include <glib.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "apps/cli/args.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"
#include "signaling/cluster_event.hpp"
#include "signaling/random_token.hpp"
#include "signaling/redis_url.hpp"
#include "signaling/tracker_server.hpp"

using namespace meshcast;

namespace {

const char* kHelp = R"(Usage: meshcast tracker [options]

Runs the tracker / signaling server: WebSocket at ws://HOST:PORT/ws (JSON messages, see
docs/protocol.md), plus HTTP on the same port: /healthz, /metrics (Prometheus),
/api/streams, /api/streams/NAME/overlay and a placeholder dashboard at /.

Options:
  --listen HOST:PORT     address to listen on (default 127.0.0.1:8700; port 0 = any free port)
  --tls-cert FILE        PEM certificate: serve wss:// and https:// (needs --tls-key)
  --tls-key FILE         PEM private key for --tls-cert
  --max-rate N           messages per second per peer (default 200; burst = 2 N)
  --max-neighbours N     neighbours per join reply when the peer does not ask (default 8, max 16)
  --broadcaster-until N  offer the broadcaster as a neighbour while fewer than N trusted
                         viewers have spare upload (default 4)
  --max-neighbours-per-group N
                         peers from one IPv4 /24 (IPv6 /48) in one neighbour list (default
                         2; 0 = no limit). Loopback is exempt unless --cap-loopback is given
  --trust-after-ms N     a viewer whose upload at least 2 other peers confirmed becomes
                         trusted after N ms in the stream (default 30000)
  --call-timeout-ms N    default time a call invitation rings (default 30000)
  --identity-db FILE     SQLite file of peer id -> identity key bindings (created if
                         missing). A hello that proves a key binds its peer id to it for
                         good: later hellos for that id must prove the same key. Without
                         this option the bindings are kept in memory and forgotten when
                         the tracker stops
  --max-identities N     most ids bound to keys (default 1000000, 0 = no limit); beyond it
                         a new id shown with a key is refused (limit_reached)
  --turn-uris LIST       TURN servers to hand to every peer in hello_ok, comma-separated
                         (turn:HOST:PORT[?transport=udp|tcp], turns:HOST:PORT), with
                         time-limited credentials made from --turn-secret-file (coturn's
                         use-auth-secret scheme; the TURN server has the same secret)
  --turn-secret-file F   file holding the shared secret (first line; keep it 0600)
  --turn-ttl-s N         lifetime of handed-out TURN credentials (default 43200)

Cluster (several instances behind one address, docs/operations.md "Running a tracker cluster"):
  --cluster redis://HOST:PORT[/DB]
                         share peers, streams, calls and identity bindings with the other
                         instances through this Redis; relays and call messages to peers on
                         other instances go through it. Without this option the tracker
                         keeps everything in memory and needs no Redis
  --instance-id ID       this instance's id, unique in the cluster (A-Z a-z 0-9 - _ .;
                         default: a random one)
  --instance-timeout-ms N
                         an instance not heard from for N ms is dropped with its peers by
                         the others (default 5000)

Bounds (what one client can make the tracker hold; 0 turns a bound off):
  --max-conns N          open TCP connections in total, HTTP and WebSocket (default 50000);
                         the fd limit is raised to the hard limit, and N is lowered to
                         that limit minus 64 if above it
  --max-conns-per-address N
                         open connections from one IP address (default 256). Loopback
                         clients (127.0.0.0/8, ::1: a local swarm, or a reverse proxy that
                         must enforce its own per-client limit) are exempt unless
                         --cap-loopback is given
  --cap-loopback         apply --max-conns-per-address to loopback clients too, and count
                         them as one address group in neighbour lists
  --header-timeout-ms N  a connection must deliver a complete HTTP request head (TLS
                         handshake included; again after each keep-alive response) within
                         N ms, or it gets 408 and is closed (default 10000)
  --hello-timeout-ms N   a WebSocket that has not said hello after N ms is closed (default 10000)
  --resume-grace-ms N    a peer whose connection drops keeps its id, streams and calls for N ms,
                         so it can resume with its session token (default 30000; 0 = never)
  --ping-interval-s N    WebSocket ping to a peer silent for N s (default 20; wss:// peers
                         are pinged every N s by libsoup)
  --idle-timeout-ms N    a WebSocket from which nothing arrived (no message, no pong) for
                         N ms is closed (default 60000; must exceed the ping interval)
  --max-unsent-kb N      a peer that leaves more than N KiB of our output unread is closed
                         (default 1024)
  --reply-bytes-per-token N
                         rate-limit cost: a request costs one more token per N bytes of
                         output it causes beyond the first N (default 1024)
  --tcp-keepalive-s N    TCP keepalive: first probe after N s of silence, then every 10 s,
                         3 unanswered probes drop the connection (default 60)
  --log-level LEVEL      error | warn | info | debug (default info)
  --quiet                same as --log-level error, and no live status line
  --stats FILE.jsonl     one JSON line per second: peers, connections, streams, calls
  --help                 this text

Prints "listening on ws://HOST:PORT/ws" on stdout once bound. Ctrl-C (SIGINT/SIGTERM) stops it.

Examples:
  meshcast tracker
  meshcast tracker --listen 127.0.0.1:0 --quiet
  meshcast tracker --identity-db /var/lib/meshcast/identities.db
  meshcast tracker --listen 127.0.0.1:8701 --cluster redis://127.0.0.1:6379 --instance-id a
  meshcast tracker --listen 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
  meshcast tracker --listen 0.0.0.0:8700 --max-conns-per-address 64 --max-unsent-kb 512
  curl http://127.0.0.1:8700/metrics
)";

bool parse_listen(const std::string& s, std::string& host, long& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  port = std::strtol(s.c_str() + colon + 1, &end, 10);
  return end && *end == '\0' && colon + 1 < s.size() && port >= 0 && port <= 65535;
}

// Many peers = many sockets: lift the soft fd limit to the hard one.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int run_tracker(int argc, char** argv) {
  app::Args args(argc, argv, {"quiet", "cap-loopback"},
                 {"listen",
                  "tls-cert",
                  "tls-key",
                  "max-rate",
                  "max-neighbours",
                  "broadcaster-until",
                  "call-timeout-ms",
                  "log-level",
                  "stats",
                  "max-conns",
                  "max-conns-per-address",
                  "header-timeout-ms",
                  "hello-timeout-ms",
                  "resume-grace-ms",
                  "ping-interval-s",
                  "idle-timeout-ms",
                  "max-unsent-kb",
                  "reply-bytes-per-token",
                  "tcp-keepalive-s",
                  "max-http-inflight-mb",
                  "identity-db",
                  "max-identities",
                  "turn-uris",
                  "turn-secret-file",
                  "turn-ttl-s",
                  "max-neighbours-per-group",
                  "trust-after-ms",
                  "cluster",
                  "instance-id",
                  "instance-timeout-ms"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return app::kExitOk;
  }
  signaling::TrackerServerOptions opt;
  long port = 8700;
  if (args.ok() && !parse_listen(args.get("listen", "127.0.0.1:8700"), opt.host, port)) {
    std::fprintf(stderr, "meshcast tracker: --listen wants HOST:PORT\n");
    return app::kExitUsage;
  }
  opt.port = static_cast<uint16_t>(port);
  opt.tls_cert_file = args.get("tls-cert");
  opt.tls_key_file = args.get("tls-key");
  double rate = args.get_double("max-rate", 200, 1, 1e6);
  opt.core.max_rate = rate;
  opt.core.burst = 2 * rate;
  opt.core.default_max_neighbours = static_cast<int>(args.get_int("max-neighbours", 8, 1, 16));
  opt.core.broadcaster_until_viewers =
      static_cast<int>(args.get_int("broadcaster-until", 4, 0, 1000));
  opt.core.default_call_timeout_ms = args.get_int("call-timeout-ms", 30000, 100, 300000);
  opt.max_connections = static_cast<std::size_t>(args.get_int("max-conns", 50000, 0, 10'000'000));
  opt.max_connections_per_address =
      static_cast<std::size_t>(args.get_int("max-conns-per-address", 256, 0, 10'000'000));
  opt.cap_loopback = args.has("cap-loopback");
  opt.core.group_loopback = opt.cap_loopback;
  opt.core.max_neighbours_per_group =
      static_cast<int>(args.get_int("max-neighbours-per-group", 2, 0, 16));
  opt.core.trust_after_ms = args.get_int("trust-after-ms", 30000, 0, 86'400'000);
  opt.header_timeout_ms = args.get_int("header-timeout-ms", 10000, 0, 3'600'000);
  opt.core.hello_timeout_ms = args.get_int("hello-timeout-ms", 10000, 0, 3'600'000);
  opt.core.resume_grace_ms = args.get_int("resume-grace-ms", 30000, 0, 3'600'000);
  opt.ws_ping_interval_s = static_cast<unsigned>(args.get_int("ping-interval-s", 20, 0, 3600));
  opt.ws_idle_timeout_ms = args.get_int("idle-timeout-ms", 60000, 0, 86'400'000);
  opt.max_unsent_bytes =
      static_cast<std::size_t>(args.get_int("max-unsent-kb", 1024, 0, 16 * 1024 * 1024)) * 1024;
  opt.core.reply_bytes_per_token =
      static_cast<std::size_t>(args.get_int("reply-bytes-per-token", 1024, 0, 1 << 30));
  opt.tcp_keepalive_s = static_cast<unsigned>(args.get_int("tcp-keepalive-s", 60, 0, 86400));
  opt.identity_db = args.get("identity-db");
  opt.core.max_identities =
      static_cast<std::size_t>(args.get_int("max-identities", 1'000'000, 0, 1'000'000'000));
  if (args.has("turn-uris") != args.has("turn-secret-file")) {
    std::fprintf(stderr, "meshcast tracker: --turn-uris and --turn-secret-file go together\n");
    return app::kExitUsage;
  }
  if (args.has("turn-uris")) {
    std::string list = args.get("turn-uris");
    for (std::size_t at = 0; at <= list.size();) {
      std::size_t comma = std::min(list.find(',', at), list.size());
      std::string uri = list.substr(at, comma - at);
      if (uri.rfind("turn:", 0) != 0 && uri.rfind("turns:", 0) != 0) {
        std::fprintf(stderr, "meshcast tracker: --turn-uris: '%s' is not a turn: or turns: URI\n",
                     uri.c_str());
        return app::kExitUsage;
      }
      opt.core.turn_uris.push_back(uri);
      at = comma + 1;
    }
    std::ifstream in(args.get("turn-secret-file"));
    std::getline(in, opt.core.turn_secret);
    if (!in && opt.core.turn_secret.empty()) {
      std::fprintf(stderr, "meshcast tracker: cannot read a secret from --turn-secret-file %s\n",
                   args.get("turn-secret-file").c_str());
      return app::kExitUsage;
    }
    opt.core.turn_ttl_s = args.get_int("turn-ttl-s", 43200, 60, 7 * 86400);
  }
  if (args.has("cluster")) {
    auto url = signaling::parse_redis_url(args.get("cluster"));
    if (!url) {
      std::fprintf(stderr, "meshcast tracker: --cluster: %s\n", url.error().c_str());
      return app::kExitUsage;
    }
    opt.cluster = *std::move(url);
    opt.core.instance_id = args.get("instance-id", "t-" + signaling::random_token(4));
    if (!signaling::is_valid_instance_id(opt.core.instance_id)) {
      std::fprintf(stderr, "meshcast tracker: --instance-id: 1-64 of A-Z a-z 0-9 - _ .\n");
      return app::kExitUsage;
    }
    opt.core.instance_timeout_ms = args.get_int("instance-timeout-ms", 5000, 1000, 600'000);
  } else if (args.has("instance-id")) {
    std::fprintf(stderr, "meshcast tracker: --instance-id needs --cluster\n");
    return app::kExitUsage;
  }
  std::string level = args.has("quiet") ? "error" : args.get("log-level", "info");
  if (level == "error")
    opt.log_level = signaling::LogLevel::kError;
  else if (level == "warn")
    opt.log_level = signaling::LogLevel::kWarn;
  else if (level == "info")
    opt.log_level = signaling::LogLevel::kInfo;
  else if (level == "debug")
    opt.log_level = signaling::LogLevel::kDebug;
  else {
    std::fprintf(stderr, "meshcast tracker: --log-level is error|warn|info|debug\n");
    return app::kExitUsage;
  }
  if (!args.ok()) {
    std::fprintf(stderr, "meshcast tracker: %s (see --help)\n", args.error().c_str());
    return app::kExitUsage;
  }
  if (opt.ws_idle_timeout_ms > 0 && opt.ws_ping_interval_s > 0 &&
      opt.ws_idle_timeout_ms <= int64_t(opt.ws_ping_interval_s) * 1000) {
    std::fprintf(stderr,
                 "meshcast tracker: --idle-timeout-ms (%lld) must exceed --ping-interval-s "
                 "(%u s): honest peers only speak when pinged\n",
                 static_cast<long long>(opt.ws_idle_timeout_ms), opt.ws_ping_interval_s);
    return app::kExitUsage;
  }
  if (opt.tls_cert_file.empty() != opt.tls_key_file.empty()) {
    std::fprintf(stderr, "meshcast tracker: --tls-cert and --tls-key go together\n");
    return app::kExitUsage;
  }
  app::StatsWriter stats;
  if (args.has("stats")) {
    if (auto opened = stats.open(args.get("stats")); !opened) {
      std::fprintf(stderr, "meshcast tracker: %s\n", opened.error().c_str());
      return app::kExitUsage;
    }
  }
  raise_fd_limit();
  signaling::TrackerServer server(opt);
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "meshcast tracker: %s\n", started.error().c_str());
    return app::kExitFailure;
  }
  std::printf("listening on %s\n", server.ws_url().c_str());
  std::fflush(stdout);
  media::GMainLoopPtr loop(g_main_loop_new(nullptr, FALSE));
  auto quit = +[](gpointer l) -> gboolean {
    g_main_loop_quit(static_cast<GMainLoop*>(l));
    return G_SOURCE_CONTINUE;  // removed below, after the loop
  };
  auto s1 = media::SourceGuard::with_callback(g_unix_signal_source_new(SIGINT), quit, loop.get());
  auto s2 = media::SourceGuard::with_callback(g_unix_signal_source_new(SIGTERM), quit, loop.get());
  // Live status: every second on a terminal, every 10 s as plain lines otherwise.
  app::StatusLine status(args.has("quiet"));
  struct Tick {
    signaling::TrackerServer* server;
    app::StatusLine* status;
    app::StatsWriter* stats;
    int n = 0;
  } tick{&server, &status, &stats};
  auto t = media::SourceGuard::timeout_seconds(
      1,
      [](gpointer p) -> gboolean {
        auto* k = static_cast<Tick*>(p);
        const auto& core = k->server->core();
        nlohmann::json j = {{"t", g_get_real_time() / 1e6},
                            {"peers", core.peer_count()},
                            {"connections", core.connection_count()},
                            {"streams", core.stream_count()},
                            {"calls", core.call_count()}};
        k->stats->write(j);
        if (k->status->interactive() || ++k->n % 10 == 0) {
          char line[160];
          std::snprintf(
              line, sizeof line, "tracker | peers %zu | connections %zu | streams %zu | calls %zu",
              core.peer_count(), core.connection_count(), core.stream_count(), core.call_count());
          k->status->update(line);
        }
        return G_SOURCE_CONTINUE;
      },
      &tick);
  g_main_loop_run(loop.get());
  t.reset();
  status.finish();
  return app::kExitOk;
}

app::RegisterCommand reg("tracker", "run the tracker / signaling server", run_tracker);

}  // namespace
