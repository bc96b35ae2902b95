// An ICE restart as signalled between two peers: a session description (new ICE
// credentials and candidates; the same DTLS fingerprint and setup as the first exchange)
// and the restart's generation. Trickled candidates and end-of-candidates of a restart
// carry the generation too, so stale ones are told apart (docs/link.md, "Healing").
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "mesh/link/session_description.hpp"

namespace meshcast::link {

// Generations are 0 (the first offer/answer) .. kMaxIceGeneration.
inline constexpr uint32_t kMaxIceGeneration = 0x7fffffff;

struct RestartDescription {
  uint32_t generation = 1;  // >= 1: generation 0 is never a restart
  SessionDescription description;

  // The description's fields plus "generation" (extra fields, e.g. "identity", are kept by
  // the caller and ignored here).
  nlohmann::json to_json() const;
  // Never throws: a reason for a non-object, a missing, non-integer or out-of-range
  // generation (1..kMaxIceGeneration), or a bad description (SessionDescription::from_json's
  // checks). parse(): also non-JSON and > 16 KiB.
  static Expected<RestartDescription, std::string> from_json(const nlohmann::json& j);
  static Expected<RestartDescription, std::string> parse(std::string_view json_text);
};

// The "generation" of a trickle payload ({"candidate": ..., "generation": N} or an
// end-of-candidates {"generation": N}): 0 when absent (the first exchange), a reason when
// it is not an integer in 0..kMaxIceGeneration or the payload is not an object.
Expected<uint32_t, std::string> parse_ice_generation(const nlohmann::json& payload);

}  // namespace meshcast::link
