// Headless Chromium for WebRTC tests (WHIP ingest, WHEP playback): the browser in its own
// process group with fake camera and microphone, a small libsoup server that serves the
// test pages and collects what they report (POST /report?tag=...), a bounded GLib loop
// helper, and a private network namespace with only `lo` up.
//
// Found by the spike (Chromium 156, Debian 12):
//  - Two peer connections in one headless page connect and decode (VP8 and H264: OpenH264
//    encodes, FFmpeg decodes) within ~3 s of launch; a call costs ~0.5 core.
//  - In a namespace with only `lo` up, Chromium gathers 127.0.0.1 host candidates and
//    connects, but only with --allow-loopback-in-peer-connection (without it: no candidate
//    at all). With it, the page's candidates are exactly what a server in the namespace
//    sees: no host interface, no mDNS name (WebRtcHideLocalIpsWithMdns is off).
//  - --virtual-time-budget must not be used: it breaks real-time media.
//
// With a LoopbackNetns, everything the browser talks to must be inside that namespace:
// PageReportServer::start(addr, port, netns) makes its listening socket there (a thread
// that setns()es), and a WHIP/WHEP server under test must do the same for its HTTP socket
// *and* its ICE/UDP sockets -- simplest is to run it as a process via `ip netns exec`
// (testing::Process), or to leave the namespace out and run everything in the host one.
// Everything in PageReportServer runs on the thread that iterates its GMainContext.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/common/test_processes.hpp"

namespace meshcast::testing {

// Iterates `ctx` (nullptr: the global default context) until done() is true or timeout_ms
// passes; returns done(). `ctx` is made the thread-default context while it runs, so
// sources that libsoup/GIO create during the wait (new connections) land on it too.
inline bool run_until(GMainContext* ctx, const std::function<bool()>& done, int timeout_ms) {
  if (!ctx) ctx = g_main_context_default();
  const bool push = g_main_context_get_thread_default() != ctx &&
                    !(ctx == g_main_context_default() && !g_main_context_get_thread_default());
  if (push) g_main_context_push_thread_default(ctx);
  // A wake-up every 20 ms, so done() is re-checked even when nothing else happens.
  GSource* tick = g_timeout_source_new(20);
  g_source_set_callback(
      tick, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
  g_source_attach(tick, ctx);
  const gint64 end = g_get_monotonic_time() + gint64(timeout_ms) * 1000;
  bool ok = done();
  while (!ok && g_get_monotonic_time() < end) {
    g_main_context_iteration(ctx, TRUE);
    ok = done();
  }
  g_source_destroy(tick);
  g_source_unref(tick);
  if (push) g_main_context_pop_thread_default(ctx);
  return ok;
}

// A private network namespace mc-<tag>-<pid> with only `lo` up; deleted by the destructor.
// Namespaces of the same tag left by dead runs (killed tests) are removed on creation.
class LoopbackNetns {
 public:
  // Root, and `ip netns add/exec/del` work here.
  static bool usable(std::string* why = nullptr) {
    if (geteuid() != 0) {
      if (why) *why = "not root (network namespaces need CAP_SYS_ADMIN)";
      return false;
    }
    LoopbackNetns probe("probe");
    if (!probe.ok() && why) *why = probe.error();
    return probe.ok();
  }

  explicit LoopbackNetns(const std::string& tag) {
    const std::string prefix = "mc-" + tag + "-";
    sweep(prefix);
    name_ = prefix + std::to_string(getpid());
    std::string err;
    if (!ip({"ip", "netns", "add", name_}, &err)) {
      error_ = "ip netns add " + name_ + ": " + err;
      name_.clear();
      return;
    }
    if (!ip({"ip", "-n", name_, "link", "set", "lo", "up"}, &err) ||
        !ip({"ip", "netns", "exec", name_, "true"}, &err)) {
      error_ = "namespace " + name_ + " unusable: " + err;
      remove();
    }
  }
  ~LoopbackNetns() { remove(); }
  LoopbackNetns(const LoopbackNetns&) = delete;
  LoopbackNetns& operator=(const LoopbackNetns&) = delete;

  bool ok() const { return !name_.empty(); }
  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }

 private:
  static bool ip(const std::vector<std::string>& args, std::string* err) {
    char tmpl[] = "/tmp/meshcast_netns_XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (!d) {
      if (err) *err = "mkdtemp failed";
      return false;
    }
    const fs::path dir(d);
    std::string out;
    const int rc = run_command(args, dir / "ip", &out, {}, 10000);
    if (err) *err = read_text(dir / "ip.err");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return rc == 0;
  }
  static void sweep(const std::string& prefix) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/run/netns", ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) != 0) continue;
      const std::string pid = n.substr(prefix.size());
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      const pid_t p = static_cast<pid_t>(std::stol(pid));
      if (p == getpid() || kill(p, 0) == 0 || errno != ESRCH) continue;  // a live run's
      ip({"ip", "netns", "del", n}, nullptr);
    }
  }
  void remove() {
    if (name_.empty()) return;
    ip({"ip", "netns", "del", name_}, nullptr);
    name_.clear();
  }

  std::string name_, error_;
};

