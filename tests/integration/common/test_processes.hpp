// Helpers for tests that run the meshcast binary (and an X server): child processes in their
// own process group (always stopped by the destructor, also when a test fails), a free
// loopback port, a private Xvfb, and screen grabs through GStreamer's ximagesrc.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace meshcast::testing {

namespace fs = std::filesystem;

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process. env_set / env_unset change the inherited environment.
class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() { stop(); }

  bool start(const std::vector<std::string>& args, const fs::path& log_prefix,
             const std::map<std::string, std::string>& env_set = {},
             const std::vector<std::string>& env_unset = {}) {
    out_ = log_prefix.string() + ".out";
    err_ = log_prefix.string() + ".err";
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      std::string key = kv.substr(0, kv.find('='));
      bool drop = env_set.count(key) > 0;
      for (const auto& u : env_unset) drop |= key == u;
      if (!drop) env.push_back(kv);
    }
    for (const auto& [k, v] : env_set) env.push_back(k + "=" + v);
    // meshcast keeps its identity key under XDG_CONFIG_HOME: a test's processes use one
    // next to their logs, never the developer's own.
    if (!env_set.count("XDG_CONFIG_HOME")) {
      env.erase(std::remove_if(
                    env.begin(), env.end(),
                    [](const std::string& kv) { return kv.rfind("XDG_CONFIG_HOME=", 0) == 0; }),
                env.end());
      env.push_back("XDG_CONFIG_HOME=" + fs::absolute(log_prefix).parent_path().string() +
                    "/config");
    }
    std::vector<char*> argv, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawnp(&pid_, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }

  // Exit status (>= 0), 128 + signal if killed by one, or nullopt if still running after
  // timeout_ms.
  std::optional<int> wait(int timeout_ms) {
    if (status_) return status_;
    if (pid_ <= 0) return std::nullopt;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int st = 0;
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      if (std::chrono::steady_clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  bool running() { return pid_ > 0 && !wait(0); }

  // SIGTERM to the group, SIGKILL after 3 s. Idempotent.
  void stop() {
    if (pid_ <= 0 || status_) return;
    kill(-pid_, SIGTERM);
    if (!wait(3000)) {
      kill(-pid_, SIGKILL);
      wait(3000);
    }
  }

  std::string out() const { return read_text(out_); }
  std::string err() const { return read_text(err_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_, err_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
inline uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// An X display number with neither a socket nor a lock file.
inline int free_display_number(int from = 90) {
  for (int n = from; n < from + 200; ++n) {
    const std::string s = "/tmp/.X11-unix/X" + std::to_string(n);
    const std::string l = "/tmp/.X" + std::to_string(n) + "-lock";
    if (!fs::exists(s) && !fs::exists(l)) return n;
  }
  return -1;
}

// A private Xvfb (no TCP), stopped by the destructor.
class Xvfb {
 public:
  bool start(const fs::path& dir, const std::string& screen = "1280x800x24") {
    for (int attempt = 0; attempt < 5; ++attempt) {
      number_ = free_display_number(90 + attempt * 7);
      if (number_ < 0) return false;
      proc_ = std::make_unique<Process>();
      const std::string d = ":" + std::to_string(number_);
      if (!proc_->start({"Xvfb", d, "-screen", "0", screen, "-nolisten", "tcp", "-noreset"},
                        dir / ("xvfb" + std::to_string(number_))))
        return false;
      const fs::path sock = "/tmp/.X11-unix/X" + std::to_string(number_);
      for (int i = 0; i < 250 && proc_->running(); ++i) {
        if (fs::exists(sock)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      proc_->stop();  // lost a race for the number, or it failed: try another
    }
    return false;
  }
  std::string display() const { return ":" + std::to_string(number_); }
  std::string log() const { return proc_ ? proc_->err() : ""; }
  ~Xvfb() {
    if (proc_) proc_->stop();
  }

 private:
  int number_ = -1;
  std::unique_ptr<Process> proc_;
};

// Runs a command to completion (bounded), returns its exit status and stdout.
inline int run_command(const std::vector<std::string>& args, const fs::path& log_prefix,
                       std::string* out, const std::map<std::string, std::string>& env = {},
                       int timeout_ms = 20000) {
  Process p;
  if (!p.start(args, log_prefix, env)) return -1;
  auto st = p.wait(timeout_ms);
  if (!st) p.stop();
  if (out) *out = p.out();
  return st ? *st : -1;
}

}  // namespace meshcast::testing
