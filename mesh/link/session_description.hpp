// The offer/answer value exchanged through signaling: ICE credentials, candidates,
// the DTLS certificate fingerprint and the DTLS setup role.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/base/expected.hpp"
#include "mesh/link/link_types.hpp"

namespace meshcast::link {

inline constexpr size_t kMaxDescriptionBytes = 16 * 1024;
inline constexpr size_t kMaxCandidates = 32;

struct SessionDescription {
  std::string ufrag;                    // ICE ufrag (4..256 ice-chars)
  std::string pwd;                      // ICE password (22..256 ice-chars)
  std::vector<std::string> candidates;  // "candidate:..." lines, validated
  bool end_of_candidates = false;       // true when `candidates` is complete
  std::string fingerprint;              // "sha-256 AB:CD:..." (32 upper-case hex pairs)
  DtlsSetup setup = DtlsSetup::kActpass;

  nlohmann::json to_json() const;
  std::string to_json_string() const;

  // Never throws: returns a clear reason on garbage JSON, oversize input (> 16 KiB),
  // missing fields, wrong types, bad candidates, too many candidates (> 32), a bad
  // fingerprint or setup value.
  static Expected<SessionDescription, std::string> parse(std::string_view json_text);
  static Expected<SessionDescription, std::string> from_json(const nlohmann::json& j);
};

// "sha-256 " followed by 32 colon-separated hex pairs; upper or lower case accepted.
Expected<void, std::string> valid_fingerprint(std::string_view fp);
// Upper-cases the hex digits so fingerprints compare byte for byte.
std::string normalize_fingerprint(std::string_view fp);

std::optional<DtlsSetup> parse_setup(std::string_view s);

}  // namespace meshcast::link
