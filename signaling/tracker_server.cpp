#include "signaling/tracker_server.hpp"

#include <libsoup/soup.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "mesh/base/time.hpp"
#include "signaling/dashboard_page.hpp"
#include "signaling/message_validator.hpp"
#include "signaling/protocol_limits.hpp"
#include "signaling/redis_cluster_link.hpp"
#include "signaling/silence_watch.hpp"
#include "signaling/socket_options.hpp"
#include "signaling/ws_hub.hpp"

namespace meshcast::signaling {

namespace {
// A close handshake the peer does not finish is ended with a reset after this long.
constexpr int64_t kCloseTimeoutMs = 5000;
}  // namespace

static std::string host_port(const std::string& host, uint16_t port);

struct TrackerServer::Impl {
  struct WsConn {
    Impl* impl;
    ConnId id;
    SoupWebsocketConnection* ws;    // TLS connections stay with libsoup; null on the hub
    GSocket* sock = nullptr;        // the TCP socket under it (for the unsent-bytes bound)
    int64_t last_rx_ms = 0;         // last frame or pong from the peer
    uint64_t written = 0;           // frame bytes handed to libsoup or the hub
    uint64_t acked_at_open = 0;     // tcpi_bytes_acked when the WebSocket opened
    uint64_t acked = 0;             // acknowledged since then (refreshed when needed)
    uint64_t held_at_check = 0;     // hub: unsent bytes at the last exact count
    uint64_t written_at_check = 0;  // hub: `written` at that count
    bool closing = false;           // closed by a bound: send nothing more
  };
  // One accepted TCP connection, from the first request-started to the socket's end.
  struct Sock {
    std::string address;      // remote IP
    bool counted = false;     // within the caps (refused sockets are not)
    bool ws = false;          // upgraded: the WebSocket bounds apply from now on
    bool dead = false;        // refused or timed out: shut down, waiting for libsoup to let go
    bool responding = false;  // a response is being written: the deadline is for it
    int64_t shut_ms = 0;      // when the server shut it down (dead sockets)
    int64_t header_deadline = 0;
  };

  TrackerServerOptions opt;
  std::string store_error;  // the identity database could not be opened: start() fails
  TrackerCore core;
  SoupServer* server = nullptr;
  uint16_t bound_port = 0;
  bool tls = false;
  ConnId next_id = 1;
  std::unordered_map<ConnId, std::unique_ptr<WsConn>> conns;
  guint timer = 0;
  TimeUs timer_at = 0;
  // Connection bounds.
  std::unordered_map<GSocket*, Sock> socks;
  // The sockets libsoup still owns, which the sweep must look at; the hub's report their end.
  std::unordered_set<GSocket*> on_libsoup;
  std::unordered_map<std::string, std::size_t> per_address;
  std::size_t open_sockets = 0;
  std::set<std::pair<int64_t, GSocket*>> header_deadlines;
  guint sweep = 0;
  // Hub connections are pinged after silence; every connection is closed after more of it.
  SilenceWatch silence;
  int64_t last_refusal_log_ms = -1'000'000;
  // Plain (non-TLS) WebSockets after the upgrade.
  std::unique_ptr<WsHub> hub;
  // Cluster mode.
  std::unique_ptr<RedisClusterLink> link;
  guint cluster_timer = 0;

  explicit Impl(TrackerServerOptions o)
      : opt(std::move(o)),
        core(opt.core, open_store()),
        silence(int64_t(opt.ws_ping_interval_s) * 1000, opt.ws_idle_timeout_ms) {}

