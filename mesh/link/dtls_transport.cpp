#include "mesh/link/dtls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>

#include <mutex>

#include "mesh/link/srtp_session.hpp"

namespace meshcast::link {
namespace {

constexpr int kDtlsMtu = 1200;

int transport_ex_index() {
  static int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

// Output BIO: every BIO_write from OpenSSL is one datagram (a memory BIO would
// merge a flight's records into one blob).
int out_write(BIO* bio, const char* data, int len) {
  auto* t = static_cast<DtlsTransport*>(BIO_get_data(bio));
  if (len > 0) t->push_outgoing(reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(len));
  return len;
}

long out_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
      return 0;  // SSL_OP_NO_QUERY_MTU is set; MTU is fixed
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
      return 0;
    default:
      return 0;
  }
}

int out_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* out_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* mm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "meshcast-dgram-out");
    BIO_meth_set_write(mm, out_write);
    BIO_meth_set_ctrl(mm, out_ctrl);
    BIO_meth_set_create(mm, out_create);
    return mm;
  }();
  return m;
}

int verify_cb(int, X509_STORE_CTX* store) {
  // Only the leaf certificate matters: it must match the signalled fingerprint.
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* t = ssl ? static_cast<DtlsTransport*>(SSL_get_ex_data(ssl, transport_ex_index())) : nullptr;
  if (!t) return 0;
  return t->check_peer_certificate(X509_STORE_CTX_get_current_cert(store)) ? 1 : 0;
}

// Faster first retransmission than OpenSSL's 1 s: a lost handshake datagram on a
// lossy link should cost ~200 ms, not seconds. Doubles up to 3 s.
unsigned int retransmit_timer(SSL*, unsigned int timer_us) {
  if (timer_us == 0) return 200000;
  return timer_us >= 1500000 ? 3000000 : timer_us * 2;
}

std::string drain_openssl_errors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
  }
  return s;
}

}  // namespace

DtlsTransport::DtlsTransport(std::shared_ptr<Certificate> cert, bool is_client,
                             CipherPreference pref, std::string expected_fingerprint)
    : cert_(std::move(cert)),
      is_client_(is_client),
      pref_(pref),
      expected_fp_(std::move(expected_fingerprint)) {}

DtlsTransport::~DtlsTransport() {
  if (ssl_) SSL_free(ssl_);
}

Expected<void, std::string> DtlsTransport::init() {
  if (!cert_ || !cert_->ssl_ctx()) {
    fail("no certificate");
    return unexpected(error_);
  }
  ERR_clear_error();
  ssl_ = SSL_new(cert_->ssl_ctx());
  if (!ssl_) {
    fail("SSL_new failed: " + drain_openssl_errors());
    return unexpected(error_);
  }
  SSL_set_ex_data(ssl_, transport_ex_index(), this);
  const char* profiles = pref_ == CipherPreference::kGcmOnly ? "SRTP_AEAD_AES_128_GCM"
                         : pref_ == CipherPreference::kCmOnly
                             ? "SRTP_AES128_CM_SHA1_80"
                             : "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
  if (SSL_set_tlsext_use_srtp(ssl_, profiles) != 0) {  // 0 means success here
    fail("SSL_set_tlsext_use_srtp failed: " + drain_openssl_errors());
    return unexpected(error_);
  }
  SSL_set_verify(ssl_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
  in_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty input = "retry", not EOF
  BIO* out = BIO_new(out_method());
  BIO_set_data(out, this);
  SSL_set_bio(ssl_, in_, out);
  SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
  DTLS_set_link_mtu(ssl_, kDtlsMtu);
  DTLS_set_timer_cb(ssl_, retransmit_timer);
  if (is_client_)
    SSL_set_connect_state(ssl_);
  else
    SSL_set_accept_state(ssl_);
  return {};
}

void DtlsTransport::push_outgoing(const uint8_t* data, size_t len) {
  out_.emplace_back(data, data + len);
}

std::deque<std::vector<uint8_t>> DtlsTransport::take_outgoing() {
  std::deque<std::vector<uint8_t>> r;
  r.swap(out_);
  return r;
}

bool DtlsTransport::check_peer_certificate(void* x509) {
  peer_fingerprint_ = certificate_fingerprint(static_cast<X509*>(x509));
  if (peer_fingerprint_ != expected_fp_) {
    fail("DTLS fingerprint mismatch: the remote description says '" + expected_fp_ +
         "' but the peer's certificate is '" + peer_fingerprint_ + "'");
    return false;
  }
  return true;
}

void DtlsTransport::fail(std::string why) {
  if (state_ == State::kFailed) return;  // keep the first, most specific reason
  error_ = std::move(why);
  state_ = State::kFailed;
}

void DtlsTransport::start(TimeUs now) {
  if (state_ != State::kNew || !ssl_) return;
  state_ = State::kHandshaking;
  if (is_client_) advance_handshake();
  update_deadline(now);
}

void DtlsTransport::advance_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    on_handshake_done();
    return;
  }
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  std::string detail = drain_openssl_errors();
  fail("DTLS handshake failed" + (detail.empty() ? std::string() : ": " + detail));
}

