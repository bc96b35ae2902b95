#include "signaling/redis_url.hpp"

#include <cctype>

namespace meshcast::signaling {

namespace {

std::optional<long> small_number(std::string_view s, long max) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  long v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

}  // namespace

Expected<RedisUrl, std::string> parse_redis_url(std::string_view url) {
  auto fail = [](const char* why) { return unexpected(std::string(why)); };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return fail("the URL must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("@?#") != std::string_view::npos)
    return fail("user info, queries and fragments are not supported");
  RedisUrl r;
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return fail("unclosed [ in the host");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after ]");
      port = after.substr(1);
      if (port.empty()) return fail("empty port");
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return fail("empty port");
    if (host.find(':') != std::string_view::npos) return fail("an IPv6 host needs [ ]");
  }
  if (host.empty() || host.size() > 253) return fail("missing or too long host");
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '_'))
      return fail("bad character in the host");
  r.host = std::string(host);
  if (!port.empty()) {
    auto p = small_number(port, 65535);
    if (!p || *p == 0) return fail("port must be 1..65535");
    r.port = static_cast<uint16_t>(*p);
  }
  if (!path.empty()) {
    auto d = small_number(path, 15);
    if (!d) return fail("the path must be a database number 0..15");
    r.db = static_cast<int>(*d);
  }
  return r;
}

}  // namespace meshcast::signaling