struct ChromiumOptions {
  std::string netns;                    // run inside this namespace (ip netns exec)
  std::vector<std::string> extra_args;  // appended after the default flags
  bool console_to_log = true;           // --enable-logging=stderr: page console in the log
};

// Headless Chromium on one URL, in its own process group, with a temporary profile and its
// stdout/stderr in <dir>/chromium.log. The destructor stops the whole group (SIGTERM, then
// SIGKILL after 2 s), reaps it and removes the directory. The browser also dies with the
// thread that started it (PR_SET_PDEATHSIG): a test killed by a CTest timeout leaves no
// browser behind.
class ChromiumProcess {
 public:
  static constexpr const char* kBinary = "/usr/lib/chromium/chromium";

  // The flags every WebRTC test needs (see the top of this file for why the loopback one).
  static std::vector<std::string> default_flags() {
    return {"--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--autoplay-policy=no-user-gesture-required",
            "--mute-audio",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows"};
  }

  // The binary exists and `--version` exits 0 within 15 s (checked once per process).
  static bool available(std::string* version = nullptr) {
    static const std::optional<std::string> v = []() -> std::optional<std::string> {
      if (access(kBinary, X_OK) != 0) return std::nullopt;
      char tmpl[] = "/tmp/meshcast_chromium_XXXXXX";
      const char* d = mkdtemp(tmpl);
      if (!d) return std::nullopt;
      const fs::path dir(d);
      std::string out;
      const int rc = run_command({kBinary, "--version"}, dir / "version", &out, {}, 15000);
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (rc != 0) return std::nullopt;
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      return out;
    }();
    if (v && version) *version = *v;
    return v.has_value();
  }

  ChromiumProcess() = default;
  ~ChromiumProcess() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  ChromiumProcess(const ChromiumProcess&) = delete;
  ChromiumProcess& operator=(const ChromiumProcess&) = delete;

  bool start(const std::string& url, const ChromiumOptions& opt = {}) {
    if (pid_ > 0) return false;
    if (dir_.empty()) {
      sweep_stale_dirs();
      std::string tmpl = "/tmp/meshcast_chromium_" + std::to_string(getpid()) + "_XXXXXX";
      if (!mkdtemp(tmpl.data())) return false;
      dir_ = tmpl;
    }
    log_ = dir_ / "chromium.log";
    std::vector<std::string> args;
    if (!opt.netns.empty()) args = {"/usr/bin/ip", "netns", "exec", opt.netns};
    args.push_back(kBinary);
    for (auto& f : default_flags()) args.push_back(f);
    args.push_back("--user-data-dir=" + (dir_ / "profile").string());
    if (opt.console_to_log) args.push_back("--enable-logging=stderr");
    for (auto& f : opt.extra_args) args.push_back(f);
    args.push_back(url);
    command_line_.clear();
    for (auto& a : args) command_line_ += (command_line_.empty() ? "" : " ") + a;

    // Everything the child needs is built before fork(): it only calls async-signal-safe
    // functions (the test may have threads).
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = log_.string();
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent is already gone
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
      if (in < 0 || out < 0) _exit(127);
      dup2(in, 0);
      dup2(out, 1);
      dup2(out, 2);
      if (in > 2) close(in);
      if (out > 2) close(out);
      close_range(3, ~0U, 0);  // no test socket stays open in the browser
      execv(argv[0], argv.data());
      _exit(127);
    }
    setpgid(pid, pid);  // also from here: no race with kill(-pid) below
    pid_ = pid;
    status_.reset();
    started_ = std::chrono::steady_clock::now();
    return true;
  }

