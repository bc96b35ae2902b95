// Async tracker client on the GLib main loop (libsoup-3 WebSocket). Used by the broadcast,
// watch and call apps:
//
//   TrackerClient c;
//   c.set_on_state([&](ClientState s, const std::string& why) {
//     if (s == ClientState::kConnected) c.hello({.peer_id = "alice", .role = "viewer"}, ...);
//   });
//   c.on("relay", [&](const nlohmann::json& m) { ... m["from"], m["kind"], m["payload"] ... });
//   c.connect("ws://127.0.0.1:8700/ws");
//
// Every request gets a numeric "id"; its ReplyFn runs exactly once: with the server's reply,
// the server's error, or a local error (code "not_connected", "disconnected", "timeout").
// A reconnect needs a hello again on kConnected: hello() then asks the tracker to resume the
// earlier session (its id and token); if the tracker no longer knows it (resumed() is false)
// the caller re-creates or re-joins its streams.
// All callbacks run on the thread-default GLib main context; do not destroy the client from
// inside one of its own callbacks (defer with g_idle_add). Lists longer than the protocol's
// 64 entries (exclude, partners) are truncated by the client.
#pragma once
#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "signaling/identity_key.hpp"

namespace meshcast::signaling {

enum class ClientState { kDisconnected, kConnecting, kConnected, kFailed };
const char* client_state_name(ClientState s);

struct Reply {
  bool ok = false;
  std::string code;     // error code when !ok (server codes, or not_connected/disconnected/timeout)
  std::string message;  // error text when !ok
  nlohmann::json body;  // the whole reply (or error) message
};
using ReplyFn = std::function<void(const Reply&)>;
using EventFn = std::function<void(const nlohmann::json& msg)>;

struct TrackerClientOptions {
  // After a drop or failed connect; 0 = never reconnect, -1 = for ever (capped backoff).
  int max_reconnect_attempts = 5;
  unsigned initial_backoff_ms = 250;  // doubles per attempt, +-25 % jitter
  unsigned max_backoff_ms = 8000;
  unsigned request_timeout_ms = 10000;
  // A tracker host that crashed or dropped off the network sends no FIN or RST: without
  // these a connection to it looks open until TCP gives up (many minutes), and a connect to
  // it waits for the kernel's SYN retries (about 2 minutes).
  unsigned connect_timeout_ms = 10000;  // TCP + WebSocket handshake of one attempt; 0 = none
  unsigned keepalive_s = 5;             // WebSocket ping interval; 0 = off
  // Connected and nothing received (not even a pong) for this long: the connection is dead,
  // drop it and reconnect. Needs keepalive_s (a quiet connection is otherwise normal); 0 = off.
  unsigned silence_timeout_s = 15;
  bool accept_invalid_certificates = false;  // wss with a self-signed test certificate
  SoupSession* session = nullptr;  // optional shared session (many clients in one process)
  // The key that proves our peer id (hello signs the tracker's welcome nonce with it).
  // nullptr = a fresh in-memory key for this client (tests, swarms): its names stay bound
  // to a key nobody keeps, so only this client object can use them again at that tracker.
  std::shared_ptr<const IdentityKey> identity;
};

struct HelloParams {
  std::string peer_id;          // empty = the tracker assigns one
  std::string role = "viewer";  // viewer | broadcaster | caller
  int64_t upload_kbps = 0;
  nlohmann::json accept_calls;  // null = server default ("all"); "none"; or ["alice", ...]
};

struct StreamParams {
  std::string name;
  std::string public_key;  // Ed25519, 32 bytes as hex or base64
  nlohmann::json codec = nlohmann::json::object();
  int64_t bitrate_kbps = 1000;
  bool is_private = false;
  std::string view_key;  // required when is_private
  std::string secret{};  // the owner secret of an earlier create: re-claims the stream if it exists
};

struct Partner {
  std::string id;
  std::string role;       // parent | child | pull
  int64_t rx_bytes = -1;  // media bytes received from it since the last report (-1: not sent)
};

class TrackerClient {
 public:
  explicit TrackerClient(TrackerClientOptions options = {});
  ~TrackerClient();
  TrackerClient(const TrackerClient&) = delete;
  TrackerClient& operator=(const TrackerClient&) = delete;

  // `url`, or several comma-separated (instances of one tracker cluster): they are tried in
  // a random order, each reconnect attempt moving on to the next one.
  void connect(const std::string& url);
  const std::string& url() const { return url_; }  // the one in use or being tried
  void close();  // no reconnect; pending requests complete with "disconnected"
  ClientState state() const { return state_; }
  const std::string& peer_id() const { return peer_id_; }  // set by a successful hello
  const std::string& token() const { return token_; }
  // The last hello resumed an earlier session (id, streams, calls kept by the tracker).
  bool resumed() const { return resumed_; }
  // TURN servers with time-limited credentials the tracker handed out in hello_ok (an array
  // of {urls, username, credential, expires_s}; empty when it gave none).
  const nlohmann::json& ice_servers() const { return ice_servers_; }
  // Reconnect attempts since the connection was lost (0 while connected).
  int reconnect_attempts() const { return attempts_; }
  void set_max_reconnect_attempts(int n) { opt_.max_reconnect_attempts = n; }
  const std::shared_ptr<const IdentityKey>& identity() const { return identity_; }

