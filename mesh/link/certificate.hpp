// Self-signed ECDSA P-256 certificate for DTLS, plus the shared SSL_CTX built on it.
// One per process is enough (Certificate::process_default()); links hold a shared_ptr.
#pragma once
#include <memory>
#include <string>

#include "mesh/base/expected.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace meshcast::link {

class Certificate {
 public:
  // Generates a fresh key pair and certificate, or says why OpenSSL could not.
  static Expected<std::shared_ptr<Certificate>, std::string> generate();
  // Generated once per process on first use (thread-safe); nullptr only if OpenSSL fails.
  static std::shared_ptr<Certificate> process_default();

  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  // "sha-256 AB:CD:..." of the DER certificate, as put in session descriptions.
  const std::string& fingerprint() const { return fingerprint_; }
  // DTLS 1.2 context with this certificate; peers' certificates are requested and
  // accepted here, then checked against the signalled fingerprint by the link.
  SSL_CTX* ssl_ctx() const { return ctx_; }

 private:
  Certificate() = default;
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  SSL_CTX* ctx_ = nullptr;
  std::string fingerprint_;
};

// SHA-256 fingerprint in "sha-256 AB:CD:..." form.
std::string certificate_fingerprint(X509* cert);

}  // namespace meshcast::link
