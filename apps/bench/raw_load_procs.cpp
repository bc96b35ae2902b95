#include "apps/bench/raw_load_procs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "mesh/base/time.hpp"

namespace meshcast::app {

using nlohmann::json;

namespace {
// How long a child waits for its next command before it gives up on its parent.
constexpr int64_t kPhaseLimitMs = 30 * 60 * 1000;

bool write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n > 0) {
      off += std::size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

// One line from fd (blocking), without the newline; false at EOF or error.
bool read_line(int fd, std::string& pending, std::string& line) {
  for (;;) {
    const auto nl = pending.find('\n');
    if (nl != std::string::npos) {
      line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return true;
    }
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      pending.append(buf, std::size_t(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
}

json to_json(const RawPhaseResult& r) {
  return {{"ok", r.ok},
          {"failed", r.failed},
          {"errors", r.errors},
          {"rtt_ms", r.rtt_ms},
          {"seconds", r.seconds}};
}
}  // namespace

void raw_load_child(const RawLoadConfig& cfg, int in, int out) {
  signal(SIGPIPE, SIG_IGN);
  {
    RawLoadShard shard(cfg);
    std::string pending, line;
    for (;;) {
      // Between commands the clients stay served: the tracker's pings are answered.
      if (pending.find('\n') == std::string::npos &&
          !shard.serve_until_readable(in, monotonic_ms() + kPhaseLimitMs))
        break;  // no word from the parent for that long: it is gone or stuck
      if (!read_line(in, pending, line)) break;
      std::istringstream words(line);
      std::string cmd;
      words >> cmd;
      const int64_t deadline = monotonic_ms() + cfg.phase_timeout_ms;
      RawPhaseResult r;
      if (cmd == "quit") break;
      if (cmd == "create") {
        r = shard.create_stream(deadline);
      } else if (cmd == "join") {
        r = shard.join_all(deadline);
      } else if (cmd == "relay") {
        int rounds = 0, a = 0, b = 0, stride = 1;
        words >> rounds >> a >> b >> stride;
        stride = std::max(1, stride);
        // Pairs (i, i + stride) with disjoint members: `stride` pingers, then their
        // `stride` partners, and so on from a.
        std::vector<std::pair<int, int>> pairs;
        for (int i = a; i + stride < b; i += (i - a) % (2 * stride) == stride - 1 ? stride + 1 : 1)
          if (shard.holds(i)) pairs.emplace_back(i, i + stride);
        r = shard.relay(pairs, rounds, deadline);
      } else {
        r.errors.push_back("unknown command: " + cmd);
      }
      if (!write_all(out, to_json(r).dump() + "\n")) break;
    }
  }
  _exit(0);
}

RawLoadProcs::~RawLoadProcs() {
  for (auto& k : kids_)
    if (k.to >= 0) write_all(k.to, "quit\n");
  for (auto& k : kids_) {
    if (k.to >= 0) ::close(k.to);
    if (k.from >= 0) ::close(k.from);
    if (k.pid <= 0) continue;
    // A child that does not go within 10 s is killed: the bench must end by itself.
    int st = 0;
    for (int i = 0; i < 100 && waitpid(k.pid, &st, WNOHANG) == 0; ++i) usleep(100'000);
    if (waitpid(k.pid, &st, WNOHANG) == 0) {
      kill(k.pid, SIGKILL);
      waitpid(k.pid, &st, 0);
    }
  }
}

Expected<void, std::string> RawLoadProcs::start(const std::vector<RawLoadConfig>& shards) {
  for (const auto& cfg : shards) {
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0)
      return unexpected(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) {
      const int fork_errno = errno;  // close() may overwrite it
      for (int fd : {down[0], down[1], up[0], up[1]}) ::close(fd);
      return unexpected(std::string("fork: ") + std::strerror(fork_errno));
    }
    if (pid == 0) {
      ::close(down[1]);
      ::close(up[0]);
      for (auto& k : kids_) {  // the siblings' pipes are the parent's business
        ::close(k.to);
        ::close(k.from);
      }
      raw_load_child(cfg, down[0], up[1]);
    }
    ::close(down[0]);
    ::close(up[1]);
    kids_.push_back({pid, down[1], up[0], {}});
  }
  return {};
}

std::vector<json> RawLoadProcs::run(const std::vector<int>& which, const std::string& command) {
  std::vector<json> answers(which.size());
  for (int i : which) write_all(kids_[std::size_t(i)].to, command + "\n");
  for (std::size_t n = 0; n < which.size(); ++n) {
    Kid& k = kids_[std::size_t(which[n])];
    std::string line;
    if (read_line(k.from, k.pending, line))
      answers[n] = json::parse(line, nullptr, /*allow_exceptions=*/false);
  }
  return answers;
}

std::vector<pid_t> RawLoadProcs::pids() const {
  std::vector<pid_t> p;
  for (auto& k : kids_) p.push_back(k.pid);
  return p;
}

}  // namespace meshcast::app