  void set_on_state(std::function<void(ClientState, const std::string& reason)> fn);
  // Every server-initiated message (not a reply), e.g. relay, call_incoming, peer_left.
  void set_on_message(std::function<void(const std::string& type, const nlohmann::json&)> fn);
  // Typed event callback for one message type (several may be registered).
  void on(const std::string& type, EventFn fn);
  void off(const std::string& type);  // removes every callback registered for `type`

  // Generic request: adds "id" and completes `done` with the reply. Returns the id (0 if it
  // could not be sent, in which case `done` already ran with "not_connected").
  uint64_t request(nlohmann::json msg, ReplyFn done);
  // Fire and forget (no id): errors arrive as "error" events.
  bool send(const nlohmann::json& msg);

  void hello(const HelloParams& p, ReplyFn done);
  void create_stream(const StreamParams& p, ReplyFn done);  // reply: name, secret
  // One page (reply: streams, next when more follow); pass `next` as `after` for the next.
  void list_streams(ReplyFn done, const std::string& after = "", int limit = 0);
  void describe_stream(const std::string& name, const std::string& view_key, ReplyFn done);
  void update_stream(const std::string& name, const nlohmann::json& changes, ReplyFn done);
  void end_stream(const std::string& name, ReplyFn done);
  // reply: stream, owner, public_key, codec, bitrate_kbps, neighbours[{peer_id, role, ...}]
  void join(const std::string& stream, const std::string& view_key, ReplyFn done,
            int max_neighbours = 0, const std::vector<std::string>& exclude = {});
  void neighbours(const std::string& stream, const std::vector<std::string>& exclude, ReplyFn done,
                  int max_neighbours = 0);
  // With `done` the server confirms delivery (relay_ok); without it only errors come back.
  void relay(const std::string& to, const std::string& kind, const nlohmann::json& payload,
             ReplyFn done = {});
  void call_invite(const std::string& to, ReplyFn done, int64_t timeout_ms = 0);
  void call_accept(const std::string& call_id, ReplyFn done);
  void call_decline(const std::string& call_id, const std::string& reason, ReplyFn done);
  void call_cancel(const std::string& call_id, ReplyFn done);
  void call_hangup(const std::string& call_id, ReplyFn done);
  void report(const std::vector<Partner>& partners, const nlohmann::json& stats,
              const std::string& stream = "");
  void leave(ReplyFn done);
  void ping(ReplyFn done);

 private:
  bool can_send() const;
  struct Guard;  // outlives `this` for async callbacks
  struct Pending {
    ReplyFn done;
    int64_t deadline_ms;
  };
  static void on_connect_done(GObject* src, GAsyncResult* res, gpointer data);
  static void on_ws_message(SoupWebsocketConnection*, gint type, GBytes* bytes, gpointer data);
  static void on_ws_closed(SoupWebsocketConnection*, gpointer data);
  static gboolean on_retry_timer(gpointer data);
  static gboolean on_tick(gpointer data);
  static void on_ws_pong(SoupWebsocketConnection*, GBytes*, gpointer data);
  static gboolean on_watch_tick(gpointer data);
  void watch(bool on);
  unsigned silence_limit_ms() const;
  void start_attempt();
  void handle_drop(const std::string& reason);
  void set_state(ClientState s, const std::string& reason);
  void drop_socket();
  void fail_pending(const std::string& code, const std::string& message);
  void dispatch(const std::string& text);
  void on_welcome(const nlohmann::json& m);
  void sign_hello(nlohmann::json& m) const;

  TrackerClientOptions opt_;
  SoupSession* session_ = nullptr;
  SoupWebsocketConnection* ws_ = nullptr;
  GCancellable* cancel_ = nullptr;
  std::shared_ptr<Guard> guard_;
  std::string url_;
  std::vector<std::string> urls_;
  std::size_t url_at_ = 0;
  ClientState state_ = ClientState::kDisconnected;
  bool want_open_ = false;
  int attempts_ = 0;
  guint retry_timer_ = 0;
  uint64_t next_id_ = 1;
  uint64_t attempt_seq_ = 0;  // a late connect result of an older attempt is dropped
  int64_t attempt_started_ms_ = 0;
  int64_t last_rx_ms_ = 0;  // the last message or pong on this connection
  std::map<uint64_t, Pending> pending_;
  std::string peer_id_, token_;
  std::string resume_id_, resume_token_;  // survive a drop, so the next hello can resume
  bool resumed_ = false;
  nlohmann::json ice_servers_ = nlohmann::json::array();
  std::shared_ptr<const IdentityKey> identity_;
  std::string nonce_;  // from this connection's welcome
  // A hello asked for before the welcome arrived: sent (signed) when it does.
  std::optional<std::pair<uint64_t, nlohmann::json>> deferred_hello_;
  std::function<void(ClientState, const std::string&)> on_state_;
  std::function<void(const std::string&, const nlohmann::json&)> on_message_;
  std::map<std::string, std::vector<EventFn>> handlers_;
};

}  // namespace meshcast::signaling
