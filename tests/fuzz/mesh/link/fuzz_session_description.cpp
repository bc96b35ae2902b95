// Fuzzes SessionDescription::parse (JSON + candidate + fingerprint validation) and the ICE
// restart messages built on it (RestartDescription::parse, parse_ice_generation).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "mesh/link/restart_description.hpp"
#include "mesh/link/session_description.hpp"

using namespace meshcast::link;

namespace {

void fuzz_restart(std::string_view text) {
  auto r = RestartDescription::parse(text);
  if (!r) {
    if (r.error().empty()) std::abort();
  } else {
    if (r->generation == 0 || r->generation > kMaxIceGeneration) std::abort();
    auto again = RestartDescription::parse(r->to_json().dump());
    if (!again || again->to_json() != r->to_json()) std::abort();
  }
  // The same bytes as a trickle payload.
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return;
  auto g = parse_ice_generation(j);
  if (!g && g.error().empty()) std::abort();
  if (g && *g > kMaxIceGeneration) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz_restart(text);
  auto d = SessionDescription::parse(text);
  if (!d) {
    if (d.error().empty()) std::abort();  // a rejection must say why
    return 0;
  }
  // Anything accepted must survive a round trip unchanged.
  auto again = SessionDescription::parse(d->to_json_string());
  if (!again || again->to_json() != d->to_json()) std::abort();
  return 0;
}
