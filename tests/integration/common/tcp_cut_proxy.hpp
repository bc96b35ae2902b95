// A TCP forwarder on 127.0.0.1 whose connections a test can cut at once (as a lost Wi-Fi or a
// NAT that forgot its mapping would) or freeze (a host gone silent), while it keeps accepting
// new ones. One thread, poll(), stopped by the destructor. Its sockets are close-on-exec, so
// processes the test starts later do not hold copies of them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace meshcast::testing {

class TcpCutProxy {
 public:
  // Listens on a free loopback port and forwards every connection to 127.0.0.1:target.
  explicit TcpCutProxy(uint16_t target) : target_(target) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TcpCutProxy() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& p : pairs_) close_pair(p);
    for (auto& p : frozen_) close_pair(p);
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  TcpCutProxy(const TcpCutProxy&) = delete;
  TcpCutProxy& operator=(const TcpCutProxy&) = delete;

  uint16_t port() const { return port_; }
  // Closes every forwarded connection now (new ones are still accepted).
  void cut() { cut_requested_ = true; }
  // Stops forwarding on every open connection without closing it (new ones are still
  // forwarded): the far end vanished without a FIN or RST, as a crashed host looks.
  void freeze() { freeze_requested_ = true; }
  int accepted() const { return accepted_; }

 private:
  struct Pair {
    int a = -1, b = -1;
  };
  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  // shutdown() as well as close(): a copy of the descriptor elsewhere must not keep it open.
  static void close_pair(Pair& p) {
    for (int fd : {p.a, p.b}) {
      if (fd < 0) continue;
      shutdown(fd, SHUT_RDWR);
      close(fd);
    }
    p.a = p.b = -1;
  }
  // Copies what is readable from `from` to `to`; false when either side is done.
  static bool pump(int from, int to) {
    char buf[16384];
    ssize_t n = recv(from, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = send(to, buf + off, size_t(n - off), MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }
  void run() {
    while (!stop_) {
      if (cut_requested_.exchange(false)) {
        for (auto& p : pairs_) close_pair(p);
        pairs_.clear();
      }
      if (freeze_requested_.exchange(false)) {
        frozen_.insert(frozen_.end(), pairs_.begin(), pairs_.end());  // open, never read
        pairs_.clear();
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& p : pairs_) {
        fds.push_back({p.a, POLLIN, 0});
        fds.push_back({p.b, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      const std::size_t polled = pairs_.size();  // an accepted pair joins the next round
      if (fds[0].revents & POLLIN) {
        int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          sockaddr_in t = loopback(target_);
          if (connect(up, reinterpret_cast<sockaddr*>(&t), sizeof t) == 0) {
            pairs_.push_back({c, up});
            ++accepted_;
          } else {
            close(c);
            close(up);
          }
        }
      }
      for (std::size_t i = 0; i < polled; ++i) {
        const pollfd& fa = fds[1 + 2 * i];
        const pollfd& fb = fds[2 + 2 * i];
        bool ok = true;
        if (fa.revents & (POLLIN | POLLHUP | POLLERR)) ok = pump(pairs_[i].a, pairs_[i].b);
        if (ok && (fb.revents & (POLLIN | POLLHUP | POLLERR))) ok = pump(pairs_[i].b, pairs_[i].a);
        if (!ok) close_pair(pairs_[i]);
      }
      std::erase_if(pairs_, [](const Pair& p) { return p.a < 0; });
    }
  }

  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::vector<Pair> pairs_, frozen_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, cut_requested_{false}, freeze_requested_{false};
  std::atomic<int> accepted_{0};
};

}  // namespace meshcast::testing
