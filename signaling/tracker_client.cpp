#include "signaling/tracker_client.hpp"

#include <algorithm>
#include <set>

#include "mesh/base/time.hpp"
#include "signaling/identity_proof.hpp"

namespace meshcast::signaling {

using nlohmann::json;

namespace {
// Lists longer than the protocol allows are cut rather than refused by the tracker: a few
// more candidates to ignore beat no answer at all.
constexpr std::size_t kMaxListEntries = 64;
std::vector<std::string> capped(const std::vector<std::string>& v) {
  if (v.size() <= kMaxListEntries) return v;
  return std::vector<std::string>(v.begin(), v.begin() + kMaxListEntries);
}

void unref_when_closed(SoupWebsocketConnection* ws, gpointer) { g_object_unref(ws); }
}  // namespace

// One process-wide timer expires requests of every client: thousands of clients in one process
// (the load benchmark) must not mean thousands of timer sources on the main context.
namespace {
std::set<TrackerClient*>& clients_with_pending() {
  static std::set<TrackerClient*> s;
  return s;
}
guint g_tick_source = 0;
// Likewise one timer watches every connecting or connected client for a silent tracker.
std::set<TrackerClient*>& clients_watched() {
  static std::set<TrackerClient*> s;
  return s;
}
guint g_watch_source = 0;
constexpr unsigned kWatchIntervalMs = 500;
}  // namespace

struct TrackerClient::Guard {
  TrackerClient* self;
};

namespace {
struct ConnectCtx {
  std::shared_ptr<void> guard;
  uint64_t attempt;
};
}  // namespace

const char* client_state_name(ClientState s) {
  switch (s) {
    case ClientState::kDisconnected:
      return "disconnected";
    case ClientState::kConnecting:
      return "connecting";
    case ClientState::kConnected:
      return "connected";
    case ClientState::kFailed:
      return "failed";
  }
  return "?";
}

TrackerClient::TrackerClient(TrackerClientOptions options)
    : opt_(options), guard_(std::make_shared<Guard>(Guard{this})), identity_(opt_.identity) {
  if (!identity_) {
    if (auto k = IdentityKey::generate()) identity_ = std::make_shared<const IdentityKey>(*k);
  }
  if (opt_.session) {
    session_ = SOUP_SESSION(g_object_ref(opt_.session));
  } else {
    // No idle/IO timeouts: a quiet WebSocket is normal; keepalive pings detect dead ones.
    session_ =
        soup_session_new_with_options("max-conns", 1024, "max-conns-per-host", 1024, "timeout", 0u,
                                      "idle-timeout", 0u, "user-agent", "meshcast", nullptr);
  }
}

TrackerClient::~TrackerClient() {
  guard_->self = nullptr;
  want_open_ = false;
  if (retry_timer_) g_source_remove(retry_timer_);
  retry_timer_ = 0;
  clients_with_pending().erase(this);
  watch(false);
  drop_socket();
  pending_.clear();  // no callbacks from a destructor
  g_object_unref(session_);
}

void TrackerClient::set_on_state(std::function<void(ClientState, const std::string&)> fn) {
  on_state_ = std::move(fn);
}
void TrackerClient::set_on_message(std::function<void(const std::string&, const json&)> fn) {
  on_message_ = std::move(fn);
}
void TrackerClient::on(const std::string& type, EventFn fn) {
  handlers_[type].push_back(std::move(fn));
}

void TrackerClient::off(const std::string& type) { handlers_.erase(type); }

void TrackerClient::set_state(ClientState s, const std::string& reason) {
  state_ = s;
  if (on_state_) on_state_(s, reason);
}

// ---- connection ---------------------------------------------------------------------------

void TrackerClient::connect(const std::string& url) {
  if (retry_timer_) g_source_remove(retry_timer_);
  retry_timer_ = 0;
  drop_socket();
  urls_.clear();
  for (std::size_t at = 0; at <= url.size();) {
    const std::size_t comma = std::min(url.find(',', at), url.size());
    if (comma > at) urls_.push_back(url.substr(at, comma - at));
    at = comma + 1;
  }
  if (urls_.empty()) urls_.push_back(url);
  // Random order: clients of a cluster spread over its instances, and over the survivors
  // when one of them goes away.
  for (std::size_t i = urls_.size(); i > 1; --i)
    std::swap(urls_[i - 1], urls_[g_random_int_range(0, static_cast<gint32>(i))]);
  url_at_ = 0;
  url_ = urls_[0];
  want_open_ = true;
  attempts_ = 0;
  start_attempt();
}

void TrackerClient::start_attempt() {
  SoupMessage* msg = soup_message_new("GET", url_.c_str());
  if (!msg) {
    want_open_ = false;
    set_state(ClientState::kFailed, "invalid URL: " + url_);
    return;
  }
  if (opt_.accept_invalid_certificates) {
    g_signal_connect(msg, "accept-certificate",
                     G_CALLBACK(+[](SoupMessage*, GTlsCertificate*, GTlsCertificateFlags,
                                    gpointer) -> gboolean { return TRUE; }),
                     nullptr);
  }
  cancel_ = g_cancellable_new();
  auto* ctx = new ConnectCtx{guard_, ++attempt_seq_};
  attempt_started_ms_ = monotonic_ms();
  watch(true);
  set_state(ClientState::kConnecting, "");
  soup_session_websocket_connect_async(session_, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, cancel_,
                                       &TrackerClient::on_connect_done, ctx);
  g_object_unref(msg);
}

void TrackerClient::on_connect_done(GObject* src, GAsyncResult* res, gpointer data) {
  auto* ctx = static_cast<ConnectCtx*>(data);
  auto guard = std::static_pointer_cast<Guard>(ctx->guard);
  uint64_t attempt = ctx->attempt;
  delete ctx;
  GError* e = nullptr;
  SoupWebsocketConnection* ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &e);
  TrackerClient* self = guard->self;
  if (!self || !self->want_open_ || attempt != self->attempt_seq_ || self->ws_) {
    // Stale attempt (client closed, destroyed or restarted meanwhile).
    if (ws) {
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, nullptr);
      g_signal_connect(ws, "closed", G_CALLBACK(unref_when_closed), nullptr);
    }
    g_clear_error(&e);
    return;
  }
  if (!ws) {
    std::string why = e ? e->message : "connect failed";
    g_clear_error(&e);
    self->handle_drop(why);
    return;
  }
  self->ws_ = ws;
  if (self->opt_.keepalive_s)
    soup_websocket_connection_set_keepalive_interval(ws, self->opt_.keepalive_s);
  g_signal_connect(ws, "message", G_CALLBACK(&TrackerClient::on_ws_message), self);
  g_signal_connect(ws, "pong", G_CALLBACK(&TrackerClient::on_ws_pong), self);
  g_signal_connect(ws, "closed", G_CALLBACK(&TrackerClient::on_ws_closed), self);
  self->last_rx_ms_ = monotonic_ms();
  self->watch(self->silence_limit_ms() > 0);
  self->attempts_ = 0;
  self->set_state(ClientState::kConnected, "");
}

