#include "signaling/turn_credentials.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "signaling/identity_key.hpp"

namespace meshcast::signaling {

TurnCredential make_turn_credential(std::string_view secret, std::string_view peer_id,
                                    int64_t now_s, int64_t ttl_s) {
  TurnCredential c;
  c.expires_s = now_s + ttl_s;
  c.username = std::to_string(c.expires_s) + ":" + std::string(peer_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha1(), secret.data(), int(secret.size()),
            reinterpret_cast<const unsigned char*>(c.username.data()), c.username.size(), mac,
            &len))
    return {};
  c.password = base64_encode(mac, len);
  return c;
}

}  // namespace meshcast::signaling
