#include "mesh/link/candidate.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <vector>

namespace meshcast::link {
namespace {

bool is_ice_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

template <typename T>
bool parse_uint(std::string_view s, T max, T& out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = static_cast<T>(v);
  return true;
}

bool valid_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Unexpected<std::string> fail(std::string_view msg) {
  return unexpected("bad candidate: " + std::string(msg));
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

}  // namespace

Expected<CandidateInfo, std::string> parse_candidate(std::string_view line) {
  if (line.size() > kMaxCandidateLength) return fail("longer than 512 bytes");
  if (line.substr(0, 2) == "a=") line.remove_prefix(2);
  constexpr std::string_view kPrefix = "candidate:";
  if (line.substr(0, kPrefix.size()) != kPrefix) return fail("missing 'candidate:' prefix");
  line.remove_prefix(kPrefix.size());
  for (char c : line)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      return fail("control or non-ASCII character");

  std::vector<std::string_view> tok;
  while (!line.empty()) {
    size_t sp = line.find(' ');
    std::string_view t = line.substr(0, sp);
    if (t.empty()) return fail("empty field (double space)");
    tok.push_back(t);
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
    if (line.empty()) return fail("trailing space");
  }
  if (tok.size() < 8) return fail("fewer than 8 fields");
  if (tok.size() % 2 != 0) return fail("extension attributes must be name/value pairs");

  CandidateInfo c;
  if (tok[0].size() > 32) return fail("foundation longer than 32");
  for (char ch : tok[0])
    if (!is_ice_char(ch)) return fail("foundation has a character outside ice-char");
  c.foundation = tok[0];
  if (!parse_uint<unsigned>(tok[1], 256, c.component) || c.component == 0)
    return fail("component id must be 1..256");
  std::string transport = lower(tok[2]);
  if (transport != "udp" && transport != "tcp") return fail("transport must be UDP or TCP");
  c.transport = transport == "udp" ? "UDP" : "TCP";
  if (!parse_uint<uint32_t>(tok[3], 0xffffffffu, c.priority) || c.priority == 0)
    return fail("priority must be 1..4294967295");
  c.address = std::string(tok[4]);
  if (!valid_ip(c.address)) return fail("connection address is not a numeric IPv4/IPv6");
  if (!parse_uint<uint16_t>(tok[5], 65535, c.port)) return fail("port must be 0..65535");
  if (c.port == 0 && c.transport == "UDP") return fail("UDP port 0");
  if (tok[6] != "typ") return fail("missing 'typ'");
  c.type = lower(tok[7]);
  if (c.type != "host" && c.type != "srflx" && c.type != "prflx" && c.type != "relay")
    return fail("type must be host, srflx, prflx or relay");
  for (size_t i = 8; i < tok.size(); i += 2) {
    std::string name = lower(tok[i]);
    if (name == "raddr") {
      if (!valid_ip(std::string(tok[i + 1]))) return fail("raddr is not a numeric IP");
    } else if (name == "rport") {
      uint16_t p;
      if (!parse_uint<uint16_t>(tok[i + 1], 65535, p)) return fail("rport must be 0..65535");
    } else if (name == "tcptype") {
      std::string v = lower(tok[i + 1]);
      if (v != "active" && v != "passive" && v != "so") return fail("bad tcptype");
    }
    // Other extension attributes (generation, network-id, ...) are ignored, as RFC 5245 says.
  }
  return c;
}

}  // namespace meshcast::link