  // Still running (reaps it if not).
  bool running() { return pid_ > 0 && !reap(0); }
  // The exit status once it exited (128 + signal if killed).
  std::optional<int> exit_status() const { return status_; }
  pid_t pid() const { return pid_; }
  double seconds_since_start() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  // SIGTERM to the whole group, SIGKILL after 2 s; reaps the browser. Idempotent.
  void stop() {
    if (pid_ <= 0) return;
    if (!status_) {
      kill(-pid_, SIGTERM);
      if (!reap(2000)) {
        kill(-pid_, SIGKILL);
        reap(5000);
      }
    }
    // Helpers (zygotes, renderers) share the group and may outlive the browser process.
    kill(-pid_, SIGKILL);
    pid_ = -1;
  }

  const fs::path& dir() const { return dir_; }
  const fs::path& log_path() const { return log_; }
  const std::string& command_line() const { return command_line_; }
  // The last `max_bytes` of the browser's log (for failure messages).
  std::string log_tail(size_t max_bytes = 6000) const {
    std::string s = read_text(log_);
    if (s.size() > max_bytes) s = "[...]" + s.substr(s.size() - max_bytes);
    return s;
  }

 private:
  // Directories of runs that were killed (their pid is gone) before they could clean up.
  static void sweep_stale_dirs() {
    const std::string prefix = "meshcast_chromium_";
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator("/tmp", ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) != 0) continue;
      const std::string pid = n.substr(prefix.size(), n.find('_', prefix.size()) - prefix.size());
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      const pid_t p = static_cast<pid_t>(std::stol(pid));
      if (p != getpid() && kill(p, 0) != 0 && errno == ESRCH) stale.push_back(e.path());
    }
    for (const auto& d : stale) fs::remove_all(d, ec);
  }

  bool reap(int timeout_ms) {
    if (status_) return true;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        status_ = r == pid_ ? (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)) : -1;
        return true;
      }
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  pid_t pid_ = -1;
  std::optional<int> status_;
  fs::path dir_, log_;
  std::string command_line_;
  std::chrono::steady_clock::time_point started_{};
};

// Serves test pages and collects the JSON the pages POST to /report?tag=TAG, on a
// GMainContext (nullptr: the global default) that the test iterates (run_until above).
// Every response carries Access-Control-Allow-Origin: *, and OPTIONS preflights are
// answered. Bounded: bodies up to kMaxBody, the last kMaxReports reports per tag, kMaxTags
// tags.
class PageReportServer {
 public:
  static constexpr size_t kMaxBody = 64 * 1024;
  static constexpr size_t kMaxReports = 1000;
  static constexpr size_t kMaxTags = 64;

  explicit PageReportServer(GMainContext* ctx = nullptr) : ctx_(ctx) {}
  ~PageReportServer() {
    for (auto& [id, msg] : paused_) {
      g_signal_handlers_disconnect_by_data(msg, this);
      respond(msg, 503, "text/plain", "test over\n");
      soup_server_message_unpause(msg);
      g_object_unref(msg);
    }
    paused_.clear();
    if (server_) {
      soup_server_disconnect(server_);
      g_object_unref(server_);
    }
  }
  PageReportServer(const PageReportServer&) = delete;
  PageReportServer& operator=(const PageReportServer&) = delete;

