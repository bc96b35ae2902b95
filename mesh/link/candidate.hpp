// Validation of ICE candidate lines as libnice writes them
// ("candidate:<foundation> <component> <transport> <priority> <ip> <port> typ <type> ...").
// Pure C++ (no libnice) so the fuzzer exercises it directly.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace meshcast::link {

inline constexpr size_t kMaxCandidateLength = 512;

struct CandidateInfo {
  std::string foundation;
  unsigned component = 0;
  std::string transport;  // "UDP" or "TCP" (upper case)
  uint32_t priority = 0;
  std::string address;
  uint16_t port = 0;
  std::string type;  // host, srflx, prflx, relay
};

// Returns true and fills `out` (if given) when `line` is a well-formed candidate;
// otherwise false with a human-readable reason in `error`. The "a=" prefix is accepted.
bool parse_candidate(std::string_view line, CandidateInfo* out, std::string& error);

}  // namespace meshcast::link
