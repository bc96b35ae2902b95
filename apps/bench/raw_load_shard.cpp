#include "apps/bench/raw_load_shard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "mesh/base/time.hpp"
#include "signaling/ws_frame.hpp"

namespace meshcast::app {

namespace ws = signaling::ws;
using nlohmann::json;

namespace {
constexpr uint64_t kControl = ~uint64_t{0};  // epoll tag of the command descriptor
constexpr std::size_t kMaxErrors = 5;
// Loopback source addresses: each has its own ~28,000 ephemeral ports towards the tracker;
// a quarter of them per address leaves room for earlier runs' ports still in TIME_WAIT.
constexpr int kClientsPerSource = 4'000;

}  // namespace

struct RawLoadShard::Client {
  enum class Stage { kIdle, kConnecting, kUpgrading, kWelcome, kHello, kJoining, kReady, kFailed };
  int index = 0;  // global
  int fd = -1;
  Stage stage = Stage::kIdle;
  std::string head;  // the HTTP response until its blank line
  ws::FrameDecoder in{1 << 20, ws::Sender::kServer};
  std::string out;
  std::size_t out_pos = 0;
  bool out_watched = false;
  int64_t deadline_ms = 0;
  // Relay phase, as the pinging side.
  std::string partner;
  int rounds_left = 0;
};

RawLoadShard::RawLoadShard(RawLoadConfig cfg) : cfg_(std::move(cfg)) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  clients_.resize(static_cast<std::size_t>(std::max(0, cfg_.count)));
  for (int i = 0; i < cfg_.count; ++i) clients_[std::size_t(i)].index = cfg_.first + i;
}

RawLoadShard::~RawLoadShard() {
  for (auto& c : clients_)
    if (c.fd >= 0) ::close(c.fd);
  if (ep_ >= 0) ::close(ep_);
}

int64_t RawLoadShard::now_ms() const { return monotonic_us() / 1000; }

bool RawLoadShard::holds(int i) const { return i >= cfg_.first && i < cfg_.first + cfg_.count; }

RawLoadShard::Client* RawLoadShard::local(int i) {
  return holds(i) ? &clients_[std::size_t(i - cfg_.first)] : nullptr;
}

void RawLoadShard::fail(Client& c, const std::string& why) {
  const bool in_handshake = c.stage != Client::Stage::kReady;
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  c.stage = Client::Stage::kFailed;
  if (c.rounds_left > 0) {
    c.rounds_left = 0;
    --pongs_wanted_;
  }
  if (in_handshake && in_flight_ > 0) --in_flight_;
  if (!phase_) return;
  ++phase_->failed;
  if (phase_->errors.size() < kMaxErrors)
    phase_->errors.push_back(RawLoadShard::id_of(c.index) + ": " + why);
}

void RawLoadShard::start_connect(Client& c) {
  ++in_flight_;
  c.deadline_ms = now_ms() + cfg_.step_timeout_ms;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(c, std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr =
      htonl((127u << 24) | (1u << 16) | uint32_t(1 + c.index / kClientsPerSource));
  // The port is picked at connect() for the whole 4-tuple, not at bind() for the address.
  ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
    return fail(c, std::string("bind: ") + std::strerror(errno));
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(cfg_.ports[std::size_t(c.index) % cfg_.ports.size()]);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS)
    return fail(c, std::string("connect: ") + std::strerror(errno));
  c.stage = Client::Stage::kConnecting;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = uint64_t(c.index - cfg_.first);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0)
    return fail(c, std::string("epoll: ") + std::strerror(errno));
  c.out_watched = true;
}

void RawLoadShard::send_frame(Client& c, ws::Opcode op, std::string_view payload) {
  static std::mt19937 rng{std::random_device{}()};
  c.out += ws::encode_client_frame(op, payload, rng());
  flush(c);
}

void RawLoadShard::send_ping(Client& c) {
  send_frame(c, ws::Opcode::kText,
             json{{"type", "relay"},
                  {"to", c.partner},
                  {"kind", "ping"},
                  {"payload", {{"t", monotonic_us()}}}}
                 .dump());
}