void TrackerClient::drop_socket() {
  nonce_.clear();
  deferred_hello_.reset();
  if (cancel_) {
    g_cancellable_cancel(cancel_);
    g_object_unref(cancel_);
    cancel_ = nullptr;
  }
  if (!ws_) return;
  SoupWebsocketConnection* ws = ws_;
  ws_ = nullptr;
  g_signal_handlers_disconnect_by_data(ws, this);
  auto st = soup_websocket_connection_get_state(ws);
  if (st == SOUP_WEBSOCKET_STATE_OPEN) {
    // Keep the object alive through the close handshake.
    g_signal_connect(ws, "closed", G_CALLBACK(unref_when_closed), nullptr);
    soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
  } else if (st == SOUP_WEBSOCKET_STATE_CLOSING) {
    g_signal_connect(ws, "closed", G_CALLBACK(unref_when_closed), nullptr);
  } else {
    g_object_unref(ws);
  }
}

void TrackerClient::on_ws_closed(SoupWebsocketConnection* ws, gpointer data) {
  auto* self = static_cast<TrackerClient*>(data);
  if (ws != self->ws_) return;
  std::string why = "closed by server (code " +
                    std::to_string(soup_websocket_connection_get_close_code(ws)) + ")";
  self->handle_drop(why);
}

unsigned TrackerClient::silence_limit_ms() const {
  return opt_.keepalive_s ? opt_.silence_timeout_s * 1000 : 0;
}

void TrackerClient::watch(bool on) {
  if (!on) {
    clients_watched().erase(this);
    return;
  }
  clients_watched().insert(this);
  if (!g_watch_source)
    g_watch_source = g_timeout_add(kWatchIntervalMs, &TrackerClient::on_watch_tick, nullptr);
}

