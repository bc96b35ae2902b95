// Server-side WebSocket connections taken over from libsoup right after the upgrade, all
// watched through one epoll descriptor that is a single source on the GLib main loop.
// libsoup keeps one GSource (one poll entry, prepared and checked every iteration) per
// connection, so each loop iteration costs O(connections) and a tracker with 5,000 peers
// spends most of its time polling idle sockets; here an iteration costs O(ready ones).
#pragma once
#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mesh/base/expected.hpp"
#include "signaling/ws_frame.hpp"

namespace meshcast::signaling {

class WsHub {
 public:
  using Id = uint64_t;
  struct Callbacks {
    std::function<void(Id, ws::Message&&)> on_message;  // text, binary and pong
    std::function<void(Id)> on_closed;  // once per adopted connection, never re-entrantly
  };
  WsHub(uint64_t max_message_bytes, int64_t close_timeout_ms, Callbacks cb);
  ~WsHub();  // closes every connection without callbacks
  WsHub(const WsHub&) = delete;
  WsHub& operator=(const WsHub&) = delete;

  Expected<void, std::string> start();
  // Takes over an upgraded connection under a caller-chosen id. `stream` (owned from now on)
  // holds the socket; `early` is what libsoup had already read past the request.
  // Nothing is parsed until the next wake or process_buffered(): the caller registers the
  // id first.
  bool adopt(Id id, GSocket* sock, GIOStream* stream, std::string early);
  void process_buffered(Id id);

  bool open(Id id) const;  // adopted, and no close started
  bool send_text(Id id, std::string_view text);
  void ping(Id id);
  // Close handshake: our close frame, then the peer's (or its EOF), else reset after the
  // close timeout.
  void close(Id id, uint16_t code, std::string_view reason);
  // Reset at once; whatever is queued for the peer is dropped.
  void abort(Id id);
  // Bytes written by us and not yet taken by the peer: our queue plus the kernel's.
  uint64_t unsent(Id id) const;
  // Ends close handshakes that ran out of time.
  void tick(int64_t now_ms);
  std::size_t size() const { return conns_.size(); }

 private:
  struct Conn;
  static gboolean on_ready(gint fd, GIOCondition, gpointer self);
  void handle(Conn& c, uint32_t events);
  bool read_some(Conn& c);  // true at EOF or a reset
  void start_close(Conn& c, uint16_t code, std::string_view reason, bool theirs);
  void refuse(Conn& c, uint16_t code, std::string_view why);  // close frame if it fits, then end
  void flush(Conn& c);
  void flushed(Conn& c);  // everything queued is out: the close steps that waited for it
  void queue(Conn& c, std::string bytes);
  void want_output(Conn& c, bool on);
  void finish(Conn& c);  // stop watching; callbacks and release follow from the loop
  static gboolean on_reap(gpointer self);
  void release(Conn& c);

  uint64_t max_message_;
  int64_t close_timeout_ms_;
  Callbacks cb_;
  int ep_ = -1;
  guint watch_ = 0;
  guint reap_ = 0;
  std::unordered_map<Id, std::unique_ptr<Conn>> conns_;
  std::vector<Id> finished_;
  std::vector<Id> closing_;  // close handshakes in progress (checked by tick)
};

}  // namespace meshcast::signaling