void RawLoadShard::flush(Client& c) {
  while (c.fd >= 0 && c.out_pos < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_pos += std::size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    return fail(c, std::string("send: ") + std::strerror(errno));
  }
  if (c.fd < 0) return;
  if (c.out_pos == c.out.size()) {
    c.out.clear();
    c.out_pos = 0;
  }
  const bool want = !c.out.empty();
  if (want == c.out_watched) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? uint32_t(EPOLLOUT) : 0u);
  ev.data.u64 = uint64_t(c.index - cfg_.first);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.out_watched = want;
}

void RawLoadShard::on_event(Client& c, uint32_t events) {
  if (c.stage == Client::Stage::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
      return fail(c, std::string("connect: ") + std::strerror(err ? err : errno));
    if (!(events & EPOLLOUT)) return;
    const uint16_t port = cfg_.ports[std::size_t(c.index) % cfg_.ports.size()];
    c.out = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    c.stage = Client::Stage::kUpgrading;
    c.out_watched = true;  // watched for output since the connect: flush() switches to input
    flush(c);
    return;
  }
  if (events & EPOLLOUT) flush(c);
  if (c.fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  char buf[16384];
  for (int reads = 0; reads < 4 && c.fd >= 0; ++reads) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) return fail(c, "closed by the tracker");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      return fail(c, std::string("recv: ") + std::strerror(errno));
    }
    std::string_view data(buf, std::size_t(n));
    if (c.stage == Client::Stage::kUpgrading) {
      c.head.append(data);
      const auto end = c.head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.head.size() > 8192) return fail(c, "response head too long");
        continue;
      }
      if (c.head.rfind("HTTP/1.1 101", 0) != 0)
        return fail(c, "upgrade refused: " + c.head.substr(0, c.head.find('\r')));
      data = std::string_view(c.head).substr(end + 4);
      c.stage = Client::Stage::kWelcome;
      c.in.feed(data);
      c.head.clear();
    } else {
      c.in.feed(data);
    }
    while (c.fd >= 0) {
      auto m = c.in.next();
      if (!m) {
        if (c.in.failed()) fail(c, "bad frame from the tracker: " + c.in.error());
        break;
      }
      if (m->opcode == ws::Opcode::kPing) {
        send_frame(c, ws::Opcode::kPong, m->payload);
      } else if (m->opcode == ws::Opcode::kClose) {
        fail(c, "close frame " + std::to_string(m->close_code) + " " + m->payload);
      } else if (m->opcode == ws::Opcode::kText) {
        on_text(c, m->payload);
      }
    }
  }
}

void RawLoadShard::on_text(Client& c, const std::string& text) {
  const json m = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!m.is_object()) return fail(c, "unparsable message from the tracker");
  const std::string type = m.value("type", "");
  using Stage = Client::Stage;
  const bool owner = c.index == 0;
  if (type == "relay") {
    const std::string kind = m.value("kind", "");
    if (kind == "ping") {
      send_frame(c, ws::Opcode::kText,
                 json{{"type", "relay"},
                      {"to", m.value("from", "")},
                      {"kind", "pong"},
                      {"payload", m.contains("payload") ? m["payload"] : json::object()}}
                     .dump());
    } else if (kind == "pong" && c.rounds_left > 0) {
      const auto& p = m.contains("payload") ? m["payload"] : json();
      const int64_t sent = p.is_object() ? p.value("t", int64_t{0}) : 0;
      if (phase_ && sent > 0) phase_->rtt_ms.push_back(double(monotonic_us() - sent) / 1000.0);
      if (--c.rounds_left > 0) {
        send_ping(c);
      } else {
        --pongs_wanted_;
        if (phase_) ++phase_->ok;
      }
    }
    return;
  }
  if (type == "error") {
    const std::string why = m.value("code", "error") + " (" + m.value("ref_type", "") + ")";
    if (c.stage != Stage::kReady || c.rounds_left > 0) return fail(c, why);
    return;
  }
  switch (c.stage) {
    case Stage::kWelcome:
      if (type != "welcome") return;
      c.stage = Stage::kHello;
      send_frame(c, ws::Opcode::kText,
                 json{{"type", "hello"},
                      {"id", 1},
                      {"peer_id", id_of(c.index)},
                      {"role", owner ? "broadcaster" : "viewer"},
                      {"upload_kbps", 5000}}
                     .dump());
      return;
    case Stage::kHello:
      if (type != "hello_ok") return;
      c.stage = Stage::kJoining;
      if (owner)
        send_frame(c, ws::Opcode::kText,
                   json{{"type", "stream_create"},
                        {"id", 2},
                        {"name", cfg_.stream},
                        {"public_key", std::string(64, '0')},
                        {"bitrate_kbps", 500}}
                       .dump());
      else
        send_frame(c, ws::Opcode::kText,
                   json{{"type", "join"}, {"id", 2}, {"stream", cfg_.stream}}.dump());
      return;
    case Stage::kJoining:
      if (type != (owner ? "stream_create_ok" : "join_ok")) return;
      c.stage = Stage::kReady;
      --in_flight_;
      if (phase_) ++phase_->ok;
      return;
    default:
      return;
  }
}

