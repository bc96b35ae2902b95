#include "apps/cli/ice_server_uri.hpp"

#include <arpa/inet.h>

namespace meshcast::app {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_ipv4(const std::string& s) {
  in_addr a;
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool is_ipv6(const std::string& s) {
  in6_addr a;
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxHostNameLength) return false;
  size_t start = 0;
  bool all_numeric = true;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      bool digit = c >= '0' && c <= '9';
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!digit && !alpha && c != '-') return false;
      all_numeric &= digit;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !all_numeric;  // "1.2.3.256" is a broken address, not a name
}

bool parse_port(std::string_view p, uint16_t* port) {
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + unsigned(c - '0');
  }
  if (v < 1 || v > 65535) return false;
  *port = uint16_t(v);
  return true;
}

// HOST[:PORT] into `u`; `need_port` for the older forms.
Expected<void, std::string> parse_host_port(std::string_view s, bool need_port, IceServerUri* u) {
  std::string_view host, port;
  if (starts_with(s, "[")) {
    size_t close = s.find(']');
    if (close == s.npos) return unexpected("unclosed '[' around an IPv6 address");
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return unexpected("unexpected text after ']'");
      port = rest.substr(1);
      if (port.empty()) return unexpected("empty port");
    }
    if (!is_ipv6(std::string(host)))
      return unexpected("'" + std::string(host) + "' is not an IPv6 address");
  } else {
    size_t colon = s.find(':');
    if (colon != s.npos && s.find(':', colon + 1) != s.npos)
      return unexpected("an IPv6 address needs brackets: [ADDRESS]:PORT");
    host = s.substr(0, colon);
    if (colon != s.npos) {
      port = s.substr(colon + 1);
      if (port.empty()) return unexpected("empty port");
    }
  }
  if (host.empty()) return unexpected("no host");
  u->host = std::string(host);
  u->host_is_ip = is_ipv4(u->host) || is_ipv6(u->host);
  if (!u->host_is_ip && !is_host_name(host))
    return unexpected("'" + u->host + "' is neither an IP address nor a host name");
  if (port.empty()) {
    if (need_port) return unexpected("a port is required (HOST:PORT)");
  } else if (!parse_port(port, &u->port)) {
    return unexpected("port '" + std::string(port) + "' is not in 1-65535");
  }
  return {};
}

Expected<void, std::string> check_text(std::string_view text) {
  if (text.empty()) return unexpected("empty");
  if (text.size() > kMaxIceServerUriLength)
    return unexpected("longer than " + std::to_string(kMaxIceServerUriLength) + " bytes");
  for (unsigned char c : text)
    if (c <= 0x20 || c >= 0x7f) return unexpected("spaces, control or non-ASCII characters");
  return {};
}

}  // namespace

