// A user's identity: an Ed25519 key pair (OpenSSL EVP_PKEY_ED25519) that signs short byte
// strings (the tracker's hello nonce, a call's DTLS fingerprint), and the checks of such
// signatures. Keys and signatures travel as standard base64 with padding.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/base/expected.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace meshcast::signaling {

using IdentityPublicKey = std::array<uint8_t, 32>;
inline constexpr std::size_t kIdentityKeyB64Len = 44;  // 32 bytes
inline constexpr std::size_t kIdentitySigB64Len = 88;  // 64 bytes

class IdentityKey {
 public:
  // A fresh key from OpenSSL's RNG (nullopt only if OpenSSL fails).
  static std::optional<IdentityKey> generate();
  // A PEM private key ("-----BEGIN PRIVATE KEY-----", PKCS#8) that must be Ed25519.
  static Expected<IdentityKey, std::string> from_pem(const std::string& pem);
  std::string to_pem() const;

  const IdentityPublicKey& public_key() const { return public_; }
  std::string public_key_b64() const;
  // "SHA256:" + unpadded base64 of SHA-256(public key), as ssh prints host keys.
  std::string fingerprint() const;
  // Ed25519 signature of `message`, base64 (88 characters).
  std::string sign_b64(std::string_view message) const;

 private:
  explicit IdentityKey(std::shared_ptr<EVP_PKEY> k);
  std::shared_ptr<EVP_PKEY> key_;  // shared: copies of a key are cheap (one per client)
  IdentityPublicKey public_{};
};

std::string identity_fingerprint(const IdentityPublicKey& key);
// Strict base64 (standard alphabet, canonical padding): nullopt unless exactly `expect` bytes.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view s, std::size_t expect);
std::string base64_encode(const uint8_t* data, std::size_t n, bool pad = true);
std::optional<IdentityPublicKey> decode_identity_key(std::string_view b64);
// True when `sig_b64` is a valid signature of `message` by `key_b64`. Any malformed input
// (wrong length, bad alphabet, not a curve point) is simply false.
bool verify_identity_signature(std::string_view key_b64, std::string_view message,
                               std::string_view sig_b64);

}  // namespace meshcast::signaling
