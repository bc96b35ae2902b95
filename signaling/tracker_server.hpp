// The tracker on the GLib main loop: libsoup-3 WebSocket endpoint /ws carrying JSON, plus the
// HTTP endpoints /, /healthz, /metrics, /api/streams[/NAME/overlay]. All protocol decisions
// live in TrackerCore; this class only moves bytes and time.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

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
  LogLevel log_level = LogLevel::kInfo;
  // Frames above kMaxFrameBytes but below this get an error reply; above it libsoup closes the
  // connection with 1009 (message too big).
  uint64_t max_incoming_bytes = 256 * 1024;
};

class TrackerServer {
 public:
  explicit TrackerServer(TrackerServerOptions options);
  ~TrackerServer();
  TrackerServer(const TrackerServer&) = delete;
  TrackerServer& operator=(const TrackerServer&) = delete;

  // Binds and starts serving on the thread-default main context. False + *error on failure.
  bool start(std::string* error);
  uint16_t port() const;
  std::string ws_url() const;    // ws://host:port/ws (wss:// with TLS)
  std::string http_url() const;  // http://host:port (https:// with TLS)
  const TrackerCore& core() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcast::signaling
