// libFuzzer target: --stun / --turn URI parsing (text from users and scripts).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apps/cli/ice_server_uri.hpp"

using namespace meshcast::app;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto u = parse_turn_uri(in)) {
    // Whatever is accepted is complete and within its bounds.
    if (u->host.empty() || u->host.size() > kMaxHostNameLength + 2 || u->port == 0 ||
        u->username.empty() || u->password.empty() ||
        u->username.size() > kMaxTurnCredentialLength ||
        u->password.size() > kMaxTurnCredentialLength || size > kMaxIceServerUriLength)
      __builtin_trap();
  } else if (u.error().empty()) {
    __builtin_trap();
  }
  if (auto u = parse_stun_uri(in)) {
    if (u->host.empty() || u->port == 0 || !u->username.empty()) __builtin_trap();
  } else if (u.error().empty()) {
    __builtin_trap();
  }
  return 0;
}
