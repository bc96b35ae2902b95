// A NAT lab in Linux network namespaces: an "internet" namespace (documentation ranges,
// a blackhole default route like the real internet has for unrouted addresses) holding
// the tracker and coturn, and hosts either on it directly or behind a router namespace
// that does NAT and a home router's firewall. Nothing is attached to the machine's own
// interfaces or routes; every interface is created inside the lab's namespaces.
//
// Names are PREFIX<pid>-<node>, so runs in parallel do not collide and the namespaces of a
// killed run (dead pid) are swept by the next one. Everything is removed by the destructor,
// and by a SIGINT/SIGTERM handler (processes killed, namespaces unmounted) while a lab
// exists.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mesh/base/expected.hpp"
#include "tests/integration/common/test_processes.hpp"
#include "tests/netlab/coturn_process.hpp"

namespace meshcast::netlab {

namespace fs = std::filesystem;

enum class RouterKind {
  kPublic,          // no router: a public address on the internet
  kFullCone,        // NAT, port kept, any outside host may send to a mapped port
  kPortRestricted,  // NAT, port kept, only replies from the address:port we sent to
  kSymmetric,       // NAT with a random port per destination (MASQUERADE --random-fully)
  kUdpBlocked,      // NAT, and only TCP leaves the network
};
const char* to_string(RouterKind k);

struct LabHost {
  std::string name;
  RouterKind kind;
  std::string ns;           // the host's namespace
  std::string address;      // its own address (private behind a router)
  std::string router_ns;    // empty for kPublic
  std::string wan_address;  // the router's public address (= address for kPublic)
  int uplink_kbps = 0;      // tbf rate on the host's egress (0: no cap)
};

class NetLab {
 public:
  // Public side of the lab: the servers' address and the routers' gateway.
  static constexpr const char* kServerAddress = "198.51.100.1";
  static constexpr const char* kGateway = "203.0.113.1";
  static constexpr const char* kTurnUser = "lab";
  static constexpr const char* kTurnPassword = "lab-secret";

  // Root, `ip netns` and iptables work here; otherwise why not.
  static Expected<void, std::string> available();

  // `meshcast` is the binary the lab runs (tracker) and hosts run.
  NetLab(std::string meshcast, std::string prefix = "mcnl");
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // Call before start(): coturn without its denied-peer-ip rules (to show why they exist).
  void set_coturn_denies_private_peers(bool deny) { coturn_denies_private_peers_ = deny; }
  // Call before start(): coturn accepts only TURN REST credentials made from `secret`, and
  // the tracker hands such credentials (UDP and TCP) to every peer it admits.
  void set_turn_rest_secret(std::string secret) { turn_rest_secret_ = std::move(secret); }
  // Sweeps stale namespaces, builds the internet namespace, starts tracker and coturn.
  Expected<void, std::string> start();
  // A host behind a router of `kind` (public: on the internet itself). uplink_kbps > 0 caps
  // what the host sends (tc tbf on its own egress interface, like a modem's uplink: a queue
  // of kUplinkQueueMs at that rate, then drops).
  Expected<const LabHost*, std::string> add_host(const std::string& name, RouterKind kind,
                                                 int uplink_kbps = 0);
  static constexpr int kUplinkQueueMs = 400;

  // Starts `args` inside `ns` (ip netns exec) as `proc`; logs go to dir()/log_name.*.
  // The process is killed by the signal handler too.
  bool spawn(testing::Process& proc, const std::string& ns, const std::vector<std::string>& args,
             const std::string& log_name);

  std::string tracker_url() const;
  std::string stun_uri() const;
  std::string turn_udp_uri() const;
  std::string turn_tcp_uri() const;
  // --tracker, --local-address, --stun and --turn (UDP; TCP too for a host without UDP) for
  // a meshcast process on `h`.
  std::vector<std::string> server_args(const LabHost& h) const;
  std::string turn_tls_uri() const;
  // A --stats line of the tracker written after this call has at least n peers (waits up
  // to timeout_ms; the tracker writes one a second).
  bool wait_for_tracker_peers(int n, int timeout_ms);

  const fs::path& dir() const { return dir_; }
  const std::string& internet_ns() const { return internet_; }
  CoturnProcess& coturn() { return *coturn_; }
  testing::Process& tracker() { return *tracker_; }

  // A tracker outage: SIGKILL (no goodbye to anyone, as a crashed host), then a new tracker
  // on the same address and port, in the same namespace, with the same arguments. It starts
  // empty, as a restarted tracker does; its --stats go to the same file (truncated), its
  // logs to tracker-<n>.*.
  bool kill_tracker();
  Expected<void, std::string> restart_tracker();
  // Unreachable: the internet namespace drops every packet to and from the tracker's port, so
  // its host looks crashed or cut off from afar (no FIN, no RST, connects unanswered).
  Expected<void, std::string> set_tracker_reachable(bool reachable);

  // A routed host's path cut (or restored): its router drops everything it would forward
  // (first FORWARD rule). NAT mappings survive a cut.
  Expected<void, std::string> set_path_cut(const LabHost& h, bool cut);
  // The router's WAN link down, or up again with its routes. Going down, the kernel forgets
  // every MASQUERADE mapping of the link (what `conntrack -F` would do to them): afterwards
  // each flow gets a new mapping, a symmetric router a new random port.
  Expected<void, std::string> set_wan_link(const LabHost& h, bool up);

  // Runs a command to completion (bounded): its stdout, or an error with its stderr.
  Expected<std::string, std::string> run(const std::vector<std::string>& args);
  // Runs commands in order up to the first that fails; that one's error.
  Expected<void, std::string> run_all(const std::vector<std::vector<std::string>>& commands);

 private:
  Expected<void, std::string> make_namespace(const std::string& ns);
  Expected<void, std::string> attach_to_internet(const std::string& ns, const std::string& address);
  Expected<void, std::string> configure_router(const LabHost& h);
  Expected<void, std::string> start_tracker();
  void sweep_stale();
  void teardown();

  std::string meshcast_, prefix_, internet_;
  fs::path dir_;
  std::vector<std::string> namespaces_;
  std::vector<std::unique_ptr<LabHost>> hosts_;
  int attached_ = 0;  // veths on the internet namespace
  std::vector<std::string> tracker_args_;
  std::unique_ptr<testing::Process> tracker_ = std::make_unique<testing::Process>();
  int trackers_started_ = 0;
  std::unique_ptr<CoturnProcess> coturn_;
  int cmd_seq_ = 0;
  bool coturn_denies_private_peers_ = true;
  std::string turn_rest_secret_;
};

}  // namespace meshcast::netlab
