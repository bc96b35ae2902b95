#include "tests/netlab/net_lab.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace meshcast::netlab {
namespace {

constexpr const char* kNetnsDir = "/run/netns/";

// What the signal handler must undo, in fixed storage: a handler may only make
// async-signal-safe calls (kill, umount2, unlink), no allocation.
struct Registry {
  static constexpr int kMaxNamespaces = 32, kMaxProcesses = 128, kPathLen = 160;
  char paths[kMaxNamespaces][kPathLen];
  volatile sig_atomic_t namespaces = 0;
  pid_t pids[kMaxProcesses];
  volatile sig_atomic_t processes = 0;
};
Registry g_registry;
int g_labs = 0;
struct sigaction g_old_int, g_old_term;

// True when `pid` is still our (unreaped) child. A registered pid that was reaped may have
// been reused by an unrelated process, which must not be killed. open/read/close only:
// async-signal-safe.
bool is_our_child(pid_t pid) {
  char path[64] = "/proc/";
  char digits[16];
  int n = 0;
  for (pid_t p = pid; p > 0 && n < 15; p /= 10) digits[n++] = char('0' + p % 10);
  size_t at = 6;
  while (n > 0 && at < sizeof path - 8) path[at++] = digits[--n];
  const char* tail = "/stat";
  for (int i = 0; tail[i]; ++i) path[at++] = tail[i];
  path[at] = '\0';
  int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  char buf[512];
  ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return false;
  buf[len] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
  char* close_paren = nullptr;
  for (char* c = buf; *c; ++c)
    if (*c == ')') close_paren = c;
  if (!close_paren || close_paren[1] != ' ' || !close_paren[2] || close_paren[3] != ' ')
    return false;
  long ppid = 0;
  for (char* c = close_paren + 4; *c >= '0' && *c <= '9'; ++c) ppid = ppid * 10 + (*c - '0');
  return ppid == getpid();
}

void on_signal(int sig) {
  for (int i = 0; i < g_registry.processes; ++i)
    if (g_registry.pids[i] > 0 && is_our_child(g_registry.pids[i]))
      kill(-g_registry.pids[i], SIGKILL);
  // What `ip netns del` does: the namespace goes away with its last process and mount.
  for (int i = 0; i < g_registry.namespaces; ++i) {
    umount2(g_registry.paths[i], MNT_DETACH);
    unlink(g_registry.paths[i]);
  }
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  raise(sig);
}

void register_namespace(const std::string& ns) {
  if (g_registry.namespaces >= Registry::kMaxNamespaces) return;
  std::string p = kNetnsDir + ns;
  std::snprintf(g_registry.paths[g_registry.namespaces], Registry::kPathLen, "%s", p.c_str());
  g_registry.namespaces = g_registry.namespaces + 1;
}

void unregister_namespace(const std::string& ns) {
  std::string p = kNetnsDir + ns;
  for (int i = 0; i < g_registry.namespaces; ++i)
    if (p == g_registry.paths[i]) g_registry.paths[i][0] = '\0';  // umount2("") fails: harmless
}

void register_process(pid_t pid) {
  if (pid > 0 && g_registry.processes < Registry::kMaxProcesses) {
    g_registry.pids[g_registry.processes] = pid;
    g_registry.processes = g_registry.processes + 1;
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

const char* to_string(RouterKind k) {
  switch (k) {
    case RouterKind::kPublic:
      return "public";
    case RouterKind::kFullCone:
      return "full-cone";
    case RouterKind::kPortRestricted:
      return "port-restricted";
    case RouterKind::kSymmetric:
      return "symmetric";
    case RouterKind::kUdpBlocked:
      return "udp-blocked";
  }
  return "?";
}

Expected<void, std::string> NetLab::available() {
  if (geteuid() != 0) return unexpected("not root (network namespaces need CAP_SYS_ADMIN)");
  const std::string probe = "mcnlprobe" + std::to_string(getpid());
  std::string out;
  auto tmp = fs::temp_directory_path() / probe;
  if (testing::run_command({"ip", "netns", "add", probe}, tmp, &out) != 0) {
    std::string why = "`ip netns add` failed: " + testing::read_text(tmp.string() + ".err");
    fs::remove(tmp.string() + ".out");
    fs::remove(tmp.string() + ".err");
    return unexpected(std::move(why));
  }
  int ipt = testing::run_command({"ip", "netns", "exec", probe, "iptables", "-t", "nat", "-L"}, tmp,
                                 &out);
  std::string ipt_err = testing::read_text(tmp.string() + ".err");
  testing::run_command({"ip", "netns", "del", probe}, tmp, &out);
  fs::remove(tmp.string() + ".out");
  fs::remove(tmp.string() + ".err");
  if (ipt != 0) return unexpected("iptables (nat table) does not work in a namespace: " + ipt_err);
  return {};
}

NetLab::NetLab(std::string meshcast, std::string prefix)
    : meshcast_(std::move(meshcast)), prefix_(std::move(prefix)) {
  static int counter = 0;
  const std::string pid = std::to_string(getpid());
  internet_ = prefix_ + pid + "-inet";
  dir_ = fs::temp_directory_path() / ("meshcast_netlab_" + pid + "_" + std::to_string(counter++));
  fs::create_directories(dir_);
  if (g_labs++ == 0) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
  }
}

NetLab::~NetLab() {
  teardown();
  if (--g_labs == 0) {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
    g_registry.processes = 0;
    g_registry.namespaces = 0;
  }
  if (!std::getenv("MESHCAST_NETLAB_KEEP")) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

Expected<std::string, std::string> NetLab::run(const std::vector<std::string>& args) {
  const auto log = dir_ / ("cmd" + std::to_string(cmd_seq_++));
  std::string o;
  int rc = testing::run_command(args, log, &o, {}, 15000);
  std::string err = testing::read_text(log.string() + ".err");
  fs::remove(log.string() + ".out");
  fs::remove(log.string() + ".err");
  if (rc != 0)
    return unexpected("`" + join(args) + "` failed (" + std::to_string(rc) + "): " + err);
  return o;
}

Expected<void, std::string> NetLab::run_all(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& args : commands)
    if (auto r = run(args); !r) return unexpected(std::move(r).error());
  return {};
}

void NetLab::sweep_stale() {
  DIR* d = opendir(kNetnsDir);
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(prefix_, 0) != 0) continue;
    size_t dash = name.find('-', prefix_.size());
    std::string pid =
        name.substr(prefix_.size(), dash == std::string::npos ? 0 : dash - prefix_.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t p = static_cast<pid_t>(std::stol(pid));
    // Only namespaces whose run is gone: another run may be live next to this one.
    if (p == getpid() || kill(p, 0) == 0 || errno != ESRCH) continue;
    stale.push_back(name);
  }
  closedir(d);
  // Their log directories too.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    std::string name = e.path().filename().string();
    const std::string dir_prefix = "meshcast_netlab_";
    if (name.rfind(dir_prefix, 0) != 0) continue;
    std::string pid =
        name.substr(dir_prefix.size(), name.find('_', dir_prefix.size()) - dir_prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t p = static_cast<pid_t>(std::stol(pid));
    if (p != getpid() && kill(p, 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
  for (const auto& ns : stale) {
    std::istringstream in(run({"ip", "netns", "pids", ns}).value_or(""));
    for (pid_t p; in >> p;) kill(p, SIGKILL);
    (void)run({"ip", "netns", "del", ns});  // best effort
    std::fprintf(stderr, "netlab: removed stale namespace %s of an earlier run\n", ns.c_str());
  }
}

Expected<void, std::string> NetLab::make_namespace(const std::string& ns) {
  if (auto added = run({"ip", "netns", "add", ns}); !added)
    return unexpected(std::move(added).error());
  namespaces_.push_back(ns);
  register_namespace(ns);
  return run_all({{"ip", "-n", ns, "link", "set", "lo", "up"}});
}

bool NetLab::spawn(testing::Process& proc, const std::string& ns,
                   const std::vector<std::string>& args, const std::string& log_name) {
  std::vector<std::string> full = {"ip", "netns", "exec", ns};
  full.insert(full.end(), args.begin(), args.end());
  const auto log = dir_ / log_name;
  fs::create_directories(log.parent_path());
  if (!proc.start(full, log)) return false;
  register_process(proc.pid());
  return true;
}

Expected<void, std::string> NetLab::start() {
  sweep_stale();
  const std::string& I = internet_;
  if (auto made = make_namespace(I); !made) return made;
  if (auto routed = run_all({
          {"ip", "-n", I, "addr", "add", std::string(kServerAddress) + "/32", "dev", "lo"},
          // The internet drops what it cannot route, silently.
          {"ip", "-n", I, "route", "add", "blackhole", "default"},
          {"ip", "netns", "exec", I, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
      });
      !routed)
    return routed;
  std::vector<std::string> tracker_args = {meshcast_,
                                           "tracker",
                                           "--listen",
                                           std::string(kServerAddress) + ":8700",
                                           "--quiet",
                                           "--stats",
                                           (dir_ / "tracker_stats.jsonl").string()};
  if (!turn_rest_secret_.empty()) {
    const fs::path secret = dir_ / "turn_secret";
    {
      std::ofstream f(secret);
      f << turn_rest_secret_ << "\n";
    }
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    const std::string server = std::string(kServerAddress) + ":3478";
    tracker_args.insert(tracker_args.end(),
                        {"--turn-uris", "turn:" + server + ",turn:" + server + "?transport=tcp",
                         "--turn-secret-file", secret.string()});
  }
  tracker_args_ = std::move(tracker_args);
  if (auto tracker = start_tracker(); !tracker) return tracker;
  CoturnProcess::Options co;
  co.listen_ip = kServerAddress;
  co.user = kTurnUser;
  co.password = kTurnPassword;
  co.deny_private_peers = coturn_denies_private_peers_;
  co.auth_secret = turn_rest_secret_;
  coturn_ = std::make_unique<CoturnProcess>(I, dir_, co);
  return coturn_->start([&](testing::Process& p, const std::vector<std::string>& args) {
    return spawn(p, I, args, "turnserver");
  });
}

Expected<void, std::string> NetLab::start_tracker() {
  // The first one logs to tracker.*, a restarted one to tracker-2.*, ...
  const int n = ++trackers_started_;
  const std::string log = n == 1 ? "tracker" : "tracker-" + std::to_string(n);
  tracker_ = std::make_unique<testing::Process>();
  if (!spawn(*tracker_, internet_, tracker_args_, log))
    return unexpected("cannot start the tracker");
  bool listening = false;
  for (int i = 0; i < 500 && tracker_->running() && !listening; ++i) {
    listening = tracker_->out().find("listening on") != std::string::npos;
    if (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!listening) return unexpected("tracker did not start: " + tracker_->err());
  return {};
}

bool NetLab::kill_tracker() {
  if (!tracker_->running()) return false;
  kill(-tracker_->pid(), SIGKILL);
  return tracker_->wait(5000).has_value();
}

Expected<void, std::string> NetLab::restart_tracker() {
  if (tracker_->running()) return unexpected("the tracker is still running");
  return start_tracker();
}

Expected<void, std::string> NetLab::set_tracker_reachable(bool reachable) {
  const std::string op = reachable ? "-D" : "-I";
  auto rule = [&](const char* chain, const char* dir) -> std::vector<std::string> {
    return {"ip",  "netns", "exec", internet_, "iptables", "-w", op,
            chain, "-p",    "tcp",  dir,       "8700",     "-j", "DROP"};
  };
  return run_all({rule("INPUT", "--dport"), rule("OUTPUT", "--sport")});
}

Expected<void, std::string> NetLab::attach_to_internet(const std::string& ns,
                                                       const std::string& address) {
  const std::string I = internet_, port = "p" + std::to_string(++attached_);
  // Point-to-point links: each node gets a /32 and reaches the gateway on-link.
  return run_all({
      {"ip", "-n", I, "link", "add", port, "type", "veth", "peer", "name", "wan", "netns", ns},
      {"ip", "-n", I, "addr", "add", std::string(kGateway) + "/32", "dev", port},
      {"ip", "-n", I, "link", "set", port, "up"},
      {"ip", "-n", I, "route", "add", address + "/32", "dev", port},
      {"ip", "-n", ns, "addr", "add", address + "/32", "dev", "wan"},
      {"ip", "-n", ns, "link", "set", "wan", "up"},
      {"ip", "-n", ns, "route", "add", std::string(kGateway) + "/32", "dev", "wan"},
      {"ip", "-n", ns, "route", "add", "default", "via", kGateway, "dev", "wan"},
  });
}

Expected<const LabHost*, std::string> NetLab::add_host(const std::string& name, RouterKind kind,
                                                       int uplink_kbps) {
  const int index = static_cast<int>(hosts_.size()) + 1;
  if (index > 80) return unexpected("too many hosts");
  auto h = std::make_unique<LabHost>();
  h->name = name;
  h->kind = kind;
  const std::string base = prefix_ + std::to_string(getpid()) + "-";
  h->ns = base + name;
  if (auto made = make_namespace(h->ns); !made) return unexpected(std::move(made).error());
  if (kind == RouterKind::kPublic) {
    h->address = h->wan_address = "203.0.113." + std::to_string(100 + index);
    if (auto attached = attach_to_internet(h->ns, h->address); !attached)
      return unexpected(std::move(attached).error());
  } else {
    h->router_ns = base + "r" + name;
    h->wan_address = "203.0.113." + std::to_string(10 + index);
    const std::string lan = "192.168." + std::to_string(index);
    h->address = lan + ".2";
    const std::string& R = h->router_ns;
    auto routed = make_namespace(R);
    if (routed) routed = attach_to_internet(R, h->wan_address);
    if (routed)
      routed = run_all({
          {"ip", "-n", R, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns",
           h->ns},
          {"ip", "-n", R, "addr", "add", lan + ".1/24", "dev", "lan"},
          {"ip", "-n", R, "link", "set", "lan", "up"},
          {"ip", "-n", h->ns, "addr", "add", h->address + "/24", "dev", "eth0"},
          {"ip", "-n", h->ns, "link", "set", "eth0", "up"},
          {"ip", "-n", h->ns, "route", "add", "default", "via", lan + ".1"},
      });
    if (routed) routed = configure_router(*h);
    if (!routed) return unexpected(std::move(routed).error());
  }
  if (uplink_kbps > 0) {
    // On the host's own egress, so its uplink (not the router) is the bottleneck. The bucket
    // holds 20 ms at the rate (at least a few full packets): bursts pass as on a modem.
    const int burst = std::max(4 * 1514, uplink_kbps * 1000 / 8 / 50);
    if (auto shaped = run({"tc", "-n", h->ns, "qdisc", "add", "dev",
                           kind == RouterKind::kPublic ? "wan" : "eth0", "root", "tbf", "rate",
                           std::to_string(uplink_kbps) + "kbit", "burst", std::to_string(burst),
                           "latency", std::to_string(kUplinkQueueMs) + "ms"});
        !shaped)
      return unexpected(std::move(shaped).error());
    h->uplink_kbps = uplink_kbps;
  }
  hosts_.push_back(std::move(h));
  return hosts_.back().get();
}

// The router's NAT and a home router's firewall: the router itself takes nothing unasked
// from outside (so a peer's early punch cannot claim a conntrack entry on the WAN address
// that our own outgoing flow then clashes with), forwarding outside -> inside only for
// established flows (and, for full cone, any UDP to a mapped port).
Expected<void, std::string> NetLab::configure_router(const LabHost& h) {
  std::ostringstream r;
  r << "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    << ":POSTROUTING ACCEPT [0:0]\n";
  r << "-A POSTROUTING -o wan -j MASQUERADE"
    << (h.kind == RouterKind::kSymmetric ? " --random-fully" : "") << "\n";
  if (h.kind == RouterKind::kFullCone)
    // MASQUERADE keeps the source port when it can, so WAN:port maps back to the host's
    // port for anyone who sends to it.
    r << "-A PREROUTING -i wan -p udp -j DNAT --to-destination " << h.address << "\n";
  r << "COMMIT\n";
  r << "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    << "-A INPUT -i lo -j ACCEPT\n"
    << "-A INPUT -i lan -j ACCEPT\n"
    << "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
    << "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n";
  if (h.kind == RouterKind::kUdpBlocked)
    r << "-A FORWARD -i lan -o wan -p tcp -j ACCEPT\n";
  else
    r << "-A FORWARD -i lan -o wan -j ACCEPT\n";
  if (h.kind == RouterKind::kFullCone)
    r << "-A FORWARD -i wan -o lan -p udp -m conntrack --ctstate DNAT -j ACCEPT\n";
  r << "COMMIT\n";
  const auto rules = dir_ / (h.name + "_router.rules");
  std::ofstream(rules) << r.str();
  return run_all({{"ip", "netns", "exec", h.router_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
                  {"ip", "netns", "exec", h.router_ns, "iptables-restore", rules.string()}});
}

Expected<void, std::string> NetLab::set_path_cut(const LabHost& h, bool cut) {
  if (h.router_ns.empty()) return unexpected(h.name + " has no router");
  if (cut)
    return run_all({{"ip", "netns", "exec", h.router_ns, "iptables", "-w", "-I", "FORWARD", "1",
                     "-j", "DROP"}});
  return run_all({{"ip", "netns", "exec", h.router_ns, "iptables", "-w", "-D", "FORWARD", "1"}});
}

Expected<void, std::string> NetLab::set_wan_link(const LabHost& h, bool up) {
  if (h.router_ns.empty()) return unexpected(h.name + " has no router");
  const std::string& R = h.router_ns;
  if (!up) return run_all({{"ip", "-n", R, "link", "set", "wan", "down"}});
  // The routes over the link went away with it.
  return run_all({{"ip", "-n", R, "link", "set", "wan", "up"},
                  {"ip", "-n", R, "route", "replace", std::string(kGateway) + "/32", "dev", "wan"},
                  {"ip", "-n", R, "route", "replace", "default", "via", kGateway, "dev", "wan"}});
}

std::string NetLab::tracker_url() const {
  return "ws://" + std::string(kServerAddress) + ":8700/ws";
}
std::vector<std::string> NetLab::server_args(const LabHost& h) const {
  std::vector<std::string> a = {"--tracker", tracker_url(), "--local-address", h.address,
                                "--stun",    stun_uri(),    "--turn",          turn_udp_uri()};
  if (h.kind == RouterKind::kUdpBlocked) a.insert(a.end(), {"--turn", turn_tcp_uri()});
  return a;
}
std::string NetLab::stun_uri() const { return "stun:" + std::string(kServerAddress) + ":3478"; }
std::string NetLab::turn_udp_uri() const {
  return "turn:" + std::string(kTurnUser) + ":" + kTurnPassword + "@" + kServerAddress + ":3478";
}
std::string NetLab::turn_tcp_uri() const { return turn_udp_uri() + "?transport=tcp"; }
std::string NetLab::turn_tls_uri() const {
  return "turns:" + std::string(kTurnUser) + ":" + kTurnPassword + "@" + kServerAddress + ":5349";
}

bool NetLab::wait_for_tracker_peers(int n, int timeout_ms) {
  // Only lines written from now on count: an earlier line may describe an earlier call.
  const double since =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(dir_ / "tracker_stats.jsonl");
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    auto j = nlohmann::json::parse(last, nullptr, false);
    if (j.is_object() && j.value("t", 0.0) > since && j.value("peers", 0) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void NetLab::teardown() {
  if (coturn_) coturn_->stop();
  tracker_->stop();
  // Anything still running inside (a test's process that was not stopped) goes first, so
  // the namespaces really disappear.
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    std::istringstream in(run({"ip", "netns", "pids", *it}).value_or(""));
    for (pid_t p; in >> p;) kill(p, SIGKILL);
    (void)run({"ip", "netns", "del", *it});  // best effort
    unregister_namespace(*it);
  }
  namespaces_.clear();
}

}  // namespace meshcast::netlab
