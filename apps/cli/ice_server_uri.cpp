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
bool parse_host_port(std::string_view s, bool need_port, IceServerUri* u, std::string* error) {
  std::string_view host, port;
  if (starts_with(s, "[")) {
    size_t close = s.find(']');
    if (close == s.npos) return *error = "unclosed '[' around an IPv6 address", false;
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return *error = "unexpected text after ']'", false;
      port = rest.substr(1);
      if (port.empty()) return *error = "empty port", false;
    }
    if (!is_ipv6(std::string(host)))
      return *error = "'" + std::string(host) + "' is not an IPv6 address", false;
  } else {
    size_t colon = s.find(':');
    if (colon != s.npos && s.find(':', colon + 1) != s.npos)
      return *error = "an IPv6 address needs brackets: [ADDRESS]:PORT", false;
    host = s.substr(0, colon);
    if (colon != s.npos) {
      port = s.substr(colon + 1);
      if (port.empty()) return *error = "empty port", false;
    }
  }
  if (host.empty()) return *error = "no host", false;
  u->host = std::string(host);
  u->host_is_ip = is_ipv4(u->host) || is_ipv6(u->host);
  if (!u->host_is_ip && !is_host_name(host))
    return *error = "'" + u->host + "' is neither an IP address nor a host name", false;
  if (port.empty()) {
    if (need_port) return *error = "a port is required (HOST:PORT)", false;
  } else if (!parse_port(port, &u->port)) {
    return *error = "port '" + std::string(port) + "' is not in 1-65535", false;
  }
  return true;
}

bool check_text(std::string_view text, std::string* error) {
  if (text.empty()) return *error = "empty", false;
  if (text.size() > kMaxIceServerUriLength)
    return *error = "longer than " + std::to_string(kMaxIceServerUriLength) + " bytes", false;
  for (unsigned char c : text)
    if (c <= 0x20 || c >= 0x7f) return *error = "spaces, control or non-ASCII characters", false;
  return true;
}

}  // namespace

std::optional<IceServerUri> parse_turn_uri(std::string_view text, std::string* error) {
  if (!check_text(text, error)) return std::nullopt;
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
    *error = "not a TURN URI (turn:USER:PASS@HOST[:PORT][?transport=udp|tcp] or turns:...)";
    return std::nullopt;
  } else {
    legacy = true;
    u.scheme = IceServerUri::Scheme::kTurn;
  }
  if (starts_with(rest, "//"))
    return *error = "write turn:USER:PASS@HOST, not turn://", std::nullopt;
  std::string_view query;
  bool has_query = false;
  if (size_t q = rest.find('?'); q != rest.npos) {
    has_query = true;
    if (legacy) return *error = "USER:PASS@HOST:PORT takes no '?...' (use turn:...)", std::nullopt;
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t at = rest.rfind('@');
  if (at == rest.npos)
    return *error = "credentials are missing: USER:PASS@ before the host", std::nullopt;
  std::string_view creds = rest.substr(0, at);
  size_t colon = creds.find(':');
  if (colon == creds.npos) return *error = "credentials must be USER:PASS", std::nullopt;
  std::string_view user = creds.substr(0, colon), pass = creds.substr(colon + 1);
  if (user.empty() || pass.empty()) return *error = "empty TURN user or password", std::nullopt;
  if (user.size() > kMaxTurnCredentialLength || pass.size() > kMaxTurnCredentialLength)
    return *error = "TURN user or password longer than " +
                    std::to_string(kMaxTurnCredentialLength) + " bytes",
           std::nullopt;
  u.username = std::string(user);
  u.password = std::string(pass);
  if (!parse_host_port(rest.substr(at + 1), legacy, &u, error)) return std::nullopt;
  if (has_query) {
    // RFC 7065 defines one parameter.
    if (query == "transport=tcp") {
      if (u.scheme == IceServerUri::Scheme::kTurn) u.transport = link::RelayTransport::kTcp;
    } else if (query == "transport=udp") {
      if (u.scheme == IceServerUri::Scheme::kTurns)
        return *error = "turns: with transport=udp (DTLS) is not supported", std::nullopt;
    } else {
      return *error = "unknown parameter '" + std::string(query) +
                      "' (only transport=udp or transport=tcp)",
             std::nullopt;
    }
  }
  return u;
}

std::optional<IceServerUri> parse_stun_uri(std::string_view text, std::string* error) {
  if (!check_text(text, error)) return std::nullopt;
  IceServerUri u;
  std::string_view rest = text;
  bool legacy = true;
  if (starts_with(text, "stun:")) {
    rest.remove_prefix(5);
    legacy = false;
  } else if (starts_with(text, "stuns:")) {
    return *error = "stuns: (STUN over TLS) is not supported", std::nullopt;
  } else if (starts_with(text, "turn:") || starts_with(text, "turns:") ||
             text.find("://") != text.npos) {
    return *error = "not a STUN URI (stun:HOST[:PORT])", std::nullopt;
  }
  if (rest.find('@') != rest.npos)
    return *error = "a STUN server takes no credentials", std::nullopt;
  if (rest.find('?') != rest.npos) return *error = "a STUN URI takes no parameters", std::nullopt;
  if (!parse_host_port(rest, legacy, &u, error)) return std::nullopt;
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
      std::string url = u.get<std::string>(), err;
      const auto colon = url.find(':');
      if (colon == std::string::npos) {
        ++bad;
        continue;
      }
      auto parsed = parse_turn_uri(url.substr(0, colon + 1) + "u:p@" + url.substr(colon + 1), &err);
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
