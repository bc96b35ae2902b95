#include "signaling/tracker_server.hpp"

#include <libsoup/soup.h>

#include <cstdarg>
#include <cstdio>
#include <unordered_map>

#include "signaling/dashboard_page.hpp"
#include "signaling/message_validator.hpp"

namespace meshcast::signaling {

namespace {
int64_t now_ms() { return g_get_monotonic_time() / 1000; }
}  // namespace

static std::string host_port(const std::string& host, uint16_t port);

struct TrackerServer::Impl {
  struct WsConn {
    Impl* impl;
    ConnId id;
    SoupWebsocketConnection* ws;
  };

  TrackerServerOptions opt;
  TrackerCore core;
  SoupServer* server = nullptr;
  uint16_t bound_port = 0;
  bool tls = false;
  ConnId next_id = 1;
  std::unordered_map<ConnId, std::unique_ptr<WsConn>> conns;
  guint timer = 0;
  int64_t timer_at = 0;

  explicit Impl(TrackerServerOptions o) : opt(std::move(o)), core(opt.core) {}

  ~Impl() {
    if (timer) g_source_remove(timer);
    for (auto& [id, c] : conns) {
      g_signal_handlers_disconnect_by_data(c->ws, c.get());
      if (soup_websocket_connection_get_state(c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(c->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "shutdown");
      g_object_unref(c->ws);
    }
    conns.clear();
    if (server) {
      soup_server_disconnect(server);
      g_object_unref(server);
    }
  }

  void log(LogLevel level, const char* fmt, ...) G_GNUC_PRINTF(3, 4) {
    if (level > opt.log_level) return;
    static const char* kNames[] = {"error", "warn", "info", "debug"};
    std::fprintf(stderr, "tracker [%s] ", kNames[static_cast<int>(level)]);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
  }

  void flush(CoreOutput& out) {
    for (auto& [id, text] : out.send) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      if (soup_websocket_connection_get_state(it->second->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_text(it->second->ws, text.c_str());
    }
    for (ConnId id : out.close) {
      auto it = conns.find(id);
      if (it != conns.end() &&
          soup_websocket_connection_get_state(it->second->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(it->second->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
    }
    reschedule();
  }

  void reschedule() {
    auto d = core.next_deadline();
    if (!d) {
      if (timer) g_source_remove(timer);
      timer = 0;
      return;
    }
    if (timer && timer_at == *d) return;
    if (timer) g_source_remove(timer);
    timer_at = *d;
    int64_t delay = std::max<int64_t>(0, *d - now_ms());
    timer = g_timeout_add(static_cast<guint>(delay), &Impl::on_timer, this);
  }

  static gboolean on_timer(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    self->timer = 0;
    CoreOutput out;
    self->core.on_timer(now_ms(), out);
    self->flush(out);
    return G_SOURCE_REMOVE;
  }

  // ---- WebSocket ----
  static void on_ws(SoupServer*, SoupServerMessage* msg, const char*, SoupWebsocketConnection* ws,
                    gpointer data) {
    auto* self = static_cast<Impl*>(data);
    auto c = std::make_unique<WsConn>(WsConn{self, self->next_id++, ws});
    g_object_ref(ws);
    soup_websocket_connection_set_max_incoming_payload_size(ws, self->opt.max_incoming_bytes);
    g_signal_connect(ws, "message", G_CALLBACK(&Impl::on_ws_message), c.get());
    g_signal_connect(ws, "closed", G_CALLBACK(&Impl::on_ws_closed), c.get());
    g_signal_connect(ws, "error", G_CALLBACK(&Impl::on_ws_error), c.get());
    self->core.on_open(c->id, now_ms());
    if (self->opt.log_level >= LogLevel::kDebug) {
      GSocketAddress* remote = soup_server_message_get_remote_address(msg);
      gchar* s = remote ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(remote)) : nullptr;
      self->log(LogLevel::kDebug, "conn %llu open from %s", static_cast<unsigned long long>(c->id),
                s ? s : "?");
      g_free(s);
    }
    self->conns.emplace(c->id, std::move(c));
    self->reschedule();  // the hello deadline
  }

  static void on_ws_message(SoupWebsocketConnection*, gint type, GBytes* bytes, gpointer data) {
    auto* c = static_cast<WsConn*>(data);
    CoreOutput out;
    if (type == SOUP_WEBSOCKET_DATA_TEXT) {
      gsize len = 0;
      auto* p = static_cast<const char*>(g_bytes_get_data(bytes, &len));
      c->impl->core.on_text(c->id, std::string_view(p ? p : "", len), now_ms(), out);
    } else {
      c->impl->core.on_binary(c->id, now_ms(), out);
    }
    c->impl->flush(out);
  }

  static void on_ws_error(SoupWebsocketConnection*, GError* error, gpointer data) {
    auto* c = static_cast<WsConn*>(data);
    c->impl->log(LogLevel::kDebug, "conn %llu error: %s", static_cast<unsigned long long>(c->id),
                 error ? error->message : "?");
  }

  static void on_ws_closed(SoupWebsocketConnection* ws, gpointer data) {
    auto* c = static_cast<WsConn*>(data);
    Impl* self = c->impl;
    ConnId id = c->id;
    self->log(LogLevel::kDebug, "conn %llu closed (%u)", static_cast<unsigned long long>(id),
              soup_websocket_connection_get_close_code(ws));
    g_signal_handlers_disconnect_by_data(ws, c);
    CoreOutput out;
    self->core.on_close(id, now_ms(), out);
    auto it = self->conns.find(id);
    std::unique_ptr<WsConn> keep;
    if (it != self->conns.end()) {
      keep = std::move(it->second);
      self->conns.erase(it);
    }
    self->flush(out);
    g_object_unref(ws);  // the signal emission holds its own reference
  }

  // ---- HTTP ----
  static void respond(SoupServerMessage* msg, guint status, const char* type,
                      const std::string& body) {
    soup_server_message_set_status(msg, status, nullptr);
    soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
  }

  static void on_http(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query,
                      gpointer data) {
    auto* self = static_cast<Impl*>(data);
    const char* method = soup_server_message_get_method(msg);
    if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0)
      return respond(msg, 405, "text/plain", "method not allowed\n");
    const char* key_c =
        query ? static_cast<const char*>(g_hash_table_lookup(query, "key")) : nullptr;
    std::string_view key = key_c ? key_c : "";
    std::string p = path ? path : "/";
    const char* kJson = "application/json";
    if (p == "/") return respond(msg, 200, "text/html; charset=utf-8", dashboard_html());
    if (p == "/healthz") return respond(msg, 200, "text/plain", "ok\n");
    if (p == "/metrics")
      return respond(msg, 200, "text/plain; version=0.0.4", self->core.metrics_text());
    if (p == "/api/streams" || p == "/api/streams/")
      return respond(msg, 200, kJson, self->core.api_streams(key).dump());
    const std::string prefix = "/api/streams/", suffix = "/overlay";
    if (p.size() > prefix.size() + suffix.size() && p.rfind(prefix, 0) == 0 &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string name = p.substr(prefix.size(), p.size() - prefix.size() - suffix.size());
      if (is_valid_name(name)) {
        if (auto j = self->core.api_overlay(name, key))
          return respond(msg, 200, kJson,
                         j->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
      return respond(msg, 404, kJson, R"({"error":"no such stream"})");
    }
    respond(msg, 404, "text/plain", "not found\n");
  }

  bool start(std::string* error) {
    auto fail = [&](const std::string& why) {
      if (error) *error = why;
      return false;
    };
    server = soup_server_new("server-header", "meshcast-tracker", nullptr);
    if (!opt.tls_cert_file.empty() || !opt.tls_key_file.empty()) {
      if (opt.tls_cert_file.empty() || opt.tls_key_file.empty())
        return fail("TLS needs both a certificate and a key");
      GError* e = nullptr;
      GTlsCertificate* cert =
          g_tls_certificate_new_from_files(opt.tls_cert_file.c_str(), opt.tls_key_file.c_str(), &e);
      if (!cert) {
        std::string m = std::string("TLS certificate: ") + (e ? e->message : "?");
        g_clear_error(&e);
        return fail(m);
      }
      soup_server_set_tls_certificate(server, cert);
      g_object_unref(cert);
      tls = true;
    }
    soup_server_add_websocket_handler(server, "/ws", nullptr, nullptr, &Impl::on_ws, this, nullptr);
    soup_server_add_handler(server, nullptr, &Impl::on_http, this, nullptr);

    std::string host = opt.host == "localhost" ? "127.0.0.1" : opt.host;
    GInetAddress* ia = g_inet_address_new_from_string(host.c_str());
    if (!ia) return fail("not an IP address: " + opt.host);
    GSocketAddress* sa = g_inet_socket_address_new(ia, opt.port);
    GError* e = nullptr;
    GSocket* sock = g_socket_new(g_inet_address_get_family(ia), G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, &e);
    g_object_unref(ia);
    bool ok = sock != nullptr;
    // A deep accept backlog: thousands of clients connecting at once must not see SYN drops.
    if (ok) g_socket_set_listen_backlog(sock, 4096);
    ok = ok && g_socket_bind(sock, sa, TRUE, &e) && g_socket_listen(sock, &e) &&
         soup_server_listen_socket(server, sock,
                                   tls ? SOUP_SERVER_LISTEN_HTTPS : SoupServerListenOptions(0), &e);
    g_object_unref(sa);
    if (!ok) {
      std::string m = std::string("listen on ") + opt.host + ":" + std::to_string(opt.port) + ": " +
                      (e ? e->message : "?");
      g_clear_error(&e);
      if (sock) g_object_unref(sock);
      return fail(m);
    }
    GSocketAddress* local = g_socket_get_local_address(sock, nullptr);
    if (local) {
      bound_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
      g_object_unref(local);
    }
    g_object_unref(sock);  // the server keeps its own reference
    log(LogLevel::kInfo, "listening on %s",
        (std::string(tls ? "wss://" : "ws://") + host_port(opt.host, bound_port) + "/ws").c_str());
    return true;
  }
};

TrackerServer::TrackerServer(TrackerServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
TrackerServer::~TrackerServer() = default;
bool TrackerServer::start(std::string* error) { return impl_->start(error); }
uint16_t TrackerServer::port() const { return impl_->bound_port; }
static std::string host_port(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;  // IPv6 literals need brackets in URLs
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}
std::string TrackerServer::ws_url() const {
  return std::string(impl_->tls ? "wss://" : "ws://") +
         host_port(impl_->opt.host, impl_->bound_port) + "/ws";
}
std::string TrackerServer::http_url() const {
  return std::string(impl_->tls ? "https://" : "http://") +
         host_port(impl_->opt.host, impl_->bound_port);
}
const TrackerCore& TrackerServer::core() const { return impl_->core; }

}  // namespace meshcast::signaling