gboolean TrackerClient::on_watch_tick(gpointer) {
  const int64_t now = monotonic_ms();
  auto clients = clients_watched();  // a drop's callbacks may add or remove clients
  for (TrackerClient* self : clients) {
    if (!clients_watched().count(self)) continue;  // destroyed or dropped meanwhile
    const unsigned silence = self->silence_limit_ms();
    if (self->ws_ && silence > 0 && now - self->last_rx_ms_ > silence) {
      self->handle_drop("no answer from the tracker for " + std::to_string(silence / 1000) + " s");
    } else if (!self->ws_ && self->state_ == ClientState::kConnecting &&
               self->opt_.connect_timeout_ms > 0 &&
               now - self->attempt_started_ms_ > self->opt_.connect_timeout_ms) {
      ++self->attempt_seq_;  // the attempt's late result (cancelled) is stale
      self->handle_drop("no answer from the tracker within " +
                        std::to_string(self->opt_.connect_timeout_ms) + " ms");
    }
  }
  if (clients_watched().empty()) {
    g_watch_source = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

void TrackerClient::on_ws_pong(SoupWebsocketConnection*, GBytes*, gpointer data) {
  static_cast<TrackerClient*>(data)->last_rx_ms_ = monotonic_ms();
}

void TrackerClient::handle_drop(const std::string& reason) {
  watch(false);
  drop_socket();
  peer_id_.clear();
  token_.clear();
  fail_pending("disconnected", reason);
  if (!want_open_) {
    set_state(ClientState::kDisconnected, reason);
    return;
  }
  if (opt_.max_reconnect_attempts >= 0 && attempts_ >= opt_.max_reconnect_attempts) {
    want_open_ = false;
    set_state(ClientState::kFailed,
              reason + " (gave up after " + std::to_string(attempts_) + " reconnect attempts)");
    return;
  }
  ++attempts_;
  url_at_ = (url_at_ + 1) % urls_.size();
  url_ = urls_[url_at_];
  unsigned base = opt_.initial_backoff_ms << std::min(attempts_ - 1, 16);
  base = std::min(base, opt_.max_backoff_ms);
  // +-25 % jitter so that many clients dropped together do not reconnect in lockstep.
  unsigned jitter = base / 4;
  unsigned delay = base - jitter + (jitter ? g_random_int_range(0, 2 * jitter + 1) : 0);
  retry_timer_ = g_timeout_add(delay, &TrackerClient::on_retry_timer, this);
  set_state(ClientState::kDisconnected, reason);
}

gboolean TrackerClient::on_retry_timer(gpointer data) {
  auto* self = static_cast<TrackerClient*>(data);
  self->retry_timer_ = 0;
  if (self->want_open_) self->start_attempt();
  return G_SOURCE_REMOVE;
}

void TrackerClient::close() {
  bool was = state_ != ClientState::kDisconnected;
  want_open_ = false;
  if (retry_timer_) g_source_remove(retry_timer_);
  retry_timer_ = 0;
  watch(false);
  drop_socket();
  peer_id_.clear();
  fail_pending("disconnected", "closed by client");
  if (was) set_state(ClientState::kDisconnected, "closed by client");
}

// ---- messages -----------------------------------------------------------------------------

void TrackerClient::fail_pending(const std::string& code, const std::string& message) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) {
    Reply r{false, code, message, json{{"type", "error"}, {"code", code}, {"message", message}}};
    if (p.done) p.done(r);
  }
}

void TrackerClient::on_ws_message(SoupWebsocketConnection*, gint type, GBytes* bytes,
                                  gpointer data) {
  auto* self = static_cast<TrackerClient*>(data);
  self->last_rx_ms_ = monotonic_ms();
  if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
  gsize len = 0;
  auto* p = static_cast<const char*>(g_bytes_get_data(bytes, &len));
  self->dispatch(std::string(p ? p : "", len));
}

void TrackerClient::dispatch(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) return;
  std::string type = j["type"].get<std::string>();
  if (type == "welcome") on_welcome(j);
  const json* rid = nullptr;
  if (type == "error" && j.contains("ref_id"))
    rid = &j["ref_id"];
  else if (type != "error" && j.contains("id"))
    rid = &j["id"];
  if (rid && rid->is_number_unsigned()) {
    auto it = pending_.find(rid->get<uint64_t>());
    if (it != pending_.end()) {
      ReplyFn done = std::move(it->second.done);
      pending_.erase(it);
      Reply r;
      r.ok = type != "error";
      if (!r.ok) {
        r.code = j.value("code", "");
        r.message = j.value("message", "");
        if (r.code == "bad_resume") resume_token_.clear();  // the next hello starts afresh
      } else if (type == "hello_ok") {
        peer_id_ = j.value("peer_id", "");
        token_ = j.value("token", "");
        resumed_ = j.value("resumed", false);
        if (auto ice = j.find("ice_servers"); ice != j.end() && ice->is_array())
          ice_servers_ = *ice;
        resume_id_ = peer_id_;
        resume_token_ = token_;
      }
      r.body = std::move(j);
      if (done) done(r);
      return;
    }
  }
  if (on_message_) on_message_(type, j);
  auto h = handlers_.find(type);
  if (h != handlers_.end()) {
    auto fns = h->second;  // a handler may register more handlers
    for (auto& fn : fns) fn(j);
  }
}

