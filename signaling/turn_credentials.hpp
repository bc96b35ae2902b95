// Time-limited TURN credentials in coturn's REST scheme (`use-auth-secret`): the tracker and
// the TURN server share a secret; the username is "EXPIRY:PEER_ID" (Unix seconds) and the
// password base64(HMAC-SHA1(secret, username)). The TURN server checks them without knowing
// any peer, and a leaked pair stops working at its expiry.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace meshcast::signaling {

struct TurnCredential {
  std::string username;
  std::string password;
  int64_t expires_s = 0;
};

TurnCredential make_turn_credential(std::string_view secret, std::string_view peer_id,
                                    int64_t now_s, int64_t ttl_s);

}  // namespace meshcast::signaling
