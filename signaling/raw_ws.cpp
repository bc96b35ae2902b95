#include "signaling/raw_ws.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "mesh/base/time.hpp"

namespace meshcast::signaling::raw {

namespace {

// Waits for `events` on fd until the deadline, running `pump` between short polls.
bool wait_for(int fd, short events, int64_t deadline, const Pump& pump) {
  for (;;) {
    pollfd p{fd, events, 0};
    int slice = pump ? 1 : 50;
    int r = ::poll(&p, 1, slice);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (monotonic_ms() >= deadline) return false;
    if (pump) pump();
  }
}

bool read_exact(int fd, char* out, size_t n, int64_t deadline, const Pump& pump) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out + got, n - got, 0);
    if (r > 0) {
      got += size_t(r);
      continue;
    }
    if (r == 0) return false;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (!wait_for(fd, POLLIN, deadline, pump)) return false;
  }
  return true;
}

}  // namespace

int connect_loopback(uint16_t port, int rcvbuf_bytes, int timeout_ms, const Pump& pump,
                     const char* from) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf_bytes > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes);
  if (from) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (::inet_pton(AF_INET, from, &src.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
  if (errno != EINPROGRESS || !wait_for(fd, POLLOUT, monotonic_ms() + timeout_ms, pump)) {
    ::close(fd);
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data, int timeout_ms, const Pump& pump) {
  const int64_t deadline = monotonic_ms() + timeout_ms;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t r = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (r > 0) {
      off += size_t(r);
      continue;
    }
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (!wait_for(fd, POLLOUT, deadline, pump)) return false;
  }
  return true;
}

bool handshake(int fd, uint16_t port, int timeout_ms, const Pump& pump,
               const std::string& trailing) {
  const std::string req = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
  const int64_t deadline = monotonic_ms() + timeout_ms;
  if (!send_all(fd, req + trailing, timeout_ms, pump)) return false;
  // Byte by byte up to the blank line: no frame bytes after the head are consumed.
  std::string head;
  char c = 0;
  while (head.size() < 8192) {
    if (!read_exact(fd, &c, 1, deadline, pump)) return false;
    head.push_back(c);
    if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0)
      return head.rfind("HTTP/1.1 101", 0) == 0;
  }
  return false;
}

std::string text_frame(const std::string& payload) {
  static std::mt19937 rng{std::random_device{}()};
  std::string f;
  f.push_back(char(0x81));  // FIN + text
  const size_t n = payload.size();
  if (n < 126) {
    f.push_back(char(0x80 | n));
  } else if (n <= 0xffff) {
    f.push_back(char(0x80 | 126));
    f.push_back(char(n >> 8));
    f.push_back(char(n & 0xff));
  } else {
    f.push_back(char(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(char((uint64_t(n) >> (8 * i)) & 0xff));
  }
  char mask[4];
  for (auto& m : mask) m = char(rng() & 0xff);
  f.append(mask, 4);
  for (size_t i = 0; i < n; ++i) f.push_back(char(payload[i] ^ mask[i % 4]));
  return f;
}

std::optional<std::string> read_text(int fd, int timeout_ms, const Pump& pump) {
  const int64_t deadline = monotonic_ms() + timeout_ms;
  for (int frames = 0; frames < 64; ++frames) {
    unsigned char h[2];
    if (!read_exact(fd, reinterpret_cast<char*>(h), 2, deadline, pump)) return std::nullopt;
    const int opcode = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    if (h[1] & 0x80) return std::nullopt;  // servers never mask
    if (len == 126 || len == 127) {
      unsigned char ext[8];
      const size_t k = len == 126 ? 2 : 8;
      if (!read_exact(fd, reinterpret_cast<char*>(ext), k, deadline, pump)) return std::nullopt;
      len = 0;
      for (size_t i = 0; i < k; ++i) len = (len << 8) | ext[i];
    }
    if (len > (16u << 20)) return std::nullopt;  // far above any tracker message
    std::string body(len, '\0');
    if (len && !read_exact(fd, body.data(), len, deadline, pump)) return std::nullopt;
    if (opcode == 0x8) return std::nullopt;  // close
    if (opcode == 0x1) return body;
    // ping/pong/binary/continuation: skipped (this client never answers pings)
  }
  return std::nullopt;
}

bool closed_by_peer(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return true;
  return ti.tcpi_state != TCP_ESTABLISHED;
}

}  // namespace meshcast::signaling::raw
