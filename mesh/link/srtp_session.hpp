// libsrtp2 wrapper: one outbound and one inbound session keyed from DTLS-SRTP.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "mesh/base/expected.hpp"
#include "mesh/link/link_types.hpp"

typedef struct srtp_ctx_t_ srtp_ctx_t;

namespace meshcast::link {

// libsrtp adds at most this many bytes (auth tag / SRTCP index; no MKI).
inline constexpr size_t kSrtpMaxOverhead = 16 + 4 + 16;

class SrtpSession {
 public:
  enum class Status { kOk, kAuthFail, kReplay, kError };

  static size_t key_length(Cipher c);   // master key bytes (16 for both profiles)
  static size_t salt_length(Cipher c);  // master salt bytes (12 GCM, 14 CM)
  // srtp_init() once per process; thread-safe.
  static Expected<void, std::string> global_init();

  // local/remote_key_salt: key followed by salt, key_length + salt_length bytes each.
  static Expected<std::unique_ptr<SrtpSession>, std::string> create(Cipher cipher,
                                                                    const uint8_t* local_key_salt,
                                                                    const uint8_t* remote_key_salt,
                                                                    unsigned long replay_window);
  ~SrtpSession();
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;

  // In place. `buf` must have room for len + kSrtpMaxOverhead bytes; len is updated.
  Status protect_rtp(uint8_t* buf, int& len);
  Status protect_rtcp(uint8_t* buf, int& len);
  Status unprotect_rtp(uint8_t* buf, int& len);
  Status unprotect_rtcp(uint8_t* buf, int& len);
  Cipher cipher() const { return cipher_; }

 private:
  SrtpSession() = default;
  Cipher cipher_ = Cipher::kNone;
  srtp_ctx_t* out_ = nullptr;
  srtp_ctx_t* in_ = nullptr;
};

}  // namespace meshcast::link
