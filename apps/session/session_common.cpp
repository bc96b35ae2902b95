#include "apps/session/session_common.hpp"

#include <algorithm>
#include <cmath>

#include "apps/cli/ice_server_uri.hpp"
#include "mesh/core/segment.hpp"

namespace meshcast::app {

uint64_t stream_id_for(const std::string& name) {
  auto d = mesh::sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()});
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | d[i];
  return id;
}

std::string to_hex(const uint8_t* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(digits[data[i] >> 4]);
    s.push_back(digits[data[i] & 15]);
  }
  return s;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(const std::string& hex, size_t expect, std::vector<uint8_t>* out) {
  if (hex.size() != 2 * expect) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(uint8_t(hi * 16 + lo));
  }
  return true;
}

link::LinkConfig with_tracker_turn(link::LinkConfig cfg, const signaling::TrackerClient& client) {
  if (cfg.turn_servers.empty()) cfg.turn_servers = turn_servers_from_tracker(client.ice_servers());
  return cfg;
}

}  // namespace meshcast::app