Expected<IceServerUri, std::string> parse_turn_uri(std::string_view text) {
  if (auto ok = check_text(text); !ok) return unexpected(std::move(ok).error());
  IceServerUri u;
  std::string_view rest = text;
  bool legacy = false;
  if (starts_with(text, "turn:")) {
    u.scheme = IceServerUri::Scheme::kTurn;
    rest.remove_prefix(5);
  } else if (starts_with(text, "turns:")) {
    u.scheme = IceServerUri::Scheme::kTurns;
    u.transport = link::RelayTransport::kTls;
    u.port = 5349;
    rest.remove_prefix(6);
  } else if (starts_with(text, "stun:") || starts_with(text, "stuns:") ||
             text.find("://") != text.npos) {
    return unexpected(
        "not a TURN URI (turn:USER:PASS@HOST[:PORT][?transport=udp|tcp] or turns:...)");
  } else {
    legacy = true;
    u.scheme = IceServerUri::Scheme::kTurn;
  }
  if (starts_with(rest, "//")) return unexpected("write turn:USER:PASS@HOST, not turn://");
  std::string_view query;
  bool has_query = false;
  if (size_t q = rest.find('?'); q != rest.npos) {
    has_query = true;
    if (legacy) return unexpected("USER:PASS@HOST:PORT takes no '?...' (use turn:...)");
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t at = rest.rfind('@');
  if (at == rest.npos) return unexpected("credentials are missing: USER:PASS@ before the host");
  std::string_view creds = rest.substr(0, at);
  size_t colon = creds.find(':');
  if (colon == creds.npos) return unexpected("credentials must be USER:PASS");
  std::string_view user = creds.substr(0, colon), pass = creds.substr(colon + 1);
  if (user.empty() || pass.empty()) return unexpected("empty TURN user or password");
  if (user.size() > kMaxTurnCredentialLength || pass.size() > kMaxTurnCredentialLength)
    return unexpected("TURN user or password longer than " +
                      std::to_string(kMaxTurnCredentialLength) + " bytes");
  u.username = std::string(user);
  u.password = std::string(pass);
  if (auto ok = parse_host_port(rest.substr(at + 1), legacy, &u); !ok)
    return unexpected(std::move(ok).error());
  if (has_query) {
    // RFC 7065 defines one parameter.
    if (query == "transport=tcp") {
      if (u.scheme == IceServerUri::Scheme::kTurn) u.transport = link::RelayTransport::kTcp;
    } else if (query == "transport=udp") {
      if (u.scheme == IceServerUri::Scheme::kTurns)
        return unexpected("turns: with transport=udp (DTLS) is not supported");
    } else {
      return unexpected("unknown parameter '" + std::string(query) +
                        "' (only transport=udp or transport=tcp)");
    }
  }
  return u;
}

Expected<IceServerUri, std::string> parse_stun_uri(std::string_view text) {
  if (auto ok = check_text(text); !ok) return unexpected(std::move(ok).error());
  IceServerUri u;
  std::string_view rest = text;
  bool legacy = true;
  if (starts_with(text, "stun:")) {
    rest.remove_prefix(5);
    legacy = false;
  } else if (starts_with(text, "stuns:")) {
    return unexpected("stuns: (STUN over TLS) is not supported");
  } else if (starts_with(text, "turn:") || starts_with(text, "turns:") ||
             text.find("://") != text.npos) {
    return unexpected("not a STUN URI (stun:HOST[:PORT])");
  }
  if (rest.find('@') != rest.npos) return unexpected("a STUN server takes no credentials");
  if (rest.find('?') != rest.npos) return unexpected("a STUN URI takes no parameters");
  if (auto ok = parse_host_port(rest, legacy, &u); !ok) return unexpected(std::move(ok).error());
  return u;
}

std::vector<link::TurnServer> turn_servers_from_tracker(const nlohmann::json& ice_servers,
                                                        int* skipped) {
  std::vector<link::TurnServer> out;
  int bad = 0;
  if (!ice_servers.is_array()) return out;
  for (const auto& e : ice_servers) {
    if (!e.is_object() || !e.contains("urls") || !e["urls"].is_array() ||
        !e.value("username", nlohmann::json()).is_string() ||
        !e.value("credential", nlohmann::json()).is_string()) {
      ++bad;
      continue;
    }
    const std::string user = e["username"], pass = e["credential"];
    if (user.empty() || pass.empty() || user.size() > kMaxTurnCredentialLength ||
        pass.size() > kMaxTurnCredentialLength) {
      ++bad;
      continue;
    }
    for (const auto& u : e["urls"]) {
      if (!u.is_string() || out.size() >= 8) {
        ++bad;
        continue;
      }
      // The URL carries no credentials (they contain ':'): parse it with placeholders.
      std::string url = u.get<std::string>();
      const auto colon = url.find(':');
      if (colon == std::string::npos) {
        ++bad;
        continue;
      }
      auto parsed = parse_turn_uri(url.substr(0, colon + 1) + "u:p@" + url.substr(colon + 1));
      if (!parsed || !parsed->host_is_ip) {
        ++bad;
        continue;
      }
      link::TurnServer t;
      t.host = parsed->host;
      t.port = parsed->port;
      t.transport = parsed->transport;
      t.username = user;
      t.password = pass;
      out.push_back(std::move(t));
    }
  }
  if (skipped) *skipped = bad;
  return out;
}

}  // namespace meshcast::app
