// The tracker on the GLib main loop: libsoup-3 WebSocket endpoint /ws carrying JSON, plus the
// HTTP endpoints /, /healthz, /metrics, /api/streams[/NAME/overlay]. All protocol decisions
// live in TrackerCore; this class only moves bytes and time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mesh/base/expected.hpp"
#include "signaling/redis_url.hpp"
#include "signaling/tracker_config.hpp"
#include "signaling/tracker_core.hpp"

namespace meshcast::signaling {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

struct TrackerServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8700;       // 0 = an ephemeral port (tests); read it back with port()
  std::string tls_cert_file;  // both set = wss/https
  std::string tls_key_file;
  TrackerConfig core;
  // Cluster mode: share the directory with other instances through this Redis (needs
  // core.instance_id). Unset = a standalone tracker, all in memory.
  std::optional<RedisUrl> cluster;
  // SQLite file of name -> identity key bindings (created if missing); empty = in memory, so
  // the bindings last only as long as the process.
  std::string identity_db;
  LogLevel log_level = LogLevel::kInfo;
  // Frames above kMaxFrameBytes but below this get an error reply; above it libsoup closes the
  // connection with 1009 (message too big).
  uint64_t max_incoming_bytes = 256 * 1024;

  // Bounds on what clients can make the server hold (docs/security.md, "Bounded tracker").
  // Every cap counts TCP connections (HTTP and WebSocket alike); 0 turns a bound off.
  std::size_t max_connections = 50'000;           // open at once, in total
  std::size_t max_connections_per_address = 256;  // open at once from one remote IP
  // Loopback clients (127.0.0.0/8, ::1) are exempt from the per-address cap unless this is
  // set: a reverse proxy or a local test swarm connects from there. The total cap applies.
  bool cap_loopback = false;
  // From accept (or from the end of the previous request on a keep-alive connection) to a
  // complete request head, TLS handshake included. Slower clients get 408 and are closed.
  int64_t header_timeout_ms = 10'000;
  unsigned ws_ping_interval_s = 20;     // WebSocket ping to a peer silent this long
  int64_t ws_idle_timeout_ms = 60'000;  // nothing at all (not even a pong) for this long: close
  // Bytes written to one WebSocket that the peer's TCP has not acknowledged yet (our queue
  // plus our kernel send buffer). A peer that does not read is closed beyond this.
  std::size_t max_unsent_bytes = 1024 * 1024;
  unsigned tcp_keepalive_s = 60;  // TCP keepalive: first probe after this idle time; 0 = off
};

class TrackerServer {
 public:
  explicit TrackerServer(TrackerServerOptions options);
  ~TrackerServer();
  TrackerServer(const TrackerServer&) = delete;
  TrackerServer& operator=(const TrackerServer&) = delete;

  // Binds and starts serving on the thread-default main context.
  Expected<void, std::string> start();
  uint16_t port() const;
  std::string ws_url() const;    // ws://host:port/ws (wss:// with TLS)
  std::string http_url() const;  // http://host:port (https:// with TLS)
  const TrackerCore& core() const;
  // Open TCP connections (HTTP and WebSocket) and those from one address, as the caps count.
  std::size_t tcp_connections() const;
  std::size_t tcp_connections_from(const std::string& address) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcast::signaling
