#include "mesh/link/certificate.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace meshcast::link {
namespace {

std::string openssl_error(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + (e ? std::string(": ") + buf : "");
}

// Self-signed certificates are expected; the fingerprint check after the handshake
// is what authenticates the peer.
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

}  // namespace

std::string certificate_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1) return {};
  static const char* hex = "0123456789ABCDEF";
  std::string fp = "sha-256 ";
  for (unsigned i = 0; i < n; ++i) {
    if (i) fp += ':';
    fp += hex[md[i] >> 4];
    fp += hex[md[i] & 15];
  }
  return fp;
}

Expected<std::shared_ptr<Certificate>, std::string> Certificate::generate() {
  std::shared_ptr<Certificate> c(new Certificate());
  c->key_ = EVP_EC_gen("P-256");
  if (!c->key_) {
    return unexpected(openssl_error("EC P-256 key generation failed"));
  }
  c->cert_ = X509_new();
  if (!c->cert_) {
    return unexpected(openssl_error("X509_new failed"));
  }
  X509_set_version(c->cert_, 2);
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(c->cert_), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(c->cert_), -24 * 3600);
  X509_gmtime_adj(X509_getm_notAfter(c->cert_), 30L * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(c->cert_);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("meshcast"), -1, -1, 0);
  X509_set_issuer_name(c->cert_, name);
  X509_set_pubkey(c->cert_, c->key_);
  if (X509_sign(c->cert_, c->key_, EVP_sha256()) <= 0) {
    return unexpected(openssl_error("certificate signing failed"));
  }
  c->fingerprint_ = certificate_fingerprint(c->cert_);

  c->ctx_ = SSL_CTX_new(DTLS_method());
  if (!c->ctx_) {
    return unexpected(openssl_error("SSL_CTX_new failed"));
  }
  SSL_CTX_set_min_proto_version(c->ctx_, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c->ctx_, DTLS1_2_VERSION);
  SSL_CTX_set_cipher_list(c->ctx_,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384");
  SSL_CTX_set1_groups_list(c->ctx_, "X25519:P-256");
  SSL_CTX_set_read_ahead(c->ctx_, 1);
  SSL_CTX_set_options(c->ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(c->ctx_, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate(c->ctx_, c->cert_) != 1 ||
      SSL_CTX_use_PrivateKey(c->ctx_, c->key_) != 1 || SSL_CTX_check_private_key(c->ctx_) != 1) {
    return unexpected(openssl_error("loading the certificate into SSL_CTX failed"));
  }
  SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     accept_any_certificate);
  return c;
}

std::shared_ptr<Certificate> Certificate::process_default() {
  // Deliberately never destroyed: OpenSSL's atexit cleanup may run before static
  // destructors, and freeing an SSL_CTX after it would crash at exit.
  static auto* cert = [] {
    auto c = generate();
    return new std::shared_ptr<Certificate>(c ? *c : nullptr);
  }();
  return *cert;
}

Certificate::~Certificate() {
  SSL_CTX_free(ctx_);
  X509_free(cert_);
  EVP_PKEY_free(key_);
}

}  // namespace meshcast::link
