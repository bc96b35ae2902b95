#include "mesh/link/tls_tunnel.hpp"

#include <gio/gio.h>

#include <map>
#include <mutex>
#include <tuple>

namespace meshcast::link {

bool TlsTunnelTarget::operator<(const TlsTunnelTarget& o) const {
  return std::tie(host, port, name, ca_file) < std::tie(o.host, o.port, o.name, o.ca_file);
}

struct TlsTunnel::State {
  GMainContext* ctx = nullptr;
  TlsTunnelTarget target;
  GTlsDatabase* database = nullptr;  // the given CAs (null: the system's)
  Counters counters;
  std::string last_error;
  ~State() {
    if (database) g_object_unref(database);
  }
  void fail(const std::string& why) {
    ++counters.failures;
    last_error = why;
    g_warning("meshcast: TURN over TLS to %s:%u: %s", target.host.c_str(), target.port,
              why.c_str());
  }
};

namespace {

// GIO's asynchronous calls complete in the thread-default context of their caller: ours.
class ThreadDefault {
 public:
  explicit ThreadDefault(GMainContext* ctx) : ctx_(ctx) {
    if (ctx_) g_main_context_push_thread_default(ctx_);
  }
  ~ThreadDefault() {
    if (ctx_) g_main_context_pop_thread_default(ctx_);
  }

 private:
  GMainContext* ctx_;
};

// One accepted connection on its way to the server.
struct Leg {
  std::shared_ptr<TlsTunnel::State> state;
  GSocketConnection* local = nullptr;
  GSocketConnection* tcp = nullptr;
  GIOStream* tls = nullptr;
  ~Leg() {
    if (tls) g_object_unref(tls);
    if (tcp) g_object_unref(tcp);
    if (local) {
      g_io_stream_close(G_IO_STREAM(local), nullptr, nullptr);
      g_object_unref(local);
    }
  }
};

std::string take_message(GError* err) {
  std::string m = err ? err->message : "unknown error";
  if (err) g_error_free(err);
  return m;
}

void on_spliced(GObject*, GAsyncResult* res, gpointer data) {
  GError* err = nullptr;
  g_io_stream_splice_finish(res, &err);
  if (err) g_error_free(err);  // either side closing ends the leg: not a failure
  delete static_cast<Leg*>(data);
}

void on_handshake(GObject*, GAsyncResult* res, gpointer data) {
  auto* leg = static_cast<Leg*>(data);
  GError* err = nullptr;
  if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(leg->tls), res, &err)) {
    leg->state->fail("TLS handshake failed: " + take_message(err));
    delete leg;
    return;
  }
  ++leg->state->counters.handshakes;
  // The client's 10 s bounded connect and handshake; an established relay may stay quiet
  // for minutes between TURN refreshes and must not time out.
  g_socket_set_timeout(g_socket_connection_get_socket(leg->tcp), 0);
  ThreadDefault td(leg->state->ctx);
  // Both streams are closed when either side ends; the leg goes with them.
  g_io_stream_splice_async(
      G_IO_STREAM(leg->local), leg->tls,
      GIOStreamSpliceFlags(G_IO_STREAM_SPLICE_CLOSE_STREAM1 | G_IO_STREAM_SPLICE_CLOSE_STREAM2),
      G_PRIORITY_DEFAULT, nullptr, on_spliced, leg);
}

void on_connected(GObject* client, GAsyncResult* res, gpointer data) {
  auto* leg = static_cast<Leg*>(data);
  GError* err = nullptr;
  leg->tcp = g_socket_client_connect_finish(G_SOCKET_CLIENT(client), res, &err);
  g_object_unref(client);
  if (!leg->tcp) {
    leg->state->fail("cannot connect: " + take_message(err));
    delete leg;
    return;
  }
  const TlsTunnelTarget& t = leg->state->target;
  GSocketConnectable* identity =
      g_network_address_new(t.name.empty() ? t.host.c_str() : t.name.c_str(), t.port);
  leg->tls = g_tls_client_connection_new(G_IO_STREAM(leg->tcp), identity, &err);
  g_object_unref(identity);
  if (!leg->tls) {
    leg->state->fail("no TLS backend (glib-networking): " + take_message(err));
    delete leg;
    return;
  }
  if (leg->state->database)
    g_tls_connection_set_database(G_TLS_CONNECTION(leg->tls), leg->state->database);
  ThreadDefault td(leg->state->ctx);
  g_tls_connection_handshake_async(G_TLS_CONNECTION(leg->tls), G_PRIORITY_DEFAULT, nullptr,
                                   on_handshake, leg);
}

