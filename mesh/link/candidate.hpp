// Validation of ICE candidate lines as libnice writes them
// ("candidate:<foundation> <component> <transport> <priority> <ip> <port> typ <type> ...").
// Pure C++ (no libnice) so the fuzzer exercises it directly.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "mesh/base/expected.hpp"

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

// The fields of `line` when it is a well-formed candidate, otherwise a human-readable
// reason. The "a=" prefix is accepted.
Expected<CandidateInfo, std::string> parse_candidate(std::string_view line);

}  // namespace meshcast::link
