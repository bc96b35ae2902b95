// STUN / TURN server URIs as given on the command line (RFC 7064 / RFC 7065), with TURN
// credentials before the host:
//   stun:HOST[:PORT]                         (default port 3478)
//   turn:USER:PASS@HOST[:PORT][?transport=udp|tcp]   (default 3478, UDP)
//   turns:USER:PASS@HOST[:PORT][?transport=tcp]      (default 5349, TLS over TCP)
//   HOST:PORT / USER:PASS@HOST:PORT          (older form: STUN / TURN over UDP)
// HOST is a DNS name, an IPv4 address or a bracketed IPv6 address. Parsing only: names are
// resolved by the caller. The text comes from users and scripts, so every part is bounded.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/base/expected.hpp"
#include "mesh/link/link_types.hpp"

namespace meshcast::app {

constexpr size_t kMaxIceServerUriLength = 1024;
constexpr size_t kMaxTurnCredentialLength = 256;  // each of user and password
constexpr size_t kMaxHostNameLength = 253;        // RFC 1035

struct IceServerUri {
  enum class Scheme { kStun, kTurn, kTurns };
  Scheme scheme = Scheme::kStun;
  std::string host;  // name or address, IPv6 without brackets
  bool host_is_ip = false;
  uint16_t port = 3478;
  std::string username, password;  // TURN only
  link::RelayTransport transport = link::RelayTransport::kUdp;
};

// The URI, or a message for the user on anything malformed.
Expected<IceServerUri, std::string> parse_turn_uri(std::string_view text);
Expected<IceServerUri, std::string> parse_stun_uri(std::string_view text);

// The TURN servers of a tracker's hello_ok `ice_servers` ({urls, username, credential}).
// Only numeric hosts are taken (a tracker-given name is not resolved behind the user's back);
// anything malformed or over its bounds is skipped and counted in `skipped`.
std::vector<link::TurnServer> turn_servers_from_tracker(const nlohmann::json& ice_servers,
                                                        int* skipped = nullptr);

}  // namespace meshcast::app
