#include "mesh/core/ed25519.hpp"

#include <openssl/evp.h>

namespace meshcast::mesh {

void PkeyDeleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

std::optional<Ed25519Signer> Ed25519Signer::generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) return std::nullopt;
  return Ed25519Signer(PkeyPtr(k));
}

std::optional<Ed25519Signer> Ed25519Signer::from_private(const PrivateKey& raw) {
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  if (!k) return std::nullopt;
  return Ed25519Signer(PkeyPtr(k));
}

PublicKey Ed25519Signer::public_key() const {
  PublicKey pk{};
  size_t len = pk.size();
  EVP_PKEY_get_raw_public_key(key_.get(), pk.data(), &len);
  return pk;
}

void Ed25519Signer::sign(Segment& s) const {
  const auto msg = signing_input(s.header, digest_list_hash(piece_digests(s.payload_bytes())));
  s.signature.fill(0);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return;
  size_t len = s.signature.size();
  if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1)
    EVP_DigestSign(ctx, s.signature.data(), &len, msg.data(), msg.size());
  EVP_MD_CTX_free(ctx);
}

std::optional<Ed25519Verifier> Ed25519Verifier::from_public(const PublicKey& raw) {
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  if (!k) return std::nullopt;
  return Ed25519Verifier(PkeyPtr(k));
}

bool Ed25519Verifier::verify(const Segment& s) const {
  // The signature covers the piece digests, so a payload of the wrong length fails too.
  if (s.payload_bytes().size() != s.header.size) return false;
  return verify_head(s.header, s.signature, digest_list_hash(piece_digests(s.payload_bytes())));
}

bool Ed25519Verifier::verify_head(const SegmentHeader& h, const Signature& sig,
                                  const Digest& list_hash) const {
  const auto msg = signing_input(h, list_hash);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace meshcast::mesh
