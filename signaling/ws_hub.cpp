#include "signaling/ws_hub.hpp"

#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "mesh/base/time.hpp"
#include "signaling/socket_options.hpp"

namespace meshcast::signaling {

namespace {
// Per wake and connection: enough for a burst, small enough that one busy peer cannot
// starve the others (epoll is level-triggered: the rest is read on the next wake).
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kReadsPerWake = 4;
constexpr int kEventsPerWait = 256;
}  // namespace

struct WsHub::Conn {
  Id id;
  GSocket* sock;
  GIOStream* stream;
  int fd;
  ws::FrameDecoder in;
  std::string out;
  std::size_t out_pos = 0;
  bool out_watched = false;
  bool closing = false;             // our close frame is queued or the peer's was answered
  bool shut_after_flush = false;    // our close: half-close once it is out, await theirs
  bool finish_after_flush = false;  // their close answered: the handshake is over
  bool finished = false;
  int64_t close_deadline = 0;
  Conn(Id i, GSocket* s, GIOStream* st, uint64_t max)
      : id(i), sock(s), stream(st), fd(g_socket_get_fd(s)), in(max) {}
};

WsHub::WsHub(uint64_t max_message_bytes, int64_t close_timeout_ms, Callbacks cb)
    : max_message_(max_message_bytes), close_timeout_ms_(close_timeout_ms), cb_(std::move(cb)) {}

WsHub::~WsHub() {
  if (watch_) g_source_remove(watch_);
  if (reap_) g_source_remove(reap_);
  for (auto& [id, c] : conns_) {
    if (!c->finished && !c->closing) {
      const std::string bye = ws::encode_close(ws::kCloseGoingAway, "shutdown");
      (void)::send(c->fd, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    release(*c);
  }
  if (ep_ >= 0) ::close(ep_);
}

Expected<void, std::string> WsHub::start() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) return unexpected(std::string("epoll_create1: ") + g_strerror(errno));
  watch_ = g_unix_fd_add(ep_, G_IO_IN, &WsHub::on_ready, this);
  return {};
}

bool WsHub::adopt(Id id, GSocket* sock, GIOStream* stream, std::string early) {
  auto c = std::make_unique<Conn>(id, sock, stream, max_message_);
  g_socket_set_blocking(sock, FALSE);
  // Small frames (signaling) go out at once, not behind Nagle's wait for an ACK.
  g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = id;
  if (ep_ < 0 || epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    release(*c);
    return false;
  }
  c->in.feed(early);
  conns_.emplace(id, std::move(c));
  return true;
}

void WsHub::process_buffered(Id id) {
  auto it = conns_.find(id);
  if (it != conns_.end() && !it->second->finished) handle(*it->second, 0);
}

bool WsHub::open(Id id) const {
  auto it = conns_.find(id);
  return it != conns_.end() && !it->second->finished && !it->second->closing;
}

bool WsHub::send_text(Id id, std::string_view text) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->finished || it->second->closing) return false;
  queue(*it->second, ws::encode_frame(ws::Opcode::kText, text));
  return true;
}

void WsHub::ping(Id id) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->finished || it->second->closing) return;
  queue(*it->second, ws::encode_frame(ws::Opcode::kPing, {}));
}

void WsHub::close(Id id, uint16_t code, std::string_view reason) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->finished || it->second->closing) return;
  start_close(*it->second, code, reason, /*theirs=*/false);
}

void WsHub::start_close(Conn& c, uint16_t code, std::string_view reason, bool theirs) {
  c.closing = true;
  // Theirs answered: the handshake is over once our frame is out. Ours: half-close, then
  // wait for their close frame or EOF.
  (theirs ? c.finish_after_flush : c.shut_after_flush) = true;
  c.close_deadline = monotonic_ms() + close_timeout_ms_;
  closing_.push_back(c.id);
  queue(c, ws::encode_close(code, reason));
}

void WsHub::refuse(Conn& c, uint16_t code, std::string_view why) {
  const std::string bye = ws::encode_close(code, why);
  (void)::send(c.fd, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  finish(c);
}

void WsHub::abort(Id id) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->finished) return;
  set_abortive_close(it->second->fd);
  finish(*it->second);
}

uint64_t WsHub::unsent(Id id) const {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->finished) return 0;
  const Conn& c = *it->second;
  return (c.out.size() - c.out_pos) + static_cast<uint64_t>(std::max(0, unsent_in_kernel(c.fd)));
}

void WsHub::tick(int64_t now) {
  std::vector<Id> late;
  std::erase_if(closing_, [&](Id id) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->finished) return true;
    if (it->second->close_deadline > now) return false;
    late.push_back(id);
    return true;
  });
  for (Id id : late) abort(id);
}

