// TlsTunnel on loopback: plain TCP in, TLS to a server that checks nothing of the client,
// bytes both ways; a server whose certificate is not trusted, or names another host, is
// refused and the client's connection closed. Certificates come from `openssl req`.
#include "mesh/link/tls_tunnel.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

using meshcast::link::TlsTunnel;

namespace fs = std::filesystem;

namespace {

bool spin_until(const std::function<bool()>& pred, int ms) {
  const int64_t end = g_get_monotonic_time() + int64_t(ms) * 1000;
  while (!pred() && g_get_monotonic_time() < end) g_main_context_iteration(nullptr, FALSE);
  return pred();
}

// A self-signed certificate (its own CA) naming `san`.
bool make_cert(const fs::path& dir, const std::string& stem, const std::string& san) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 1 -subj /CN=tunnel.test -addext subjectAltName=" +
      san + " -keyout " + (dir / (stem + ".key")).string() + " -out " +
      (dir / (stem + ".crt")).string() + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A TLS echo server on 127.0.0.1: each connection's bytes come back as they are.
class EchoServer {
 public:
  explicit EchoServer(GTlsCertificate* cert) : cert_(cert) {
    svc_ = g_socket_service_new();
    GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress* any = g_inet_socket_address_new(lo, 0);
    GSocketAddress* bound = nullptr;
    g_socket_listener_add_address(G_SOCKET_LISTENER(svc_), any, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, nullptr, &bound, nullptr);
    port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_object_unref(bound);
    g_object_unref(any);
    g_object_unref(lo);
    g_signal_connect(svc_, "incoming", G_CALLBACK(&EchoServer::on_incoming), this);
    g_socket_service_start(svc_);
  }
  ~EchoServer() {
    g_socket_service_stop(svc_);
    g_socket_listener_close(G_SOCKET_LISTENER(svc_));
    g_object_unref(svc_);
    for (GIOStream* s : streams_) g_object_unref(s);
  }
  uint16_t port() const { return port_; }
  int handshakes = 0;

 private:
  struct Conn {
    EchoServer* self;
    GIOStream* tls;
    char buf[4096];
  };
  static gboolean on_incoming(GSocketService*, GSocketConnection* c, GObject*, gpointer p) {
    auto* self = static_cast<EchoServer*>(p);
    GIOStream* tls = g_tls_server_connection_new(G_IO_STREAM(c), self->cert_, nullptr);
    if (!tls) return TRUE;
    self->streams_.push_back(tls);
    auto* conn = new Conn{self, tls, {}};
    g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, nullptr,
                                     &EchoServer::on_handshake, conn);
    return TRUE;
  }
  static void on_handshake(GObject*, GAsyncResult* r, gpointer p) {
    auto* conn = static_cast<Conn*>(p);
    if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(conn->tls), r, nullptr)) {
      delete conn;
      return;
    }
    ++conn->self->handshakes;
    read_more(conn);
  }
  static void read_more(Conn* conn) {
    g_input_stream_read_async(g_io_stream_get_input_stream(conn->tls), conn->buf, sizeof conn->buf,
                              G_PRIORITY_DEFAULT, nullptr, &EchoServer::on_read, conn);
  }
  static void on_read(GObject* in, GAsyncResult* r, gpointer p) {
    auto* conn = static_cast<Conn*>(p);
    const gssize n = g_input_stream_read_finish(G_INPUT_STREAM(in), r, nullptr);
    if (n <= 0) {
      delete conn;
      return;
    }
    g_output_stream_write_all(g_io_stream_get_output_stream(conn->tls), conn->buf, size_t(n),
                              nullptr, nullptr, nullptr);
    read_more(conn);
  }
  GTlsCertificate* cert_;
  GSocketService* svc_;
  uint16_t port_ = 0;
  std::vector<GIOStream*> streams_;
};

