// Ed25519 signing/verification of segments with OpenSSL (EVP_PKEY_ED25519).
#pragma once
#include <array>
#include <memory>
#include <optional>

#include "mesh/core/segment_verifier.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace meshcast::mesh {

using PublicKey = std::array<uint8_t, 32>;
using PrivateKey = std::array<uint8_t, 32>;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class Ed25519Signer final : public SegmentSigner {
 public:
  // A fresh random key (OpenSSL's RNG), or a key from its 32-byte seed.
  static std::optional<Ed25519Signer> generate();
  static std::optional<Ed25519Signer> from_private(const PrivateKey& raw);
  PublicKey public_key() const;
  void sign(Segment& s) const override;

 private:
  explicit Ed25519Signer(PkeyPtr k) : key_(std::move(k)) {}
  PkeyPtr key_;
};

class Ed25519Verifier final : public SegmentVerifier {
 public:
  static std::optional<Ed25519Verifier> from_public(const PublicKey& raw);
  bool verify(const Segment& s) const override;
  bool verify_head(const SegmentHeader& h, const Signature& sig,
                   const Digest& list_hash) const override;

 private:
  explicit Ed25519Verifier(PkeyPtr k) : key_(std::move(k)) {}
  PkeyPtr key_;
};

}  // namespace meshcast::mesh
