// redis://HOST:PORT[/DB], the address of a tracker cluster's Redis (meshcast tracker --cluster).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshcast::signaling {

struct RedisUrl {
  std::string host;  // name, IPv4, or IPv6 without brackets
  uint16_t port = 6379;
  int db = 0;
};

// Nullopt (and `why`) for anything else: other schemes, user info, a query, a path that is not
// a database number 0..15, a port outside 1..65535.
std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string* why = nullptr);

}  // namespace meshcast::signaling
