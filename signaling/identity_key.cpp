#include "signaling/identity_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

namespace meshcast::signaling {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

}  // namespace

std::string base64_encode(const uint8_t* data, std::size_t n, bool pad) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(data[i]) << 16;
    if (i + 1 < n) v |= uint32_t(data[i + 1]) << 8;
    if (i + 2 < n) v |= data[i + 2];
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    if (i + 1 < n)
      out.push_back(kB64[(v >> 6) & 63]);
    else if (pad)
      out.push_back('=');
    if (i + 2 < n)
      out.push_back(kB64[v & 63]);
    else if (pad)
      out.push_back('=');
  }
  return out;
}

std::optional<std::vector<uint8_t>> base64_decode(std::string_view s, std::size_t expect) {
  // Canonical only: one spelling per value, so a key compares equal as a string too.
  if (s.size() != (expect + 2) / 3 * 4) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(expect + 2);
  for (std::size_t i = 0; i < s.size(); i += 4) {
    uint32_t v = 0;
    int pads = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = s[i + j];
      if (c == '=' && i + 4 == s.size() && j >= 2) {
        ++pads;
        v <<= 6;
        continue;
      }
      int x = b64_value(c);
      if (x < 0 || pads > 0) return std::nullopt;
      v = (v << 6) | uint32_t(x);
    }
    out.push_back(uint8_t(v >> 16));
    if (pads < 2) out.push_back(uint8_t(v >> 8));
    if (pads < 1) out.push_back(uint8_t(v));
  }
  if (out.size() != expect) return std::nullopt;
  if (base64_encode(out.data(), out.size()) != s) return std::nullopt;  // non-zero pad bits
  return out;
}

std::optional<IdentityPublicKey> decode_identity_key(std::string_view b64) {
  auto raw = base64_decode(b64, 32);
  if (!raw) return std::nullopt;
  IdentityPublicKey k{};
  std::copy(raw->begin(), raw->end(), k.begin());
  return k;
}

std::string identity_fingerprint(const IdentityPublicKey& key) {
  uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(key.data(), key.size(), d);
  return "SHA256:" + base64_encode(d, sizeof d, /*pad=*/false);
}

IdentityKey::IdentityKey(std::shared_ptr<EVP_PKEY> k) : key_(std::move(k)) {
  std::size_t len = public_.size();
  EVP_PKEY_get_raw_public_key(key_.get(), public_.data(), &len);
}

std::optional<IdentityKey> IdentityKey::generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) return std::nullopt;
  return IdentityKey(own(k));
}

Expected<IdentityKey, std::string> IdentityKey::from_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return unexpected("cannot read the PEM (out of memory)");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!k) return unexpected("not a PEM private key");
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(k);
    return unexpected("not an Ed25519 key");
  }
  return IdentityKey(own(k));
}

std::string IdentityKey::to_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  std::string out;
  if (PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    if (n > 0) out.assign(p, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  return out;
}

std::string IdentityKey::public_key_b64() const {
  return base64_encode(public_.data(), public_.size());
}

std::string IdentityKey::fingerprint() const { return identity_fingerprint(public_); }

std::string IdentityKey::sign_b64(std::string_view message) const {
  uint8_t sig[64] = {};
  std::size_t len = sizeof sig;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return {};
  bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const uint8_t*>(message.data()),
                           message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok ? base64_encode(sig, len) : std::string();
}

bool verify_identity_signature(std::string_view key_b64, std::string_view message,
                               std::string_view sig_b64) {
  auto key = decode_identity_key(key_b64);
  auto sig = base64_decode(sig_b64, 64);
  if (!key || !sig) return false;
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key->data(), key->size());
  if (!k) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, k) == 1 &&
            EVP_DigestVerify(ctx, sig->data(), sig->size(),
                             reinterpret_cast<const uint8_t*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  return ok;
}

}  // namespace meshcast::signaling
