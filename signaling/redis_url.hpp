// redis://HOST:PORT[/DB], the address of a tracker cluster's Redis (meshcast tracker --cluster).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/base/expected.hpp"

namespace meshcast::signaling {

struct RedisUrl {
  std::string host;  // name, IPv4, or IPv6 without brackets
  uint16_t port = 6379;
  int db = 0;
};

// Refuses anything else, saying why: other schemes, user info, a query, a path that is not a
// database number 0..15, a port outside 1..65535.
Expected<RedisUrl, std::string> parse_redis_url(std::string_view url);

}  // namespace meshcast::signaling
