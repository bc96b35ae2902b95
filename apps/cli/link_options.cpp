#include "apps/cli/link_options.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include "apps/cli/ice_server_uri.hpp"
#include "apps/cli/tracker_url.hpp"

namespace meshcast::app {
namespace {

// Strict dotted-quad IPv4 or IPv6 text (inet_pton), as libnice parses addresses.
bool valid_ip(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// libnice can ask one STUN server per agent; more are accepted on the command line so
// scripts can list alternatives, and the first one is used.
constexpr size_t kMaxStunServers = 8;

}  // namespace

Expected<std::string, std::string> resolve_host_once(const std::string& host) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return unexpected("cannot resolve '" + host + "': " + gai_strerror(rc));
  char buf[NI_MAXHOST];
  rc = getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
  freeaddrinfo(res);
  if (rc != 0) return unexpected("cannot resolve '" + host + "': " + gai_strerror(rc));
  return std::string(buf);
}

Expected<void, std::string> parse_link_options(const Args& args, link::LinkConfig* cfg) {
  if (args.has("local-address")) {
    std::string v = args.get("local-address");
    cfg->local_addresses.clear();
    if (v != "all") {
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string a =
            v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!valid_ip(a))
          return unexpected("--local-address: '" + a + "' is not a numeric IP address");
        cfg->local_addresses.push_back(a);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  }
  auto stuns = args.get_all("stun");
  if (stuns.size() > kMaxStunServers)
    return unexpected("at most " + std::to_string(kMaxStunServers) + " --stun servers");
  for (size_t i = 0; i < stuns.size(); ++i) {
    auto u = parse_stun_uri(stuns[i]);
    if (!u) return unexpected("--stun '" + stuns[i] + "': " + u.error());
    std::string ip = u->host;
    if (!u->host_is_ip) {
      auto resolved = resolve_host_once(u->host);
      if (!resolved) return unexpected("--stun: " + resolved.error());
      ip = std::move(*resolved);
    }
    if (i == 0) {
      cfg->stun_host = ip;
      cfg->stun_port = u->port;
    }
  }
  auto turns = args.get_all("turn");
  if (turns.size() > link::kMaxTurnServers)
    return unexpected("at most " + std::to_string(link::kMaxTurnServers) + " --turn servers");
  cfg->turn_servers.clear();
  for (const auto& t : turns) {
    auto u = parse_turn_uri(t);
    // The text may hold a password: name the problem, not the value.
    if (!u) return unexpected("--turn: " + u.error());
    link::TurnServer s;
    s.host = u->host;
    if (!u->host_is_ip) {
      auto resolved = resolve_host_once(u->host);
      if (!resolved) return unexpected("--turn: " + resolved.error());
      s.host = std::move(*resolved);
    }
    s.port = u->port;
    s.username = u->username;
    s.password = u->password;
    s.transport = u->transport;
    s.tls_name = u->host;  // the certificate names what the user wrote
    cfg->turn_servers.push_back(std::move(s));
  }
  cfg->turn_ca_file.clear();
  if (args.has("turn-ca")) {
    cfg->turn_ca_file = args.get("turn-ca");
    if (cfg->turn_ca_file.empty() || access(cfg->turn_ca_file.c_str(), R_OK) != 0)
      return unexpected("--turn-ca: cannot read '" + cfg->turn_ca_file + "'");
  }
  return {};
}

Expected<std::string, std::string> parse_tracker_and_link_options(const Args& args,
                                                                  link::LinkConfig* cfg) {
  if (auto linked = parse_link_options(args, cfg); !linked) return unexpected(linked.error());
  return parse_tracker_option(args);
}

}  // namespace meshcast::app
