#include "apps/cli/link_options.hpp"

#include <gio/gio.h>

namespace meshcast::app {
namespace {
bool valid_ip(const std::string& s) {
  GInetAddress* a = g_inet_address_new_from_string(s.c_str());
  if (!a) return false;
  g_object_unref(a);
  return true;
}
bool host_port(const std::string& s, std::string* host, uint16_t* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = s.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return false;
  long v = std::stol(p);
  if (v < 1 || v > 65535) return false;
  *port = uint16_t(v);
  return valid_ip(*host);
}
}  // namespace

bool parse_link_options(const Args& args, link::LinkConfig* cfg, std::string* error) {
  if (args.has("local-address")) {
    std::string v = args.get("local-address");
    cfg->local_addresses.clear();
    if (v != "all") {
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string a =
            v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!valid_ip(a)) {
          *error = "--local-address: '" + a + "' is not a numeric IP address";
          return false;
        }
        cfg->local_addresses.push_back(a);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  }
  if (args.has("stun") && !host_port(args.get("stun"), &cfg->stun_host, &cfg->stun_port)) {
    *error = "--stun must be NUMERIC_IP:PORT, got '" + args.get("stun") + "'";
    return false;
  }
  if (args.has("turn")) {
    std::string v = args.get("turn");
    auto at = v.rfind('@');
    auto colon = v.find(':');
    if (at == std::string::npos || colon == std::string::npos || colon > at ||
        !host_port(v.substr(at + 1), &cfg->turn.host, &cfg->turn.port)) {
      *error = "--turn must be USER:PASS@NUMERIC_IP:PORT";
      return false;
    }
    cfg->turn.username = v.substr(0, colon);
    cfg->turn.password = v.substr(colon + 1, at - colon - 1);
  }
  return true;
}

}  // namespace meshcast::app
