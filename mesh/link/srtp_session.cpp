#include "mesh/link/srtp_session.hpp"

#include <srtp2/srtp.h>

#include <cstring>
#include <mutex>

namespace meshcast::link {
namespace {

SrtpSession::Status map_status(srtp_err_status_t s) {
  switch (s) {
    case srtp_err_status_ok:
      return SrtpSession::Status::kOk;
    case srtp_err_status_auth_fail:
      return SrtpSession::Status::kAuthFail;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return SrtpSession::Status::kReplay;
    default:
      return SrtpSession::Status::kError;
  }
}

void set_policy(srtp_policy_t& p, Cipher c, const uint8_t* key, unsigned long window,
                srtp_ssrc_type_t type) {
  std::memset(&p, 0, sizeof p);
  if (c == Cipher::kAeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
  }
  p.ssrc.type = type;
  p.key = const_cast<uint8_t*>(key);
  p.window_size = window;
  // GCM must never reuse a packet index with different content: no repeated tx.
  p.allow_repeat_tx = 0;
  p.next = nullptr;
}

}  // namespace

const char* to_string(Cipher c) {
  switch (c) {
    case Cipher::kAeadAes128Gcm:
      return "AEAD_AES_128_GCM";
    case Cipher::kAes128CmSha1_80:
      return "AES_CM_128_HMAC_SHA1_80";
    case Cipher::kNone:
      break;
  }
  return "none";
}

size_t SrtpSession::key_length(Cipher) { return 16; }
size_t SrtpSession::salt_length(Cipher c) { return c == Cipher::kAeadAes128Gcm ? 12 : 14; }

Expected<void, std::string> SrtpSession::global_init() {
  static std::once_flag once;
  static srtp_err_status_t status = srtp_err_status_ok;
  std::call_once(once, [] {
    status = srtp_init();
    // GStreamer's srtp plugin (webrtcbin, for WHIP/WHEP legs) may have initialised the
    // library first; a second srtp_init() then fails only on re-registering its debug module,
    // after its crypto kernel initialised fine. Any real failure shows at session creation.
    if (status == srtp_err_status_bad_param) status = srtp_err_status_ok;
  });
  if (status != srtp_err_status_ok)
    return unexpected("srtp_init failed (" + std::to_string(status) + ")");
  return {};
}

Expected<std::unique_ptr<SrtpSession>, std::string> SrtpSession::create(
    Cipher cipher, const uint8_t* local_key_salt, const uint8_t* remote_key_salt,
    unsigned long replay_window) {
  if (auto init = global_init(); !init) return unexpected(std::move(init).error());
  if (cipher == Cipher::kNone) return unexpected("no SRTP cipher");
  std::unique_ptr<SrtpSession> s(new SrtpSession());
  s->cipher_ = cipher;
  // libsrtp limits the replay window to 64..32768 (0 = default 128).
  if (replay_window < 64) replay_window = 64;
  if (replay_window > 32768) replay_window = 32768;
  srtp_policy_t p;
  set_policy(p, cipher, local_key_salt, replay_window, ssrc_any_outbound);
  if (auto st = srtp_create(&s->out_, &p); st != srtp_err_status_ok) {
    s->out_ = nullptr;
    return unexpected("srtp_create (outbound) failed: " + std::to_string(st));
  }
  set_policy(p, cipher, remote_key_salt, replay_window, ssrc_any_inbound);
  if (auto st = srtp_create(&s->in_, &p); st != srtp_err_status_ok) {
    s->in_ = nullptr;
    return unexpected("srtp_create (inbound) failed: " + std::to_string(st));
  }
  return s;
}

SrtpSession::~SrtpSession() {
  if (out_) srtp_dealloc(out_);
  if (in_) srtp_dealloc(in_);
}

SrtpSession::Status SrtpSession::protect_rtp(uint8_t* buf, int& len) {
  return map_status(srtp_protect(out_, buf, &len));
}
SrtpSession::Status SrtpSession::protect_rtcp(uint8_t* buf, int& len) {
  return map_status(srtp_protect_rtcp(out_, buf, &len));
}
SrtpSession::Status SrtpSession::unprotect_rtp(uint8_t* buf, int& len) {
  return map_status(srtp_unprotect(in_, buf, &len));
}
SrtpSession::Status SrtpSession::unprotect_rtcp(uint8_t* buf, int& len) {
  return map_status(srtp_unprotect_rtcp(in_, buf, &len));
}

}  // namespace meshcast::link
