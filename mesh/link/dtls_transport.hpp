// DTLS 1.2 over datagrams the caller carries (sans-IO): OpenSSL with a memory BIO
// for input and a datagram-preserving memory BIO for output. After the handshake it
// checks the peer certificate's SHA-256 fingerprint and exports DTLS-SRTP keys
// (RFC 5764). Time comes in with each input; the owner calls on_timer() once
// next_deadline() has passed (handshake retransmissions).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/base/expected.hpp"
#include "mesh/base/time.hpp"
#include "mesh/link/certificate.hpp"
#include "mesh/link/link_types.hpp"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace meshcast::link {

class DtlsTransport {
 public:
  enum class State { kNew, kHandshaking, kConnected, kFailed, kClosed };
  struct Keys {
    Cipher cipher = Cipher::kNone;
    std::vector<uint8_t> local_key_salt;   // our write key || salt
    std::vector<uint8_t> remote_key_salt;  // peer's write key || salt
  };

  // expected_fingerprint: "sha-256 ..." from the remote description.
  DtlsTransport(std::shared_ptr<Certificate> cert, bool is_client, CipherPreference pref,
                std::string expected_fingerprint);
  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  // Creates the SSL object, or says why it could not (the transport is then kFailed).
  Expected<void, std::string> init();
  // Client: sends the ClientHello. Server: waits for it.
  void start(TimeUs now);
  // One received DTLS datagram.
  void handle_datagram(const uint8_t* data, size_t len, TimeUs now);
  // Call once next_deadline() has passed.
  void on_timer(TimeUs now);
  // When the handshake's retransmission timer fires (nothing while none is running).
  std::optional<TimeUs> next_deadline() const;
  // Sends close_notify (if connected) and moves to kClosed.
  void close();

  // Datagrams to send, in order; the queue is emptied.
  std::deque<std::vector<uint8_t>> take_outgoing();
  bool has_outgoing() const { return !out_.empty(); }

  State state() const { return state_; }
  bool is_client() const { return is_client_; }
  // Why the transport failed or closed, which happens during later inputs ("" otherwise).
  const std::string& error() const { return error_; }
  const Keys& keys() const { return keys_; }
  const std::string& peer_fingerprint() const { return peer_fingerprint_; }

  // Used by the OpenSSL callbacks.
  void push_outgoing(const uint8_t* data, size_t len);
  bool check_peer_certificate(void* x509);

 private:
  void advance_handshake();
  void on_handshake_done();
  void fail(std::string why);
  // Reads OpenSSL's retransmission timer (relative to its clock) as a deadline after `now`.
  void update_deadline(TimeUs now);

  std::shared_ptr<Certificate> cert_;
  bool is_client_;
  CipherPreference pref_;
  std::string expected_fp_;
  std::string peer_fingerprint_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;  // owned by ssl_
  std::deque<std::vector<uint8_t>> out_;
  State state_ = State::kNew;
  std::string error_;
  std::optional<TimeUs> deadline_;
  Keys keys_;
};

}  // namespace meshcast::link