  // Listens on address:port (port 0: any free one), inside network namespace `netns` if
  // given (the socket is made there by a short-lived thread; the server still runs here).
  // false with error() on failure.
  bool start(const std::string& address = "127.0.0.1", uint16_t port = 0,
             const std::string& netns = "") {
    if (server_) return true;
    GInetAddress* ia = g_inet_address_new_from_string(address.c_str());
    if (!ia) {
      error_ = "not an IP address: " + address;
      return false;
    }
    const bool v6 = g_inet_address_get_family(ia) == G_SOCKET_FAMILY_IPV6;
    g_object_unref(ia);
    host_ = v6 ? "[" + address + "]" : address;
    int fd = -1;
    std::thread([&] { fd = listen_fd(address, port, v6, netns, &error_); }).join();
    if (fd < 0) return false;
    GError* e = nullptr;
    GSocket* sock = g_socket_new_from_fd(fd, &e);
    if (!sock) {
      close(fd);
      error_ = std::string("g_socket_new_from_fd: ") + (e ? e->message : "?");
      g_clear_error(&e);
      return false;
    }
    // libsoup attaches its listener (and later each connection) to the thread-default
    // context: make it ours while listening.
    GMainContext* ctx = ctx_ ? ctx_ : g_main_context_default();
    g_main_context_push_thread_default(ctx);
    server_ = soup_server_new("server-header", "meshcast-test-pages", nullptr);
    soup_server_add_early_handler(server_, nullptr, &PageReportServer::on_early, this, nullptr);
    soup_server_add_handler(server_, nullptr, &PageReportServer::on_request, this, nullptr);
    const bool ok = soup_server_listen_socket(server_, sock, SoupServerListenOptions(0), &e);
    g_main_context_pop_thread_default(ctx);
    GSocketAddress* local = g_socket_get_local_address(sock, nullptr);
    if (local) {
      port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
      g_object_unref(local);
    }
    g_object_unref(sock);  // the server keeps its own reference
    if (!ok) {
      error_ = std::string("listen on ") + address + ": " + (e ? e->message : "?");
      g_clear_error(&e);
      g_object_unref(server_);
      server_ = nullptr;
      return false;
    }
    return port_ != 0;
  }

  struct Request {
    std::string method, path, body;
    std::map<std::string, std::string> query, headers;  // header names in lower case
  };
  struct Response {
    int status = 200;
    std::string content_type = "text/plain", body;
    std::map<std::string, std::string> headers;
  };
  // `fn` answers every request for `path` (any method but OPTIONS; bodies up to kMaxBody):
  // a stand-in endpoint, e.g. a WHIP URL that records the offer and refuses it.
  void add_handler(const std::string& path, std::function<Response(const Request&)> fn) {
    handlers_[path] = std::move(fn);
  }
  // Like add_handler, but the answer comes later: `fn` gets an id, and reply(id, ...) sends
  // the response (the request waits, paused, until then; reply to every id).
  void add_deferred_handler(const std::string& path,
                            std::function<void(uint64_t id, const Request&)> fn) {
    deferred_[path] = std::move(fn);
  }
  // false if `id` is unknown or was answered already.
  bool reply(uint64_t id, const Response& rs) {
    auto it = paused_.find(id);
    if (it == paused_.end()) return false;
    SoupServerMessage* msg = it->second;
    paused_.erase(it);
    g_signal_handlers_disconnect_by_data(msg, this);
    answer(msg, rs);
    soup_server_message_unpause(msg);
    g_object_unref(msg);
    return true;
  }

  // Requests seen per "METHOD /path" (pages, reports, handlers, 404s).
  size_t hits(const std::string& method_and_path) const {
    auto it = hits_.find(method_and_path);
    return it == hits_.end() ? 0 : it->second;
  }

  void add_page(const std::string& path, std::string body,
                std::string content_type = "text/html; charset=utf-8") {
    pages_[path] = Page{std::move(body), std::move(content_type)};
  }