  ~Impl() {
    if (timer) g_source_remove(timer);
    if (sweep) g_source_remove(sweep);
    if (cluster_timer) g_source_remove(cluster_timer);
    link.reset();
    if (server) g_signal_handlers_disconnect_by_data(server, this);
    for (auto& [s, info] : socks) g_object_weak_unref(G_OBJECT(s), &Impl::on_socket_gone, this);
    socks.clear();
    on_libsoup.clear();
    hub.reset();  // closes its connections without calling back
    for (auto& [id, c] : conns) {
      if (!c->ws) continue;
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
      if (it == conns.end() || it->second->closing) continue;
      if (send_text(*it->second, text)) account_output(*it->second, text.size());
    }
    for (ConnId id : out.close) {
      auto it = conns.find(id);
      if (it == conns.end() || it->second->closing) continue;
      // A close handshake: libsoup drops the connection itself if the peer does not answer.
      it->second->closing = true;
      if (!it->second->ws)
        hub->close(id, ws::kCloseNormal, "bye");
      else if (soup_websocket_connection_get_state(it->second->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(it->second->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
    }
    if (link)
      for (auto& e : out.cluster) link->send(e);
    reschedule();
  }

  bool send_text(WsConn& c, const std::string& text) {
    if (!c.ws) return hub->send_text(c.id, text);
    if (soup_websocket_connection_get_state(c.ws) != SOUP_WEBSOCKET_STATE_OPEN) return false;
    soup_websocket_connection_send_text(c.ws, text.c_str());
    return true;
  }

  // ---- cluster ----
  void start_cluster() {
    RedisClusterLink::Callbacks cb;
    cb.on_event = [this](const ClusterEvent& e) {
      CoreOutput out;
      core.on_cluster(e, monotonic_us(), out);
      flush(out);
    };
    cb.on_connected = [this] {
      for (auto& e : core.cluster_share()) link->send(e);
    };
    cb.log = [this](const std::string& s) { log(LogLevel::kInfo, "%s", s.c_str()); };
    link = std::make_unique<RedisClusterLink>(*opt.cluster, opt.core.instance_id,
                                              opt.core.instance_timeout_ms, std::move(cb));
    link->start();
    cluster_timer = g_timeout_add(1000, &Impl::on_cluster_tick, this);
  }

  static gboolean on_cluster_tick(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    CoreOutput out;
    self->core.cluster_tick(monotonic_us(), self->link->up(), out);
    self->flush(out);
    return G_SOURCE_CONTINUE;
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
    timer = g_timeout_add(static_cast<guint>(ms_until(*d, monotonic_us())), &Impl::on_timer, this);
  }

  static gboolean on_timer(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    self->timer = 0;
    CoreOutput out;
    self->core.on_timer(monotonic_us(), out);
    self->flush(out);
    return G_SOURCE_REMOVE;
  }

  // ---- bounds --------------------------------------------------------------------------

  // Whatever the peer has not acknowledged is held by us (libsoup's queue or our kernel's
  // send buffer). tcpi_bytes_acked is only read when the cheap upper bound is over the cap.
  void account_output(WsConn& c, std::size_t text_bytes) {
    c.written += ws::frame_size(text_bytes);
    if (opt.max_unsent_bytes == 0) return;
    const uint64_t held = unread_output(c, opt.max_unsent_bytes);
    if (held <= opt.max_unsent_bytes) return;
    log(LogLevel::kInfo, "conn %llu: %llu bytes unread by the peer (cap %zu): closing",
        static_cast<unsigned long long>(c.id), static_cast<unsigned long long>(held),
        opt.max_unsent_bytes);
    close_ws(c, "unsent_cap", ws::kClosePolicyViolation, "too much unread output");
  }

  // Output the peer has not taken yet, counted exactly (a system call) only when a cheap
  // upper bound is over `cap`; otherwise that bound.
  uint64_t unread_output(WsConn& c, uint64_t cap) {
    if (!c.ws) {  // the hub: its own queue plus the kernel's
      const uint64_t bound = c.held_at_check + (c.written - c.written_at_check);
      if (bound <= cap) return bound;
      c.held_at_check = hub->unsent(c.id);
      c.written_at_check = c.written;
      return c.held_at_check;
    }
    if (!c.sock) return 0;
    auto unsent = [&] { return c.written > c.acked ? c.written - c.acked : 0; };
    if (unsent() <= cap) return unsent();
    if (auto a = tcp_bytes_acked(g_socket_get_fd(c.sock)))
      c.acked = *a > c.acked_at_open ? *a - c.acked_at_open : 0;
    return unsent();
  }

  // Closes at once: a close handshake would wait behind the very data the peer is not
  // reading (or for a peer that is gone). libsoup sees the shutdown and emits "closed".
  void close_ws(WsConn& c, const char* reason, gushort code, const char* text) {
    if (c.closing) return;
    c.closing = true;
    core.metrics().count_close(reason);
    if (!c.ws) return hub->abort(c.id);  // "closed" follows from the loop
    // `c` may be gone once libsoup runs its close: touch only copies after this point.
    GSocket* sock = c.sock;
    SoupWebsocketConnection* ws = c.ws;
    if (sock) {
      // The peer is not reading (or gone): what is queued for it is dropped with a reset,
      // not kept in our kernel until it reads.
      set_abortive_close(g_socket_get_fd(sock));
      g_socket_shutdown(sock, TRUE, TRUE, nullptr);
    }
    if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws, code, text);
  }

  // Plain-text HTTP status line on a socket libsoup is not writing to, then shutdown.
  void refuse_socket(GSocket* sock, const char* status_line) {
    if (!tls) {
      std::string r = std::string("HTTP/1.1 ") + status_line +
                      "\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: " +
                      std::to_string(std::string(status_line).size() + 1) + "\r\n\r\n" +
                      status_line + "\n";
      g_socket_send(sock, r.data(), r.size(), nullptr, nullptr);
    }
    g_socket_shutdown(sock, TRUE, TRUE, nullptr);
  }

  void clear_header_deadline(Sock& s, GSocket* sock) {
    if (s.header_deadline) header_deadlines.erase({s.header_deadline, sock});
    s.header_deadline = 0;
  }

  // The next thing the client owes (a request head, or taking a response) is due within the
  // header timeout from now.
  void arm_header_deadline(Sock& s, GSocket* sock) {
    clear_header_deadline(s, sock);
    s.header_deadline = monotonic_ms() + opt.header_timeout_ms;
    header_deadlines.insert({s.header_deadline, sock});
  }

  // Every new TCP connection starts a request at once (before a byte is read), and every
  // further request on a keep-alive connection starts another: the place for the caps and
  // the header timeout.
  static void on_request_started(SoupServer*, SoupServerMessage* msg, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    GSocket* sock = soup_server_message_get_socket(msg);
    if (!sock) return;
    const int64_t now = monotonic_ms();
    auto it = self->socks.find(sock);
    if (it == self->socks.end()) {
      Sock s;
      bool loopback = false;
      GSocketAddress* ra = soup_server_message_get_remote_address(msg);
      if (ra && G_IS_INET_SOCKET_ADDRESS(ra)) {
        GInetAddress* ia = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(ra));
        gchar* str = g_inet_address_to_string(ia);
        s.address = str ? str : "";
        g_free(str);
        loopback = g_inet_address_get_is_loopback(ia);
      }
      g_object_weak_ref(G_OBJECT(sock), &Impl::on_socket_gone, self);
      // libsoup before 3.4 keeps one reference to every accepted socket for ever (fixed
      // upstream in 3.4.0, "soup-listener: Plug a leak"): each connection an attacker opens
      // would leave its GSocket behind. The connection holds its own reference now (2 in
      // all), so the leaked one is dropped; the socket then ends with its connection.
      if (!soup_check_version(3, 4, 0) && g_atomic_int_get(&G_OBJECT(sock)->ref_count) == 2)
        g_object_unref(sock);
      const auto& o = self->opt;
      const char* refused = nullptr;
      auto pa = self->per_address.find(s.address);
      const std::size_t from_here = pa == self->per_address.end() ? 0 : pa->second;
      if (o.max_connections && self->open_sockets >= o.max_connections)
        refused = "total_cap";
      else if (o.max_connections_per_address && (!loopback || o.cap_loopback) &&
               from_here >= o.max_connections_per_address)
        refused = "per_address_cap";
      if (refused) {
        self->core.metrics().count_close(refused);
        if (now - self->last_refusal_log_ms >= 1000) {  // at most one line a second
          self->last_refusal_log_ms = now;
          self->log(LogLevel::kWarn, "refusing a connection from %s: %s (%zu open in total)",
                    s.address.c_str(),
                    refused[0] == 't' ? "too many connections in total"
                                      : "too many connections from this address",
                    self->open_sockets);
        }
        s.dead = true;
        s.shut_ms = now;
        self->socks.emplace(sock, std::move(s));
        self->on_libsoup.insert(sock);
        self->refuse_socket(sock, refused[0] == 't'
                                      ? "503 Service Unavailable: too many connections"
                                      : "503 Service Unavailable: too many connections from "
                                        "your address");
        return;
      }
      s.counted = true;
      ++self->open_sockets;
      ++self->per_address[s.address];
      if (o.tcp_keepalive_s > 0)
        set_tcp_keepalive(g_socket_get_fd(sock), static_cast<int>(o.tcp_keepalive_s), 10, 3);
      it = self->socks.emplace(sock, std::move(s)).first;
      self->on_libsoup.insert(sock);
    }
    Sock& s = it->second;
    if (!s.counted || s.ws || s.dead || self->opt.header_timeout_ms <= 0) return;
    self->arm_header_deadline(s, sock);
  }

  // A response is out and the connection stays open (HTTP keep-alive): the next request head
  // must start within the header timeout too, or the idle connection is closed.
  static void on_request_done(SoupServer*, SoupServerMessage* msg, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    GSocket* sock = soup_server_message_get_socket(msg);
    auto it = sock ? self->socks.find(sock) : self->socks.end();
    if (it != self->socks.end()) it->second.responding = false;
    if (it == self->socks.end() || !it->second.counted || it->second.ws || it->second.dead ||
        self->opt.header_timeout_ms <= 0)
      return;
    self->arm_header_deadline(it->second, sock);
  }

  // The request is in; its response must be taken by the client within the same timeout
  // (a client that never reads would otherwise hold the response in our memory).
  static void on_request_read(SoupServer*, SoupServerMessage* msg, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    GSocket* sock = soup_server_message_get_socket(msg);
    auto it = sock ? self->socks.find(sock) : self->socks.end();
    if (it == self->socks.end()) return;
    Sock& s = it->second;
    self->clear_header_deadline(s, sock);
    if (!s.counted || s.dead || self->opt.header_timeout_ms <= 0) return;
    s.responding = true;
    self->arm_header_deadline(s, sock);
  }

  // The socket is being finalised: the connection is over, whoever closed it.
  static void on_socket_gone(gpointer data, GObject* where) {
    auto* self = static_cast<Impl*>(data);
    self->forget(reinterpret_cast<GSocket*>(where));
  }

  // The connection is over: its slot in the caps is free again.
  void forget(GSocket* sock) {
    auto it = socks.find(sock);
    if (it == socks.end()) return;
    Sock& s = it->second;
    auto* self = this;
    self->clear_header_deadline(s, sock);
    if (s.counted) {
      --self->open_sockets;
      auto pa = self->per_address.find(s.address);
      if (pa != self->per_address.end() && --pa->second == 0) self->per_address.erase(pa);
    }
    self->socks.erase(it);
    self->on_libsoup.erase(sock);
  }

  static gboolean on_sweep(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    const int64_t now = monotonic_ms();
    // libsoup closes a finished connection's socket but may keep the GSocket object alive a
    // while longer: a closed socket no longer counts, whether or not it has been finalised.
    std::vector<GSocket*> closed;
    for (GSocket* sock : self->on_libsoup) {
      const Sock& s = self->socks.at(sock);
      if (g_socket_is_closed(sock)) {
        closed.push_back(sock);
      } else if (s.dead && !s.ws && s.shut_ms && now - s.shut_ms > 2000) {
        // libsoup 3.2 reads the EOF of a shut-down keep-alive connection (waiting for its
        // next request) but never closes the socket: the descriptor would stay for ever.
        g_socket_close(sock, nullptr);
        closed.push_back(sock);
      }
    }
    for (GSocket* sock : closed) {
      g_object_weak_unref(G_OBJECT(sock), &Impl::on_socket_gone, self);
      self->forget(sock);
    }
    while (!self->header_deadlines.empty() && self->header_deadlines.begin()->first <= now) {
      GSocket* sock = self->header_deadlines.begin()->second;
      self->header_deadlines.erase(self->header_deadlines.begin());
      auto it = self->socks.find(sock);
      if (it == self->socks.end() || it->second.dead) continue;
      it->second.header_deadline = 0;
      it->second.dead = true;
      it->second.shut_ms = now;
      if (it->second.responding) {
        // The client does not take its response: drop it (and what the kernel queued).
        self->core.metrics().count_close("response_timeout");
        self->log(LogLevel::kDebug, "closing a connection from %s: response not read in %lld ms",
                  it->second.address.c_str(), static_cast<long long>(self->opt.header_timeout_ms));
        set_abortive_close(g_socket_get_fd(sock));
        g_socket_shutdown(sock, TRUE, TRUE, nullptr);
        continue;
      }
      self->core.metrics().count_close("header_timeout");
      self->log(LogLevel::kDebug,
                "closing a connection from %s: no complete request head in %lld ms",
                it->second.address.c_str(), static_cast<long long>(self->opt.header_timeout_ms));
      // An earlier response still unread in our kernel: the client is not reading, so the
      // connection is reset and that output freed rather than kept until it reads.
      if (unsent_in_kernel(g_socket_get_fd(sock)) > 0) {
        set_abortive_close(g_socket_get_fd(sock));
        g_socket_shutdown(sock, TRUE, TRUE, nullptr);
        continue;
      }
      self->refuse_socket(sock, "408 Request Timeout");
    }
    if (self->hub) self->hub->tick(now);
    SilenceWatch::Due due;
    self->silence.collect(now, due);
    // libsoup pings its own connections (keepalive); the hub's are pinged from here.
    for (ConnId id : due.ping)
      if (auto it = self->conns.find(id); it != self->conns.end() && !it->second->ws)
        self->hub->ping(id);
    for (ConnId id : due.close) {
      auto it = self->conns.find(id);
      if (it == self->conns.end() || it->second->closing) continue;
      self->log(LogLevel::kDebug, "conn %llu: nothing received for %lld ms: closing",
                static_cast<unsigned long long>(id),
                static_cast<long long>(now - it->second->last_rx_ms));
      self->close_ws(*it->second, "idle", SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "idle");
    }
    return G_SOURCE_CONTINUE;
  }

  std::size_t from_address(const std::string& a) const {
    auto it = per_address.find(a);
    return it == per_address.end() ? 0 : it->second;
  }

  // ---- WebSocket ----
  // A WebSocket is open (on libsoup's connection or on the hub): the bounds and the core
  // take it from here.
  void open_conn(std::unique_ptr<WsConn> c, SoupServerMessage* msg) {
    c->last_rx_ms = monotonic_ms();
    silence.add(c->id, c->last_rx_ms);
    std::string remote_ip;
    if (c->sock) {
      if (auto s = socks.find(c->sock); s != socks.end()) {
        s->second.ws = true;
        clear_header_deadline(s->second, c->sock);
        remote_ip = s->second.address;
      }
      c->acked_at_open = tcp_bytes_acked(g_socket_get_fd(c->sock)).value_or(0);
    }
    CoreOutput welcome;
    core.on_open(c->id, monotonic_us(), welcome, remote_ip);
    if (opt.log_level >= LogLevel::kDebug) {
      GSocketAddress* remote = soup_server_message_get_remote_address(msg);
      gchar* s = remote ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(remote)) : nullptr;
      log(LogLevel::kDebug, "conn %llu open from %s", static_cast<unsigned long long>(c->id),
          s ? s : "?");
      g_free(s);
    }
    conns.emplace(c->id, std::move(c));
    flush(welcome);  // also schedules the hello deadline
  }