gboolean TrackerClient::on_tick(gpointer) {
  int64_t now = monotonic_ms();
  auto clients = clients_with_pending();  // callbacks may add or remove clients
  for (TrackerClient* self : clients) {
    if (!clients_with_pending().count(self)) continue;  // destroyed meanwhile
    std::vector<ReplyFn> expired;
    for (auto it = self->pending_.begin(); it != self->pending_.end();) {
      if (it->second.deadline_ms <= now) {
        expired.push_back(std::move(it->second.done));
        it = self->pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (self->pending_.empty()) clients_with_pending().erase(self);
    for (auto& fn : expired) {
      Reply r{false, "timeout", "no reply in time", json{{"type", "error"}, {"code", "timeout"}}};
      if (fn) fn(r);
    }
  }
  if (clients_with_pending().empty()) {
    g_tick_source = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

// The socket leaves OPEN (CLOSING) before "closed" fires and state_ follows; sending then is a
// libsoup critical, so every send path asks the socket itself.
bool TrackerClient::can_send() const {
  return state_ == ClientState::kConnected && ws_ &&
         soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN;
}

bool TrackerClient::send(const json& msg) {
  if (!can_send()) return false;
  soup_websocket_connection_send_text(
      ws_, msg.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  return true;
}

uint64_t TrackerClient::request(json msg, ReplyFn done) {
  if (!can_send()) {
    Reply r{false, "not_connected", "not connected to the tracker",
            json{{"type", "error"}, {"code", "not_connected"}}};
    if (done) done(r);
    return 0;
  }
  uint64_t id = next_id_++;
  msg["id"] = id;
  pending_[id] = Pending{std::move(done), monotonic_ms() + opt_.request_timeout_ms};
  send(msg);
  clients_with_pending().insert(this);
  if (!g_tick_source) g_tick_source = g_timeout_add(250, &TrackerClient::on_tick, nullptr);
  return id;
}

// ---- typed helpers ------------------------------------------------------------------------

void TrackerClient::hello(const HelloParams& p, ReplyFn done) {
  json m = {{"type", "hello"}, {"role", p.role}, {"upload_kbps", p.upload_kbps}};
  std::string peer = p.peer_id;
  if (!resume_token_.empty() && (peer.empty() || peer == resume_id_)) {
    peer = resume_id_;
    m["resume"] = resume_token_;
  }
  if (!peer.empty()) m["peer_id"] = peer;
  if (!p.accept_calls.is_null()) m["accept_calls"] = p.accept_calls;
  if (!identity_ || !nonce_.empty() || !can_send()) {
    if (identity_ && !nonce_.empty()) sign_hello(m);
    request(std::move(m), std::move(done));
    return;
  }
  // The welcome (and its nonce) is still on its way: the hello waits for it, under the
  // usual request timeout.
  const uint64_t id = next_id_++;
  pending_[id] = Pending{std::move(done), monotonic_ms() + opt_.request_timeout_ms};
  clients_with_pending().insert(this);
  if (!g_tick_source) g_tick_source = g_timeout_add(250, &TrackerClient::on_tick, nullptr);
  deferred_hello_.emplace(id, std::move(m));
}

void TrackerClient::sign_hello(json& m) const {
  const std::string peer = m.contains("peer_id") ? m["peer_id"].get<std::string>() : "";
  m["identity_key"] = identity_->public_key_b64();
  m["identity_sig"] = identity_->sign_b64(hello_proof_message(nonce_, peer));
}

void TrackerClient::on_welcome(const json& m) {
  auto n = m.find("nonce");
  if (n == m.end() || !n->is_string() || n->get_ref<const std::string&>().empty() ||
      n->get_ref<const std::string&>().size() > 128)
    return;
  nonce_ = n->get<std::string>();
  if (!deferred_hello_) return;
  auto [id, msg] = std::move(*deferred_hello_);
  deferred_hello_.reset();
  if (!pending_.count(id)) return;  // timed out meanwhile
  msg["id"] = id;
  sign_hello(msg);
  send(msg);
}

void TrackerClient::create_stream(const StreamParams& p, ReplyFn done) {
  json m = {{"type", "stream_create"},        {"name", p.name},
            {"public_key", p.public_key},     {"codec", p.codec},
            {"bitrate_kbps", p.bitrate_kbps}, {"private", p.is_private}};
  if (p.is_private) m["view_key"] = p.view_key;
  if (!p.secret.empty()) m["secret"] = p.secret;
  request(std::move(m), std::move(done));
}

void TrackerClient::list_streams(ReplyFn done, const std::string& after, int limit) {
  json m = {{"type", "stream_list"}};
  if (!after.empty()) m["after"] = after;
  if (limit > 0) m["limit"] = limit;
  request(std::move(m), std::move(done));
}

void TrackerClient::describe_stream(const std::string& name, const std::string& view_key,
                                    ReplyFn done) {
  json m = {{"type", "stream_describe"}, {"name", name}};
  if (!view_key.empty()) m["view_key"] = view_key;
  request(std::move(m), std::move(done));
}

void TrackerClient::update_stream(const std::string& name, const json& changes, ReplyFn done) {
  json m = changes.is_object() ? changes : json::object();
  m["type"] = "stream_update";
  m["name"] = name;
  request(std::move(m), std::move(done));
}

void TrackerClient::end_stream(const std::string& name, ReplyFn done) {
  request({{"type", "stream_end"}, {"name", name}}, std::move(done));
}

void TrackerClient::join(const std::string& stream, const std::string& view_key, ReplyFn done,
                         int max_neighbours, const std::vector<std::string>& exclude) {
  json m = {{"type", "join"}, {"stream", stream}};
  if (!view_key.empty()) m["view_key"] = view_key;
  if (max_neighbours > 0) m["max"] = max_neighbours;
  if (!exclude.empty()) m["exclude"] = capped(exclude);
  request(std::move(m), std::move(done));
}

void TrackerClient::neighbours(const std::string& stream, const std::vector<std::string>& exclude,
                               ReplyFn done, int max_neighbours) {
  json m = {{"type", "neighbours"}, {"stream", stream}};
  if (max_neighbours > 0) m["max"] = max_neighbours;
  if (!exclude.empty()) m["exclude"] = capped(exclude);
  request(std::move(m), std::move(done));
}

void TrackerClient::relay(const std::string& to, const std::string& kind, const json& payload,
                          ReplyFn done) {
  json m = {{"type", "relay"}, {"to", to}, {"kind", kind}, {"payload", payload}};
  if (done)
    request(std::move(m), std::move(done));
  else
    send(m);
}

void TrackerClient::call_invite(const std::string& to, ReplyFn done, int64_t timeout_ms) {
  json m = {{"type", "call_invite"}, {"to", to}};
  if (timeout_ms > 0) m["timeout_ms"] = timeout_ms;
  request(std::move(m), std::move(done));
}

void TrackerClient::call_accept(const std::string& call_id, ReplyFn done) {
  request({{"type", "call_accept"}, {"call_id", call_id}}, std::move(done));
}

void TrackerClient::call_decline(const std::string& call_id, const std::string& reason,
                                 ReplyFn done) {
  json m = {{"type", "call_decline"}, {"call_id", call_id}};
  if (!reason.empty()) m["reason"] = reason;
  request(std::move(m), std::move(done));
}

void TrackerClient::call_cancel(const std::string& call_id, ReplyFn done) {
  request({{"type", "call_cancel"}, {"call_id", call_id}}, std::move(done));
}

void TrackerClient::call_hangup(const std::string& call_id, ReplyFn done) {
  request({{"type", "call_hangup"}, {"call_id", call_id}}, std::move(done));
}

void TrackerClient::report(const std::vector<Partner>& partners, const json& stats,
                           const std::string& stream) {
  json parts = json::array();
  for (auto& p : partners) {
    if (parts.size() >= kMaxListEntries) break;  // the tracker rejects longer lists
    json e = {{"id", p.id}, {"role", p.role}};
    if (p.rx_bytes >= 0) e["rx_bytes"] = p.rx_bytes;
    parts.push_back(std::move(e));
  }
  json m = {{"type", "report"},
            {"partners", std::move(parts)},
            {"stats", stats.is_object() ? stats : json::object()}};
  if (!stream.empty()) m["stream"] = stream;
  send(m);
}

void TrackerClient::leave(ReplyFn done) {
  // The server closes the connection after leave_ok: do not reconnect.
  want_open_ = false;
  if (retry_timer_) g_source_remove(retry_timer_);
  retry_timer_ = 0;
  request({{"type", "leave"}}, std::move(done));
}

void TrackerClient::ping(ReplyFn done) { request({{"type", "ping"}}, std::move(done)); }

}  // namespace meshcast::signaling