gboolean on_incoming(GSocketService*, GSocketConnection* conn, GObject*, gpointer data) {
  auto& state = *static_cast<std::shared_ptr<TlsTunnel::State>*>(data);
  ++state->counters.accepted;
  auto* leg = new Leg{state, G_SOCKET_CONNECTION(g_object_ref(conn))};
  GSocketClient* client = g_socket_client_new();
  g_socket_client_set_timeout(client, 10);  // connect and handshake: bounded
  GInetAddress* addr = g_inet_address_new_from_string(state->target.host.c_str());
  GSocketAddress* sa = g_inet_socket_address_new(addr, state->target.port);
  g_object_unref(addr);
  ThreadDefault td(state->ctx);
  g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(sa), nullptr, on_connected, leg);
  g_object_unref(sa);
  return TRUE;
}

}  // namespace

Expected<std::unique_ptr<TlsTunnel>, std::string> TlsTunnel::start(GMainContext* ctx,
                                                                   const TlsTunnelTarget& t) {
  GInetAddress* probe = g_inet_address_new_from_string(t.host.c_str());
  if (!probe) return unexpected("TURN over TLS: '" + t.host + "' is not a numeric address");
  g_object_unref(probe);
  if (t.port == 0) return unexpected("TURN over TLS: no port");
  auto state = std::make_shared<State>();
  state->ctx = ctx;
  state->target = t;
  if (!t.ca_file.empty()) {
    GError* err = nullptr;
    state->database = g_tls_file_database_new(t.ca_file.c_str(), &err);
    if (!state->database)
      return unexpected("TURN over TLS: cannot read CAs from " + t.ca_file + ": " +
                        take_message(err));
  }
  std::unique_ptr<TlsTunnel> tunnel(new TlsTunnel());
  tunnel->target_ = t;
  tunnel->state_ = state;
  ThreadDefault td(ctx);
  GSocketService* svc = g_socket_service_new();
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* any_port = g_inet_socket_address_new(lo, 0);
  g_object_unref(lo);
  GSocketAddress* bound = nullptr;
  GError* err = nullptr;
  const gboolean ok =
      g_socket_listener_add_address(G_SOCKET_LISTENER(svc), any_port, G_SOCKET_TYPE_STREAM,
                                    G_SOCKET_PROTOCOL_TCP, nullptr, &bound, &err);
  g_object_unref(any_port);
  if (!ok) {
    g_object_unref(svc);
    return unexpected("TURN over TLS: cannot listen on 127.0.0.1: " + take_message(err));
  }
  tunnel->port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  // The callback's copy of the state lives as long as the signal handler.
  g_signal_connect_data(
      svc, "incoming", G_CALLBACK(on_incoming), new std::shared_ptr<State>(state),
      [](gpointer p, GClosure*) { delete static_cast<std::shared_ptr<State>*>(p); },
      GConnectFlags(0));
  g_socket_service_start(svc);
  tunnel->service_ = svc;
  return tunnel;
}

TlsTunnel::~TlsTunnel() {
  if (!service_) return;
  auto* svc = static_cast<GSocketService*>(service_);
  g_socket_service_stop(svc);
  g_socket_listener_close(G_SOCKET_LISTENER(svc));
  g_object_unref(svc);  // legs in flight keep the state; they end with their streams
}

TlsTunnel::Counters TlsTunnel::counters() const { return state_->counters; }
std::string TlsTunnel::last_error() const { return state_->last_error; }

Expected<std::shared_ptr<TlsTunnel>, std::string> TlsTunnel::shared(GMainContext* ctx,
                                                                    const TlsTunnelTarget& t) {
  static std::mutex mu;
  static std::map<std::pair<GMainContext*, TlsTunnelTarget>, std::weak_ptr<TlsTunnel>> tunnels;
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = tunnels.begin(); it != tunnels.end();)  // forget the ones nobody holds
    it = it->second.expired() ? tunnels.erase(it) : std::next(it);
  auto key = std::make_pair(ctx, t);
  if (auto it = tunnels.find(key); it != tunnels.end())
    if (auto live = it->second.lock()) return live;
  auto made = start(ctx, t);
  if (!made) return unexpected(made.error());
  std::shared_ptr<TlsTunnel> tunnel(std::move(*made));
  tunnels[key] = tunnel;
  return tunnel;
}

}  // namespace meshcast::link