gboolean WsHub::on_ready(gint, GIOCondition, gpointer data) {
  auto* self = static_cast<WsHub*>(data);
  epoll_event evs[kEventsPerWait];
  const int n = epoll_wait(self->ep_, evs, kEventsPerWait, 0);
  for (int i = 0; i < n; ++i) {
    auto it = self->conns_.find(evs[i].data.u64);
    if (it == self->conns_.end() || it->second->finished) continue;
    self->handle(*it->second, evs[i].events);
  }
  return G_SOURCE_CONTINUE;
}

void WsHub::handle(Conn& c, uint32_t events) {
  const Id id = c.id;
  if (events & EPOLLOUT) flush(c);
  if (c.finished) return;
  const bool ended = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && read_some(c);
  // Callbacks may have closed this connection (or any other): look it up again each time.
  while (true) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->finished) return;
    Conn& cc = *it->second;
    auto m = cc.in.next();
    if (!m) {
      if (cc.in.failed())  // a protocol violation: say why, then drop the connection
        refuse(cc, cc.in.close_code(), cc.in.error());
      else if (ended)  // everything that arrived before the EOF is handled
        finish(cc);
      return;
    }
    switch (m->opcode) {
      case ws::Opcode::kPing:
        if (!cc.closing) queue(cc, ws::encode_frame(ws::Opcode::kPong, m->payload));
        break;
      case ws::Opcode::kClose:
        if (!cc.closing) {  // the peer starts the close: answer, then end after the flush
          start_close(cc, m->close_code == 1005 ? ws::kCloseNormal : m->close_code, "",
                      /*theirs=*/true);
        } else {
          finish(cc);  // the answer to our close: done
        }
        break;
      case ws::Opcode::kText:
        if (!g_utf8_validate_len(m->payload.data(), m->payload.size(), nullptr))
          return refuse(cc, ws::kCloseInvalidPayload, "text is not UTF-8");
        [[fallthrough]];
      default:
        if (!cc.closing && cb_.on_message) cb_.on_message(id, std::move(*m));
        break;
    }
  }
}

bool WsHub::read_some(Conn& c) {
  char buf[kReadChunk];
  for (int i = 0; i < kReadsPerWake; ++i) {
    // A peer that keeps sending without the frames being parsed is bounded by the decoder:
    // it fails on an oversized message before buffering it.
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      c.in.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      if (static_cast<std::size_t>(n) < sizeof buf) return false;
      continue;
    }
    // EOF or a reset ends the connection once what arrived before it is handled.
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
  }
  return false;
}

void WsHub::queue(Conn& c, std::string bytes) {
  if (c.out_pos == c.out.size()) {
    c.out.clear();
    c.out_pos = 0;
    // Nothing waiting: write at once, keep only what the kernel did not take.
    const ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      finish(c);
      return;
    }
    const std::size_t sent = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (sent < bytes.size()) {
      c.out.assign(bytes, sent, std::string::npos);
      want_output(c, true);
    } else {
      flushed(c);
    }
    return;
  }
  c.out += bytes;
}

void WsHub::flush(Conn& c) {
  while (c.out_pos < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_pos += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    finish(c);
    return;
  }
  c.out.clear();
  c.out_pos = 0;
  want_output(c, false);
  flushed(c);
}

void WsHub::flushed(Conn& c) {
  if (c.finish_after_flush)
    finish(c);
  else if (c.shut_after_flush)
    ::shutdown(c.fd, SHUT_WR);
}

void WsHub::want_output(Conn& c, bool on) {
  if (c.out_watched == on || c.finished) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
  ev.data.u64 = c.id;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) == 0) c.out_watched = on;
}

void WsHub::finish(Conn& c) {
  if (c.finished) return;
  c.finished = true;
  epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::shutdown(c.fd, SHUT_RDWR);
  c.out.clear();
  c.out.shrink_to_fit();
  c.out_pos = 0;
  finished_.push_back(c.id);
  if (!reap_) reap_ = g_idle_add(&WsHub::on_reap, this);
}

gboolean WsHub::on_reap(gpointer data) {
  auto* self = static_cast<WsHub*>(data);
  self->reap_ = 0;
  std::vector<Id> ids;
  ids.swap(self->finished_);
  for (Id id : ids) {
    auto it = self->conns_.find(id);
    if (it == self->conns_.end()) continue;
    std::unique_ptr<Conn> c = std::move(it->second);
    self->conns_.erase(it);
    if (self->cb_.on_closed) self->cb_.on_closed(id);
    self->release(*c);  // after the callback: the socket outlives every use of it
  }
  return G_SOURCE_REMOVE;
}

void WsHub::release(Conn& c) {
  if (!c.finished && ep_ >= 0) epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  c.finished = true;
  if (c.stream) {
    g_io_stream_close(c.stream, nullptr, nullptr);
    if (!g_socket_is_closed(c.sock)) g_socket_close(c.sock, nullptr);
    g_object_unref(c.stream);  // may finalise the socket
    c.stream = nullptr;
  }
}

}  // namespace meshcast::signaling
