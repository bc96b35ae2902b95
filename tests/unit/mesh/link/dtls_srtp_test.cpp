// DTLS handshake, fingerprint check and DTLS-SRTP keying without a network: two
// DtlsTransports exchange datagrams in memory.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "mesh/base/time.hpp"
#include "mesh/link/dtls_transport.hpp"
#include "mesh/link/packet_class.hpp"
#include "mesh/link/srtp_session.hpp"

using namespace meshcast::link;
using meshcast::monotonic_us;
using meshcast::TimeUs;

namespace {

struct Pair {
  std::unique_ptr<DtlsTransport> client, server;
  int dropped_first_flights = 0;
};

// Moves datagrams both ways until nothing is left; `drop_first` loses the client's
// first flight so the retransmission timer has to recover it.
void pump(Pair& p, bool drop_first = false) {
  for (int round = 0; round < 50; ++round) {
    bool moved = false;
    for (auto& d : p.client->take_outgoing()) {
      EXPECT_EQ(classify_packet(d.data(), d.size()), PacketClass::kDtls);
      moved = true;
      if (drop_first && p.dropped_first_flights == 0) {
        ++p.dropped_first_flights;
        continue;
      }
      p.server->handle_datagram(d.data(), d.size(), monotonic_us());
    }
    for (auto& d : p.server->take_outgoing()) {
      moved = true;
      p.client->handle_datagram(d.data(), d.size(), monotonic_us());
    }
    if (!moved) {
      if (auto at = p.client->next_deadline()) {
        // OpenSSL checks the real clock: wait out the (200 ms) retransmission timer.
        std::this_thread::sleep_for(std::chrono::microseconds(*at - monotonic_us() + 2000));
        p.client->on_timer(monotonic_us());
        // The deadline counts from the `now` given with the input, taken before OpenSSL read
        // its clock, so it can come a little early: then on_timer() only moves it on.
        if (p.client->has_outgoing() || p.client->next_deadline() != at) continue;
      }
      return;
    }
  }
}

Pair make_pair(CipherPreference cp, CipherPreference sp, const std::string& server_fp_override = "",
               TimeUs now = monotonic_us()) {
  auto cc = Certificate::process_default();
  static auto sc = *Certificate::generate();
  Pair p;
  p.client = std::make_unique<DtlsTransport>(
      cc, true, cp, server_fp_override.empty() ? sc->fingerprint() : server_fp_override);
  p.server = std::make_unique<DtlsTransport>(sc, false, sp, cc->fingerprint());
  auto ci = p.client->init();
  EXPECT_TRUE(ci) << ci.error();
  auto si = p.server->init();
  EXPECT_TRUE(si) << si.error();
  p.client->start(now);
  p.server->start(now);
  return p;
}

std::vector<uint8_t> rtp(uint16_t seq, size_t n) {
  std::vector<uint8_t> p(n + kSrtpMaxOverhead, 0);
  p[0] = 0x80;
  p[1] = 111;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  p[11] = 42;
  for (size_t i = 12; i < n; ++i) p[i] = static_cast<uint8_t>(i);
  return p;
}

}  // namespace

TEST(Certificate, FingerprintFormat) {
  auto c = Certificate::process_default();
  ASSERT_TRUE(c);
  EXPECT_EQ(c, Certificate::process_default());  // once per process
  EXPECT_EQ(c->fingerprint().size(), 8u + 95u);
  EXPECT_EQ(c->fingerprint().rfind("sha-256 ", 0), 0u);
}

class DtlsSrtp : public ::testing::TestWithParam<CipherPreference> {};

TEST_P(DtlsSrtp, HandshakeExportsMatchingKeysAndSrtpWorks) {
  Pair p = make_pair(GetParam(), CipherPreference::kAuto);
  pump(p);
  ASSERT_EQ(p.client->state(), DtlsTransport::State::kConnected) << p.client->error();
  ASSERT_EQ(p.server->state(), DtlsTransport::State::kConnected) << p.server->error();
  Cipher want =
      GetParam() == CipherPreference::kCmOnly ? Cipher::kAes128CmSha1_80 : Cipher::kAeadAes128Gcm;
  EXPECT_EQ(p.client->keys().cipher, want);
  EXPECT_EQ(p.client->keys().local_key_salt, p.server->keys().remote_key_salt);
  EXPECT_EQ(p.client->keys().remote_key_salt, p.server->keys().local_key_salt);
  EXPECT_NE(p.client->keys().local_key_salt, p.client->keys().remote_key_salt);
  EXPECT_EQ(p.client->keys().local_key_salt.size(),
            SrtpSession::key_length(want) + SrtpSession::salt_length(want));

  auto& ck = p.client->keys();
  auto& sk = p.server->keys();
  auto made_a =
      SrtpSession::create(ck.cipher, ck.local_key_salt.data(), ck.remote_key_salt.data(), 1024);
  ASSERT_TRUE(made_a) << made_a.error();
  auto made_b =
      SrtpSession::create(sk.cipher, sk.local_key_salt.data(), sk.remote_key_salt.data(), 1024);
  ASSERT_TRUE(made_b) << made_b.error();
  SrtpSession* a = made_a->get();
  SrtpSession* b = made_b->get();

  auto plain = rtp(1, 200);
  auto buf = plain;
  int len = 200;
  ASSERT_EQ(a->protect_rtp(buf.data(), len), SrtpSession::Status::kOk);
  EXPECT_GT(len, 200);
  auto wire = std::vector<uint8_t>(buf.begin(), buf.begin() + len);
  // Intact: decrypts to the original.
  auto rx = wire;
  rx.resize(wire.size() + kSrtpMaxOverhead);
  int rl = len;
  ASSERT_EQ(b->unprotect_rtp(rx.data(), rl), SrtpSession::Status::kOk);
  EXPECT_EQ(rl, 200);
  EXPECT_EQ(0, std::memcmp(rx.data(), plain.data(), 200));
  // Replay: rejected.
  rx = wire;
  rx.resize(wire.size() + kSrtpMaxOverhead);
  rl = len;
  EXPECT_EQ(b->unprotect_rtp(rx.data(), rl), SrtpSession::Status::kReplay);
  // Tampered (next packet, one payload bit flipped): authentication fails.
  buf = rtp(2, 200);
  len = 200;
  ASSERT_EQ(a->protect_rtp(buf.data(), len), SrtpSession::Status::kOk);
  buf[50] ^= 1;
  EXPECT_EQ(b->unprotect_rtp(buf.data(), len), SrtpSession::Status::kAuthFail);
  // RTCP in the other direction.
  std::vector<uint8_t> rtcp = {0x80, 200, 0, 1, 0, 0, 0, 9};
  rtcp.resize(8 + kSrtpMaxOverhead);
  len = 8;
  ASSERT_EQ(b->protect_rtcp(rtcp.data(), len), SrtpSession::Status::kOk);
  EXPECT_EQ(a->unprotect_rtcp(rtcp.data(), len), SrtpSession::Status::kOk);
  EXPECT_EQ(len, 8);
  EXPECT_EQ(rtcp[7], 9);
}