int RawLoadShard::poll_once(int timeout_ms) {
  epoll_event evs[256];
  const int n = epoll_wait(ep_, evs, 256, timeout_ms);
  int control = 0;
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.u64 == kControl) {
      control = 1;
      continue;
    }
    Client& c = clients_[std::size_t(evs[i].data.u64)];
    if (c.fd >= 0) on_event(c, evs[i].events);
  }
  return control;
}

RawPhaseResult RawLoadShard::create_stream(int64_t deadline_ms) {
  RawPhaseResult r;
  phase_ = &r;
  const int64_t t0 = monotonic_us();
  if (Client* owner = local(0)) {
    start_connect(*owner);
    while (owner->stage != Client::Stage::kReady && owner->stage != Client::Stage::kFailed &&
           now_ms() < std::min(deadline_ms, owner->deadline_ms))
      poll_once(50);
    if (owner->stage != Client::Stage::kReady && owner->stage != Client::Stage::kFailed)
      fail(*owner, "stream not created in time");
  }
  r.seconds = double(monotonic_us() - t0) / 1e6;
  phase_ = nullptr;
  return r;
}

RawPhaseResult RawLoadShard::join_all(int64_t deadline_ms) {
  RawPhaseResult r;
  phase_ = &r;
  const int64_t t0 = monotonic_us();
  std::size_t next = 0;
  int64_t last_check = now_ms();
  for (;;) {
    while (in_flight_ < cfg_.concurrency && next < clients_.size()) {
      Client& c = clients_[next++];
      if (c.index != 0 && c.stage == Client::Stage::kIdle) start_connect(c);
    }
    if (in_flight_ == 0 && next >= clients_.size()) break;
    const int64_t now = now_ms();
    if (now >= deadline_ms) {
      for (auto& c : clients_)
        if (c.stage != Client::Stage::kReady && c.stage != Client::Stage::kFailed &&
            c.stage != Client::Stage::kIdle)
          fail(c, "not joined before the bench's deadline");
      break;
    }
    if (now - last_check >= 500) {  // steps that hang
      last_check = now;
      for (auto& c : clients_)
        if (c.stage != Client::Stage::kReady && c.stage != Client::Stage::kFailed &&
            c.stage != Client::Stage::kIdle && now > c.deadline_ms)
          fail(c, "no answer within the step timeout");
    }
    poll_once(50);
  }
  r.seconds = double(monotonic_us() - t0) / 1e6;
  phase_ = nullptr;
  return r;
}

RawPhaseResult RawLoadShard::relay(const std::vector<std::pair<int, int>>& pairs, int rounds,
                                   int64_t deadline_ms) {
  RawPhaseResult r;
  phase_ = &r;
  const int64_t t0 = monotonic_us();
  for (auto [a, b] : pairs) {
    Client* c = local(a);
    if (!c || c->stage != Client::Stage::kReady || rounds <= 0) continue;
    c->partner = id_of(b);
    c->rounds_left = rounds;
    ++pongs_wanted_;
    send_ping(*c);
  }
  while (pongs_wanted_ > 0 && now_ms() < deadline_ms) poll_once(50);
  for (auto& c : clients_)
    if (c.rounds_left > 0) fail(c, "relay round trips unfinished at the deadline");
  r.seconds = double(monotonic_us() - t0) / 1e6;
  phase_ = nullptr;
  return r;
}

bool RawLoadShard::serve_until_readable(int fd, int64_t deadline_ms) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLHUP;
  ev.data.u64 = kControl;
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  bool readable = false;
  while (!readable && now_ms() < deadline_ms) readable = poll_once(200) != 0;
  epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
  return readable;
}

}  // namespace meshcast::app