  // The full URL of `path_and_query` ("/page?x=1").
  std::string url(const std::string& path_and_query = "/") const {
    return "http://" + host_ + ":" + std::to_string(port_) + path_and_query;
  }
  uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }

  // Reports of `tag` (oldest first, at most kMaxReports), and the newest one.
  const std::vector<nlohmann::json>& reports(const std::string& tag) const {
    static const std::vector<nlohmann::json> none;
    auto it = reports_.find(tag);
    return it == reports_.end() ? none : it->second;
  }
  std::optional<nlohmann::json> last(const std::string& tag) const {
    const auto& r = reports(tag);
    if (r.empty()) return std::nullopt;
    return r.back();
  }
  // Every report received since start (also those dropped from the bounded lists).
  size_t received() const { return received_; }
  // Bodies refused: too large, not JSON, too many tags.
  size_t rejected() const { return rejected_; }
  const std::string& last_rejection() const { return last_rejection_; }
  // Called for every stored report.
  void on_report(std::function<void(const std::string& tag, const nlohmann::json&)> fn) {
    on_report_ = std::move(fn);
  }
  // Everything reported so far, for failure messages (the last `per_tag` of each tag).
  std::string dump(size_t per_tag = 3) const {
    std::string s;
    for (const auto& [tag, list] : reports_) {
      s += "tag '" + tag + "': " + std::to_string(list.size()) + " report(s)\n";
      for (size_t i = list.size() > per_tag ? list.size() - per_tag : 0; i < list.size(); ++i)
        s += "  " + list[i].dump() + "\n";
    }
    if (rejected_) s += "rejected: " + std::to_string(rejected_) + " (" + last_rejection_ + ")\n";
    return s;
  }

 private:
  struct Page {
    std::string body, type;
  };

  // A listening TCP socket, made inside `netns` when given (call on a thread of its own:
  // setns() changes the calling thread's namespace).
  static int listen_fd(const std::string& address, uint16_t port, bool v6, const std::string& netns,
                       std::string* error) {
    if (!netns.empty()) {
      const std::string ns_path = "/run/netns/" + netns;
      const int nsfd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
        *error = "cannot enter network namespace " + netns + ": " + std::strerror(errno);
        if (nsfd >= 0) close(nsfd);
        return -1;
      }
      close(nsfd);
    }
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      return -1;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len = 0;
    int ok = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      ok = inet_pton(AF_INET6, address.c_str(), &a->sin6_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      ok = inet_pton(AF_INET, address.c_str(), &a->sin_addr);
      len = sizeof *a;
    }
    if (ok != 1 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 128) != 0) {
      *error = "listen on " + address + ":" + std::to_string(port) +
               (netns.empty() ? "" : " in " + netns) + ": " + std::strerror(errno);
      close(fd);
      return -1;
    }
    return fd;
  }

  static void cors(SoupServerMessage* msg) {
    SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
    soup_message_headers_replace(h, "Access-Control-Allow-Methods",
                                 "GET, POST, PATCH, DELETE, OPTIONS");
    soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location, ETag, Link");
    soup_message_headers_replace(h, "Access-Control-Allow-Headers", "Content-Type, Authorization");
    soup_message_headers_replace(h, "Cache-Control", "no-store");
  }
  static void respond(SoupServerMessage* msg, guint status, const char* type,
                      const std::string& body) {
    cors(msg);
    soup_server_message_set_status(msg, status, nullptr);
    soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
  }

  // Before the body is read: refuse what would be too large, without storing it.
  static void on_early(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                       gpointer data) {
    auto* self = static_cast<PageReportServer*>(data);
    const char* m = soup_server_message_get_method(msg);
    if (g_strcmp0(m, "POST") != 0 && g_strcmp0(m, "PUT") != 0 && g_strcmp0(m, "PATCH") != 0) return;
    SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
    if (soup_message_headers_get_encoding(h) != SOUP_ENCODING_CONTENT_LENGTH ||
        soup_message_headers_get_content_length(h) > goffset(kMaxBody)) {
      // libsoup still reads the body: drop it chunk by chunk instead of keeping it.
      soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
      self->reject("body too large or without Content-Length");
      respond(msg, 413, "text/plain", "body too large\n");
    }
  }

  void reject(std::string why) {
    ++rejected_;
    last_rejection_ = std::move(why);
  }

  static Request request_of(SoupServerMessage* msg, const std::string& path, GHashTable* query) {
    Request rq;
    rq.method = soup_server_message_get_method(msg);
    rq.path = path;
    SoupMessageBody* b = soup_server_message_get_request_body(msg);
    if (b && b->data) rq.body.assign(b->data, size_t(b->length));
    if (query) {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init(&it, query);
      while (g_hash_table_iter_next(&it, &k, &v))
        rq.query[static_cast<const char*>(k)] = v ? static_cast<const char*>(v) : "";
    }
    SoupMessageHeadersIter hi;
    soup_message_headers_iter_init(&hi, soup_server_message_get_request_headers(msg));
    const char *name, *value;
    while (soup_message_headers_iter_next(&hi, &name, &value)) {
      std::string n = name;
      for (auto& c : n) c = char(g_ascii_tolower(c));
      rq.headers[n] = value;
    }
    return rq;
  }
  static void answer(SoupServerMessage* msg, const Response& rs) {
    for (const auto& [k, v] : rs.headers)
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), k.c_str(),
                                   v.c_str());
    respond(msg, guint(rs.status), rs.content_type.c_str(), rs.body);
  }

  static void on_gone(SoupServerMessage* msg, gpointer data) {
    auto* self = static_cast<PageReportServer*>(data);
    for (auto it = self->paused_.begin(); it != self->paused_.end(); ++it)
      if (it->second == msg) {
        self->paused_.erase(it);
        g_object_unref(msg);
        return;
      }
  }

  static void on_request(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query,
                         gpointer data) {
    auto* self = static_cast<PageReportServer*>(data);
    const char* method = soup_server_message_get_method(msg);
    const std::string p = path ? path : "/";
    if (self->hits_.size() < 256 || self->hits_.count(std::string(method) + " " + p))
      ++self->hits_[std::string(method) + " " + p];
    if (soup_server_message_get_status(msg) != 0) return;  // refused by on_early
    if (g_strcmp0(method, "OPTIONS") == 0) {
      cors(msg);
      soup_server_message_set_status(msg, 204, nullptr);
      return;
    }
    if (p == "/report" && g_strcmp0(method, "POST") == 0) {
      SoupMessageBody* b = soup_server_message_get_request_body(msg);
      if (!b || size_t(b->length) > kMaxBody) {
        self->reject("body too large");
        return respond(msg, 413, "text/plain", "report too large\n");
      }
      auto j = nlohmann::json::parse(std::string(b->data ? b->data : "", size_t(b->length)),
                                     nullptr, false);
      if (j.is_discarded()) {
        self->reject("not JSON");
        return respond(msg, 400, "text/plain", "not JSON\n");
      }
      const char* tag_c =
          query ? static_cast<const char*>(g_hash_table_lookup(query, "tag")) : nullptr;
      const std::string tag = tag_c ? tag_c : "";
      if (!self->reports_.count(tag) && self->reports_.size() >= kMaxTags) {
        self->reject("too many tags");
        return respond(msg, 429, "text/plain", "too many tags\n");
      }
      auto& list = self->reports_[tag];
      list.push_back(std::move(j));
      if (list.size() > kMaxReports) list.erase(list.begin());
      ++self->received_;
      if (self->on_report_) self->on_report_(tag, list.back());
      cors(msg);
      soup_server_message_set_status(msg, 204, nullptr);
      return;
    }
    auto h = self->handlers_.find(p);
    auto d = self->deferred_.find(p);
    if (h != self->handlers_.end() || d != self->deferred_.end()) {
      const Request rq = request_of(msg, p, query);
      if (h != self->handlers_.end()) return answer(msg, h->second(rq));
      const uint64_t id = ++self->next_id_;
      g_object_ref(msg);
      soup_server_message_pause(msg);
      self->paused_[id] = msg;
      // A client that gives up: forget its request (reply() then returns false).
      g_signal_connect(msg, "disconnected", G_CALLBACK(&PageReportServer::on_gone), self);
      d->second(id, rq);  // may reply() at once
      return;
    }
    if (g_strcmp0(method, "GET") == 0 || g_strcmp0(method, "HEAD") == 0) {
      auto it = self->pages_.find(p);
      if (it != self->pages_.end())
        return respond(msg, 200, it->second.type.c_str(), it->second.body);
      if (p == "/favicon.ico") return respond(msg, 204, "text/plain", "");
    }
    respond(msg, 404, "text/plain", "not found\n");
  }

  GMainContext* ctx_ = nullptr;
  SoupServer* server_ = nullptr;
  std::string host_, error_;
  uint16_t port_ = 0;
  std::map<std::string, Page> pages_;
  std::map<std::string, std::function<Response(const Request&)>> handlers_;
  std::map<std::string, std::function<void(uint64_t, const Request&)>> deferred_;
  std::map<uint64_t, SoupServerMessage*> paused_;
  uint64_t next_id_ = 0;
  std::map<std::string, size_t> hits_;
  std::map<std::string, std::vector<nlohmann::json>> reports_;
  size_t received_ = 0, rejected_ = 0;
  std::string last_rejection_;
  std::function<void(const std::string&, const nlohmann::json&)> on_report_;
};

}  // namespace meshcast::testing