  static void on_ws(SoupServer*, SoupServerMessage* msg, const char*, SoupWebsocketConnection* ws,
                    gpointer data) {
    auto* self = static_cast<Impl*>(data);
    auto c = std::make_unique<WsConn>(WsConn{self, self->next_id++, ws});
    g_object_ref(ws);
    c->sock = soup_server_message_get_socket(msg);
    soup_websocket_connection_set_max_incoming_payload_size(ws, self->opt.max_incoming_bytes);
    if (self->opt.ws_ping_interval_s > 0)
      soup_websocket_connection_set_keepalive_interval(ws, self->opt.ws_ping_interval_s);
    g_signal_connect(ws, "pong", G_CALLBACK(&Impl::on_ws_pong), c.get());
    g_signal_connect(ws, "message", G_CALLBACK(&Impl::on_ws_message), c.get());
    g_signal_connect(ws, "closed", G_CALLBACK(&Impl::on_ws_closed), c.get());
    g_signal_connect(ws, "error", G_CALLBACK(&Impl::on_ws_error), c.get());
    self->open_conn(std::move(c), msg);
  }

  // Plain connections: libsoup reads the upgrade request and writes the 101 (as its own
  // WebSocket handler does), then the connection moves to the hub.
  static void on_ws_request(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                            gpointer data) {
    // No extensions offered: frames stay plain (permessage-deflate costs CPU per message).
    if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr))
      return;  // libsoup has set the error status and body
    g_signal_connect(msg, "wrote-informational", G_CALLBACK(&Impl::on_upgraded), data);
  }

  static void on_upgraded(SoupServerMessage* msg, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    g_signal_handlers_disconnect_by_func(msg, reinterpret_cast<gpointer>(&Impl::on_upgraded), data);
    GSocket* sock = soup_server_message_get_socket(msg);
    if (!sock) return;
    auto c = std::make_unique<WsConn>(WsConn{self, self->next_id++, nullptr});
    c->sock = sock;
    // Marked as a WebSocket before the steal: libsoup reports the request as finished then.
    if (auto s = self->socks.find(sock); s != self->socks.end()) s->second.ws = true;
    self->on_libsoup.erase(sock);  // the hub reports its end; forget() still runs then
    g_object_ref(msg);
    GIOStream* stream = soup_server_message_steal_connection(msg);
    if (!stream) {
      g_object_unref(msg);
      return;
    }
    // A client may send its first frames right behind the request: libsoup has read them.
    std::string early;
    GInputStream* in = g_io_stream_get_input_stream(stream);
    if (G_IS_POLLABLE_INPUT_STREAM(in)) {
      char buf[4096];
      for (int i = 0; i < 64; ++i) {
        gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buf,
                                                            sizeof buf, nullptr, nullptr);
        if (n <= 0) break;
        early.append(buf, static_cast<std::size_t>(n));
      }
    }
    const ConnId id = c->id;
    if (!self->hub->adopt(id, sock, stream, std::move(early))) {
      if (self->socks.count(sock)) self->on_libsoup.insert(sock);  // closed: the sweep frees it
      self->log(LogLevel::kWarn, "conn %llu: could not watch the socket",
                static_cast<unsigned long long>(id));
      g_object_unref(msg);
      return;
    }
    self->open_conn(std::move(c), msg);
    self->hub->process_buffered(id);
    g_object_unref(msg);
  }

  void heard(WsConn& c) {
    c.last_rx_ms = monotonic_ms();
    silence.heard(c.id, c.last_rx_ms);
  }

  static void on_hub_message(Impl* self, ConnId id, ws::Message&& m) {
    auto it = self->conns.find(id);
    if (it == self->conns.end()) return;
    WsConn& c = *it->second;
    self->heard(c);
    if (m.opcode == ws::Opcode::kPong || c.closing) return;
    CoreOutput out;
    if (m.opcode == ws::Opcode::kText)
      self->core.on_text(id, m.payload, monotonic_us(), out);
    else
      self->core.on_binary(id, monotonic_us(), out);
    self->flush(out);
  }

  static void on_hub_closed(Impl* self, ConnId id) {
    self->log(LogLevel::kDebug, "conn %llu closed", static_cast<unsigned long long>(id));
    CoreOutput out;
    self->core.on_close(id, monotonic_us(), out);
    // The hub closes the socket right after this call: its slot in the caps is free now
    // (the sweep does not look at hub sockets, and a late finalisation must not be awaited).
    if (auto it = self->conns.find(id);
        it != self->conns.end() && it->second->sock && self->socks.count(it->second->sock)) {
      g_object_weak_unref(G_OBJECT(it->second->sock), &Impl::on_socket_gone, self);
      self->forget(it->second->sock);
    }
    self->conns.erase(id);
    self->silence.remove(id);
    self->flush(out);
  }

  static void on_ws_pong(SoupWebsocketConnection*, GBytes*, gpointer data) {
    auto* c = static_cast<WsConn*>(data);
    c->impl->heard(*c);
  }

  static void on_ws_message(SoupWebsocketConnection*, gint type, GBytes* bytes, gpointer data) {
    auto* c = static_cast<WsConn*>(data);
    c->impl->heard(*c);
    if (c->closing) return;  // closed by a bound: whatever is still in flight is ignored
    CoreOutput out;
    if (type == SOUP_WEBSOCKET_DATA_TEXT) {
      gsize len = 0;
      auto* p = static_cast<const char*>(g_bytes_get_data(bytes, &len));
      c->impl->core.on_text(c->id, std::string_view(p ? p : "", len), monotonic_us(), out);
    } else {
      c->impl->core.on_binary(c->id, monotonic_us(), out);
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
    self->core.on_close(id, monotonic_us(), out);
    auto it = self->conns.find(id);
    std::unique_ptr<WsConn> keep;
    if (it != self->conns.end()) {
      keep = std::move(it->second);
      self->conns.erase(it);
    }
    self->silence.remove(id);
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
      return respond(msg, 200, "text/plain; version=0.0.4",
                     self->core.metrics_text() +
                         "# HELP meshcast_tcp_connections Open TCP connections (HTTP and "
                         "WebSocket).\n# TYPE meshcast_tcp_connections gauge\n"
                         "meshcast_tcp_connections " +
                         std::to_string(self->open_sockets) + "\n" +
                         (self->link ? "# HELP meshcast_cluster_rejected_events_total Events "
                                       "read from Redis that failed validation.\n# TYPE "
                                       "meshcast_cluster_rejected_events_total counter\n"
                                       "meshcast_cluster_rejected_events_total " +
                                           std::to_string(self->link->rejected()) + "\n"
                                     : std::string()));
    // Pages: ?after=NAME (the "next" of the previous page) and ?limit=N.
    auto param = [&](const char* name) -> std::string {
      const char* v = query ? static_cast<const char*>(g_hash_table_lookup(query, name)) : nullptr;
      return v ? v : "";
    };
    const std::string after = param("after");
    if (!after.empty() && !is_valid_name(after))
      return respond(msg, 400, kJson, R"({"error":"'after' must be a stream name or peer id"})");
    auto limit_of = [&](long long def, long long max) -> long long {
      std::string v = param("limit");
      if (v.empty()) return def;
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      return (end && *end == '\0' && n >= 1 && n <= max) ? n : -1;
    };
    if (p == "/api/streams" || p == "/api/streams/") {
      long long limit = limit_of(limits::kDefaultListPage, limits::kMaxListPage);
      if (limit < 0)
        return respond(
            msg, 400, kJson,
            R"({"error":"'limit' must be 1-)" + std::to_string(limits::kMaxListPage) + "\"}");
      return respond(msg, 200, kJson,
                     self->core.api_streams(key, after, static_cast<std::size_t>(limit)).dump());
    }
    const std::string prefix = "/api/streams/", suffix = "/overlay";
    if (p.size() > prefix.size() + suffix.size() && p.rfind(prefix, 0) == 0 &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string name = p.substr(prefix.size(), p.size() - prefix.size() - suffix.size());
      long long limit = limit_of(limits::kDefaultOverlayPage, limits::kMaxOverlayPage);
      if (limit < 0)
        return respond(
            msg, 400, kJson,
            R"({"error":"'limit' must be 1-)" + std::to_string(limits::kMaxOverlayPage) + "\"}");
      if (is_valid_name(name)) {
        if (auto j = self->core.api_overlay(name, key, after, static_cast<std::size_t>(limit)))
          return respond(msg, 200, kJson,
                         j->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
      // The same answer for a private stream without its key: existence is not disclosed.
      return respond(msg, 404, kJson, R"({"error":"no such stream"})");
    }
    respond(msg, 404, "text/plain", "not found\n");
  }

  // The identity database, or none (the core then makes one in memory) and start() fails.
  std::unique_ptr<IdentityStore> open_store() {
    auto store = IdentityStore::open(opt.identity_db, opt.core.max_identities);
    if (store) return *std::move(store);
    store_error = std::move(store).error();
    return nullptr;
  }

  Expected<void, std::string> start() {
    auto fail = [](std::string why) { return unexpected(std::move(why)); };
    if (!store_error.empty()) return fail(store_error);
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
    if (tls) {
      soup_server_add_websocket_handler(server, "/ws", nullptr, nullptr, &Impl::on_ws, this,
                                        nullptr);
    } else {
      WsHub::Callbacks hc;
      hc.on_message = [this](WsHub::Id id, ws::Message&& m) {
        on_hub_message(this, id, std::move(m));
      };
      hc.on_closed = [this](WsHub::Id id) { on_hub_closed(this, id); };
      hub = std::make_unique<WsHub>(opt.max_incoming_bytes, kCloseTimeoutMs, std::move(hc));
      if (auto started = hub->start(); !started) return started;
      soup_server_add_handler(server, "/ws", &Impl::on_ws_request, this, nullptr);
    }
    g_signal_connect(server, "request-started", G_CALLBACK(&Impl::on_request_started), this);
    g_signal_connect(server, "request-read", G_CALLBACK(&Impl::on_request_read), this);
    g_signal_connect(server, "request-finished", G_CALLBACK(&Impl::on_request_done), this);
    g_signal_connect(server, "request-aborted", G_CALLBACK(&Impl::on_request_done), this);
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
    // Running out of descriptors is worse than refusing: libsoup's listener stops accepting
    // for good when accept() fails. Keep the total cap below the fd limit, with room for
    // the process's other descriptors.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      const auto lim = static_cast<std::size_t>(rl.rlim_cur);
      const std::size_t room = lim > 256 ? lim - 64 : lim / 2;
      if (opt.max_connections == 0 || opt.max_connections > room) {
        log(LogLevel::kInfo, "connection cap %zu lowered to %zu: the fd limit is %zu",
            opt.max_connections, room, lim);
        opt.max_connections = room;
      }
    }
    int64_t tick = 1000;
    for (int64_t t : {opt.header_timeout_ms, opt.ws_idle_timeout_ms})
      if (t > 0) tick = std::min(tick, std::max<int64_t>(50, t / 8));
    sweep = g_timeout_add(static_cast<guint>(tick), &Impl::on_sweep, this);
    if (opt.cluster) {
      if (opt.core.instance_id.empty()) return fail("a cluster instance needs an id");
      start_cluster();
      log(LogLevel::kInfo, "cluster instance %s via redis://%s:%u/%d", opt.core.instance_id.c_str(),
          opt.cluster->host.c_str(), opt.cluster->port, opt.cluster->db);
    }
    log(LogLevel::kInfo, "listening on %s",
        (std::string(tls ? "wss://" : "ws://") + host_port(opt.host, bound_port) + "/ws").c_str());
    return {};
  }
};

TrackerServer::TrackerServer(TrackerServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
TrackerServer::~TrackerServer() = default;
Expected<void, std::string> TrackerServer::start() { return impl_->start(); }
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
std::size_t TrackerServer::tcp_connections() const { return impl_->open_sockets; }
std::size_t TrackerServer::tcp_connections_from(const std::string& address) const {
  return impl_->from_address(address);
}

}  // namespace meshcast::signaling
