// Fuzzes SessionDescription::parse (JSON + candidate + fingerprint validation).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "mesh/link/session_description.hpp"

using namespace meshcast::link;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto d = SessionDescription::parse(text, error);
  if (!d) {
    if (error.empty()) std::abort();  // a rejection must say why
    return 0;
  }
  // Anything accepted must survive a round trip unchanged.
  std::string again_error;
  auto again = SessionDescription::parse(d->to_json_string(), again_error);
  if (!again || again->to_json() != d->to_json()) std::abort();
  return 0;
}
