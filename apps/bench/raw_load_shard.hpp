// A share of tracker-bench's clients on raw non-blocking sockets in one epoll loop: no
// libsoup, no GLib source per connection, so a client costs the generator a few
// microseconds per message and one process holds thousands of them. tracker-bench runs
// several shards as child processes (each under its own descriptor limit) and measures
// the tracker between their phases.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/ws_frame.hpp"

namespace meshcast::app {

struct RawLoadConfig {
  std::vector<uint16_t> ports;  // tracker instances on 127.0.0.1; client i uses ports[i % K]
  int first = 0;                // global index of this shard's first client
  int count = 0;
  int concurrency = 64;  // hand-shakes in flight at once
  // Client 0 (in the shard that holds it) is the broadcaster that owns the stream.
  std::string stream = "bench";
  int64_t step_timeout_ms = 30'000;    // one client's connect, upgrade, hello or join
  int64_t phase_timeout_ms = 120'000;  // a whole phase (join, relay)
};

struct RawPhaseResult {
  int ok = 0, failed = 0;
  std::vector<std::string> errors;  // the first few
  std::vector<double> rtt_ms;       // relay phases: one per round trip
  double seconds = 0;
};

class RawLoadShard {
 public:
  explicit RawLoadShard(RawLoadConfig cfg);
  ~RawLoadShard();
  RawLoadShard(const RawLoadShard&) = delete;
  RawLoadShard& operator=(const RawLoadShard&) = delete;

  // Client 0 says hello as the broadcaster and creates the stream (only in the shard that
  // holds client 0).
  RawPhaseResult create_stream(int64_t deadline_ms);
  // Every other client: connect, upgrade, hello, join the stream.
  RawPhaseResult join_all(int64_t deadline_ms);
  // Pairs (a, b) of joined clients; each a sends `rounds` relay pings to b one after the
  // other, b answers with a pong through the tracker.
  RawPhaseResult relay(const std::vector<std::pair<int, int>>& pairs, int rounds,
                       int64_t deadline_ms);
  // Serves the sockets (pings from the tracker) until `fd` is readable (true) or the
  // deadline passes (false).
  bool serve_until_readable(int fd, int64_t deadline_ms);
  bool holds(int global_index) const;

  static std::string id_of(int global_index) { return "bench-" + std::to_string(global_index); }

 private:
  struct Client;
  void start_connect(Client& c);
  void on_event(Client& c, uint32_t events);
  void on_text(Client& c, const std::string& text);
  void fail(Client& c, const std::string& why);
  void send_frame(Client& c, signaling::ws::Opcode op, std::string_view payload);
  void send_ping(Client& c);  // the next relay ping to its partner, stamped with the time
  void flush(Client& c);
  int poll_once(int timeout_ms);
  int64_t now_ms() const;
  Client* local(int global_index);

  RawLoadConfig cfg_;
  int ep_ = -1;
  std::vector<Client> clients_;
  RawPhaseResult* phase_ = nullptr;
  int in_flight_ = 0;
  int pongs_wanted_ = 0;
};

}  // namespace meshcast::app