INSTANTIATE_TEST_SUITE_P(Ciphers, DtlsSrtp,
                         ::testing::Values(CipherPreference::kAuto, CipherPreference::kGcmOnly,
                                           CipherPreference::kCmOnly),
                         [](const auto& info) {
                           return info.param == CipherPreference::kAuto      ? "Auto"
                                  : info.param == CipherPreference::kGcmOnly ? "Gcm"
                                                                             : "Cm";
                         });

TEST(DtlsTransport, RecoversALostFlightByRetransmission) {
  Pair p = make_pair(CipherPreference::kAuto, CipherPreference::kAuto);
  pump(p, /*drop_first=*/true);
  EXPECT_EQ(p.dropped_first_flights, 1);
  EXPECT_EQ(p.client->state(), DtlsTransport::State::kConnected) << p.client->error();
  EXPECT_EQ(p.server->state(), DtlsTransport::State::kConnected) << p.server->error();
}

TEST(DtlsTransport, RetransmissionDeadlineIsAbsoluteAndEndsWithTheHandshake) {
  // The deadline is the given `now` plus OpenSSL's first retransmission delay (200 ms).
  const TimeUs now = monotonic_us();
  Pair p = make_pair(CipherPreference::kAuto, CipherPreference::kAuto, "", now);
  ASSERT_TRUE(p.client->next_deadline());
  EXPECT_GT(*p.client->next_deadline(), now);
  EXPECT_LE(*p.client->next_deadline(), now + 200 * meshcast::kUsPerMs);
  EXPECT_FALSE(p.server->next_deadline()) << "the server waits for the hello: no timer yet";
  pump(p);
  ASSERT_EQ(p.client->state(), DtlsTransport::State::kConnected) << p.client->error();
  EXPECT_FALSE(p.client->next_deadline());
  EXPECT_FALSE(p.server->next_deadline());
}

TEST(DtlsTransport, InitFailsWithAReasonWithoutACertificate) {
  DtlsTransport t(nullptr, true, CipherPreference::kAuto, "sha-256 00");
  auto r = t.init();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "no certificate");
  EXPECT_EQ(t.state(), DtlsTransport::State::kFailed);
}

TEST(DtlsTransport, FingerprintMismatchFailsBothSides) {
  std::string wrong = Certificate::process_default()->fingerprint();
  wrong[8] = wrong[8] == 'A' ? 'B' : 'A';
  Pair p = make_pair(CipherPreference::kAuto, CipherPreference::kAuto, wrong);
  pump(p);
  EXPECT_EQ(p.client->state(), DtlsTransport::State::kFailed);
  EXPECT_NE(p.client->error().find("fingerprint mismatch"), std::string::npos) << p.client->error();
  EXPECT_EQ(p.server->state(), DtlsTransport::State::kFailed) << "server should get an alert";
}

TEST(DtlsTransport, NoCommonSrtpProfileFails) {
  Pair p = make_pair(CipherPreference::kGcmOnly, CipherPreference::kCmOnly);
  pump(p);
  EXPECT_NE(p.client->state(), DtlsTransport::State::kConnected);
  EXPECT_NE(p.server->state(), DtlsTransport::State::kConnected);
}

TEST(DtlsTransport, GarbageDatagramsDoNotCrash) {
  Pair p = make_pair(CipherPreference::kAuto, CipherPreference::kAuto);
  std::vector<uint8_t> junk(300);
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 31 + 22);
  junk[0] = 22;
  p.server->handle_datagram(junk.data(), junk.size(), monotonic_us());
  p.server->handle_datagram(junk.data(), 1, monotonic_us());
  SUCCEED();
}

TEST(DtlsTransport, CloseNotifyReachesPeer) {
  Pair p = make_pair(CipherPreference::kAuto, CipherPreference::kAuto);
  pump(p);
  ASSERT_EQ(p.server->state(), DtlsTransport::State::kConnected);
  p.client->close();
  pump(p);
  EXPECT_EQ(p.server->state(), DtlsTransport::State::kClosed);
}