// A plain TCP client of the tunnel (non-blocking: the loop runs while it waits).
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), 0) == ssize_t(s.size());
  }
  // Reads what arrives within `ms`; closed is set once the other side closed.
  std::string receive(size_t want, int ms) {
    std::string got;
    spin_until(
        [&] {
          char b[4096];
          const ssize_t n = recv(fd_, b, sizeof b, 0);
          if (n > 0) got.append(b, size_t(n));
          if (n == 0) closed = true;
          return closed || got.size() >= want;
        },
        ms);
    return got;
  }
  bool closed = false;

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class TlsTunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meshcast_tls_tunnel_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    ASSERT_TRUE(make_cert(dir_, "server", "IP:127.0.0.1,DNS:turn.test"));
    ASSERT_TRUE(make_cert(dir_, "other", "IP:127.0.0.1"));
    GError* err = nullptr;
    cert_ = g_tls_certificate_new_from_files((dir_ / "server.crt").c_str(),
                                             (dir_ / "server.key").c_str(), &err);
    ASSERT_NE(cert_, nullptr) << (err ? err->message : "");
    server_ = std::make_unique<EchoServer>(cert_);
  }
  void TearDown() override {
    server_.reset();
    if (cert_) g_object_unref(cert_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  meshcast::link::TlsTunnelTarget target(const std::string& name, const std::string& ca) {
    return {"127.0.0.1", server_->port(), name, (dir_ / ca).string()};
  }

  fs::path dir_;
  GTlsCertificate* cert_ = nullptr;
  std::unique_ptr<EchoServer> server_;
};

}  // namespace

TEST_F(TlsTunnelTest, CarriesBytesBothWaysOverTls) {
  for (const std::string name : {"", "turn.test"}) {  // the address, or the written name
    auto t = TlsTunnel::start(nullptr, target(name, "server.crt"));
    ASSERT_TRUE(t) << t.error();
    Client c((*t)->local_port());
    ASSERT_TRUE(c.connected());
    const std::string msg(3000, 'x');
    ASSERT_TRUE(c.send(msg + "end"));
    EXPECT_EQ(c.receive(msg.size() + 3, 10000), msg + "end") << name;
    EXPECT_EQ((*t)->counters().handshakes, 1u);
    EXPECT_EQ((*t)->counters().failures, 0u) << (*t)->last_error();
  }
  EXPECT_EQ(server_->handshakes, 2);
}

TEST_F(TlsTunnelTest, AnUntrustedCertificateOrAnotherNameIsRefusedAndTheClientClosed) {
  for (auto [name, ca] :
       {std::pair<std::string, std::string>{"", "other.crt"}, {"turn.example.org", "server.crt"}}) {
    auto t = TlsTunnel::start(nullptr, target(name, ca));
    ASSERT_TRUE(t) << t.error();
    Client c((*t)->local_port());
    ASSERT_TRUE(c.connected());
    c.send("hello");
    EXPECT_EQ(c.receive(5, 10000), "") << name << " " << ca;
    EXPECT_TRUE(c.closed) << name << " " << ca;
    EXPECT_EQ((*t)->counters().handshakes, 0u);
    EXPECT_EQ((*t)->counters().failures, 1u);
    EXPECT_NE((*t)->last_error().find("TLS handshake failed"), std::string::npos)
        << (*t)->last_error();
  }
  EXPECT_EQ(server_->handshakes, 0);
}

TEST_F(TlsTunnelTest, LinksShareOneTunnelPerServerAndBadTargetsAreRefused) {
  auto a = TlsTunnel::shared(nullptr, target("", "server.crt"));
  auto b = TlsTunnel::shared(nullptr, target("", "server.crt"));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  auto other = TlsTunnel::shared(nullptr, target("turn.test", "server.crt"));
  ASSERT_TRUE(other);
  EXPECT_NE(other->get(), a->get());
  EXPECT_FALSE(TlsTunnel::start(nullptr, {"turn.example.org", 5349, "", ""}));
  EXPECT_FALSE(TlsTunnel::start(nullptr, {"127.0.0.1", 0, "", ""}));
  auto bad_ca = TlsTunnel::start(nullptr, {"127.0.0.1", 5349, "", (dir_ / "nope.pem").string()});
  ASSERT_FALSE(bad_ca);
  EXPECT_NE(bad_ca.error().find("cannot read CAs"), std::string::npos) << bad_ca.error();
}

// Connect and handshake are bounded (10 s); an established leg is not: a relay that is
// quiet between TURN refreshes keeps its connection.
TEST_F(TlsTunnelTest, AQuietConnectionOutlivesTheHandshakeBound) {
  auto t = TlsTunnel::start(nullptr, target("", "server.crt"));
  ASSERT_TRUE(t) << t.error();
  Client c((*t)->local_port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("first"));
  ASSERT_EQ(c.receive(5, 10000), "first");
  EXPECT_EQ(c.receive(1, 11000), "");  // 11 s without a byte either way
  EXPECT_FALSE(c.closed);
  ASSERT_TRUE(c.send("second"));
  EXPECT_EQ(c.receive(6, 10000), "second");
  EXPECT_EQ((*t)->counters().failures, 0u) << (*t)->last_error();
}