void DtlsTransport::on_handshake_done() {
  X509* peer = SSL_get1_peer_certificate(ssl_);
  bool ok = peer && check_peer_certificate(peer);
  X509_free(peer);
  if (!ok) {
    if (state_ != State::kFailed) fail("DTLS peer sent no certificate");
    return;
  }
  SRTP_PROTECTION_PROFILE* prof = SSL_get_selected_srtp_profile(ssl_);
  if (!prof) return fail("DTLS peer did not negotiate an SRTP profile (use_srtp)");
  Cipher c = prof->id == SRTP_AEAD_AES_128_GCM    ? Cipher::kAeadAes128Gcm
             : prof->id == SRTP_AES128_CM_SHA1_80 ? Cipher::kAes128CmSha1_80
                                                  : Cipher::kNone;
  if (c == Cipher::kNone) return fail("DTLS negotiated an unsupported SRTP profile");
  size_t kl = SrtpSession::key_length(c), sl = SrtpSession::salt_length(c);
  std::vector<uint8_t> m(2 * (kl + sl));
  static const char kLabel[] = "EXTRACTOR-dtls_srtp";
  if (SSL_export_keying_material(ssl_, m.data(), m.size(), kLabel, sizeof kLabel - 1, nullptr, 0,
                                 0) != 1)
    return fail("DTLS-SRTP key export failed: " + drain_openssl_errors());
  // RFC 5764 4.2: client key | server key | client salt | server salt.
  std::vector<uint8_t> client(m.begin(), m.begin() + kl),
      server(m.begin() + kl, m.begin() + 2 * kl);
  client.insert(client.end(), m.begin() + 2 * kl, m.begin() + 2 * kl + sl);
  server.insert(server.end(), m.begin() + 2 * kl + sl, m.end());
  OPENSSL_cleanse(m.data(), m.size());
  keys_.cipher = c;
  keys_.local_key_salt = is_client_ ? client : server;
  keys_.remote_key_salt = is_client_ ? server : client;
  OPENSSL_cleanse(client.data(), client.size());
  OPENSSL_cleanse(server.data(), server.size());
  state_ = State::kConnected;
}

void DtlsTransport::handle_datagram(const uint8_t* data, size_t len, TimeUs now) {
  if (!ssl_ || state_ == State::kFailed || state_ == State::kClosed) return;
  if (state_ == State::kNew) state_ = State::kHandshaking;  // server's first ClientHello
  BIO_write(in_, data, static_cast<int>(len));
  if (state_ == State::kHandshaking) {
    advance_handshake();
    update_deadline(now);
    return;
  }
  // Connected: handle late handshake retransmissions and alerts (close_notify).
  ERR_clear_error();
  uint8_t buf[2048];
  int r = SSL_read(ssl_, buf, sizeof buf);
  if (r > 0) return;  // no application data is expected over DTLS; ignore it
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_ZERO_RETURN) {
    error_ = "peer closed the DTLS session";
    state_ = State::kClosed;
  } else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
    fail("DTLS error after handshake: " + drain_openssl_errors());
  }
}

void DtlsTransport::on_timer(TimeUs now) {
  if (!ssl_ || state_ != State::kHandshaking) return;
  // OpenSSL checks expiry on its own clock and does nothing when it says it is early; the
  // deadline read afterwards then covers the rest.
  ERR_clear_error();
  if (DTLSv1_handle_timeout(ssl_) < 0) fail("DTLS handshake timed out: " + drain_openssl_errors());
  update_deadline(now);
}

void DtlsTransport::update_deadline(TimeUs now) {
  deadline_.reset();
  if (!ssl_ || state_ != State::kHandshaking) return;
  struct timeval tv {};
  if (DTLSv1_get_timeout(ssl_, &tv) != 1) return;
  deadline_ = now + TimeUs(tv.tv_sec) * kUsPerS + tv.tv_usec;
}

std::optional<TimeUs> DtlsTransport::next_deadline() const {
  // The handshake may have ended since (close(), a failure): no timer then.
  if (state_ != State::kHandshaking) return std::nullopt;
  return deadline_;
}

void DtlsTransport::close() {
  if (ssl_ && state_ == State::kConnected) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
  }
  if (state_ != State::kFailed) state_ = State::kClosed;
}

}  // namespace meshcast::link
