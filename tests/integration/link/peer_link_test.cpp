// Real ICE + DTLS-SRTP links over 127.0.0.1 in one process.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "mesh/link/loopback_pair.hpp"

using namespace meshcast::link;

namespace {

// A fresh GMainContext per test, so nothing leaks between cases.
class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override { ctx_ = g_main_context_new(); }
  void TearDown() override {
    pair_.reset();
    // Let deferred agent releases run.
    run_context_until(
        ctx_, [] { return false; }, 50);
    g_main_context_unref(ctx_);
  }

  LoopbackOptions options(CipherPreference cipher = CipherPreference::kAuto) {
    LoopbackOptions o;
    o.offerer_config.cipher = cipher;
    o.answerer_config.cipher = cipher;
    return o;
  }

  void make_pair(LoopbackOptions o) {
    auto made = LoopbackPair::create(ctx_, std::move(o));
    ASSERT_TRUE(made) << made.error();
    pair_ = std::move(made).value();
    pair_->offerer->set_on_state([this](LinkState s, const std::string& r) {
      offerer_states_.push_back(s);
      if (s == LinkState::kFailed || s == LinkState::kClosed) offerer_reason_ = r;
    });
    pair_->answerer->set_on_state([this](LinkState s, const std::string& r) {
      answerer_states_.push_back(s);
      if (s == LinkState::kFailed || s == LinkState::kClosed) answerer_reason_ = r;
    });
  }

  void connect_pair(LoopbackOptions o) {
    make_pair(std::move(o));
    auto connected = pair_->connect();
    ASSERT_TRUE(connected) << connected.error();
    ASSERT_TRUE(run_context_until(
        ctx_, [&] { return pair_->both(LinkState::kConnected); }, 10000))
        << "offerer " << to_string(pair_->offerer->state()) << " (" << pair_->offerer->reason()
        << "), answerer " << to_string(pair_->answerer->state()) << " ("
        << pair_->answerer->reason() << ")";
  }

  void pump(int ms) {
    run_context_until(
        ctx_, [] { return false; }, ms);
  }

  GMainContext* ctx_ = nullptr;
  std::unique_ptr<LoopbackPair> pair_;
  std::vector<LinkState> offerer_states_, answerer_states_;
  std::string offerer_reason_, answerer_reason_;
};

std::vector<uint8_t> make_rtp(uint16_t seq, uint32_t ssrc, size_t size, uint8_t fill) {
  std::vector<uint8_t> p(size);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  uint32_t ts = seq * 960u;
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<uint8_t>(ts >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
  for (size_t i = 12; i < size; ++i) p[i] = static_cast<uint8_t>(fill + i * 7 + seq);
  return p;
}

uint16_t seq_of(const uint8_t* d) { return static_cast<uint16_t>(d[2] << 8 | d[3]); }

}  // namespace

TEST_F(LinkTest, ConnectsOverLoopbackWithGcmByDefault) {
  connect_pair(options());
  EXPECT_EQ(pair_->offerer->stats().cipher, Cipher::kAeadAes128Gcm);
  EXPECT_EQ(pair_->answerer->stats().cipher, Cipher::kAeadAes128Gcm);
  // Offer actpass -> answerer is DTLS client (active), offerer the server.
  EXPECT_TRUE(pair_->answerer->dtls_client());
  EXPECT_FALSE(pair_->offerer->dtls_client());
  auto d = pair_->offerer->local_description();
  ASSERT_FALSE(d.candidates.empty());
  for (auto& c : d.candidates) EXPECT_NE(c.find(" 127.0.0.1 "), std::string::npos) << c;
}

namespace {

// Sends `count` RTP packets from `from` in paced bursts and records what it sent.
struct Traffic {
  std::map<uint16_t, std::vector<uint8_t>> sent;
  std::vector<std::vector<uint8_t>> received;
};

void send_paced(GMainContext* ctx, PeerLink& from, Traffic& t, int count, uint32_t ssrc,
                size_t size, uint16_t first_seq = 0) {
  for (int i = 0; i < count; ++i) {
    uint16_t seq = static_cast<uint16_t>(first_seq + i);
    auto p = make_rtp(seq, ssrc, size, static_cast<uint8_t>(ssrc));
    auto r = from.send_rtp(p.data(), p.size());
    ASSERT_TRUE(r) << r.error();
    t.sent[seq] = std::move(p);
    // Modest pacing: 20 packets, then let the loop drain the socket.
    if (i % 20 == 19)
      run_context_until(
          ctx, [] { return false; }, 1);
  }
}

void expect_intact(const Traffic& t) {
  for (auto& r : t.received) {
    ASSERT_GE(r.size(), 12u);
    auto it = t.sent.find(seq_of(r.data()));
    ASSERT_NE(it, t.sent.end()) << "delivered a packet that was never sent";
    EXPECT_EQ(r, it->second) << "delivered payload differs from the one sent, seq " << it->first;
  }
}

}  // namespace

class LinkCipherTest : public LinkTest, public ::testing::WithParamInterface<CipherPreference> {};

TEST_P(LinkCipherTest, ThousandRtpPacketsEachWayArriveIntact) {
  connect_pair(options(GetParam()));
  Cipher expected =
      GetParam() == CipherPreference::kCmOnly ? Cipher::kAes128CmSha1_80 : Cipher::kAeadAes128Gcm;
  EXPECT_EQ(pair_->offerer->stats().cipher, expected);
  EXPECT_EQ(pair_->answerer->stats().cipher, expected);
  Traffic ab, ba;
  pair_->answerer->set_on_rtp(
      [&](const uint8_t* d, size_t n) { ab.received.emplace_back(d, d + n); });
  pair_->offerer->set_on_rtp(
      [&](const uint8_t* d, size_t n) { ba.received.emplace_back(d, d + n); });
  send_paced(ctx_, *pair_->offerer, ab, 1000, 0x1111, 1200);
  send_paced(ctx_, *pair_->answerer, ba, 1000, 0x2222, 1000);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return ab.received.size() >= 1000 && ba.received.size() >= 1000; }, 5000))
      << ab.received.size() << " / " << ba.received.size();
  EXPECT_EQ(ab.received.size(), 1000u);
  EXPECT_EQ(ba.received.size(), 1000u);
  expect_intact(ab);
  expect_intact(ba);
  auto so = pair_->offerer->stats(), sa = pair_->answerer->stats();
  EXPECT_EQ(so.packets_sent, 1000u);
  EXPECT_EQ(sa.packets_received, 1000u);
  EXPECT_EQ(sa.bytes_received, 1000u * 1200u);
  EXPECT_EQ(sa.srtp_auth_failures, 0u);
  EXPECT_EQ(sa.replays_rejected, 0u);
}

TEST_P(LinkCipherTest, RtcpIsDeliveredSeparatelyFromRtp) {
  connect_pair(options(GetParam()));
  std::vector<std::vector<uint8_t>> rtcp;
  int rtp = 0;
  pair_->answerer->set_on_rtcp([&](const uint8_t* d, size_t n) { rtcp.emplace_back(d, d + n); });
  pair_->answerer->set_on_rtp([&](const uint8_t*, size_t) { ++rtp; });
  // RTCP APP packet (PT 204), 16 bytes, as the mesh uses for control.
  std::vector<uint8_t> app = {0x80, 204, 0, 3, 1, 2, 3, 4, 'M', 'E', 'S', 'H', 9, 8, 7, 6};
  ASSERT_TRUE(pair_->offerer->send_rtcp(app.data(), app.size()));
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return !rtcp.empty(); }, 2000));
  EXPECT_EQ(rtcp[0], app);
  EXPECT_EQ(rtp, 0);
}

TEST_P(LinkCipherTest, CorruptedPacketsAreRejectedAndCounted) {
  connect_pair(options(GetParam()));
  Traffic ab;
  pair_->answerer->set_on_rtp(
      [&](const uint8_t* d, size_t n) { ab.received.emplace_back(d, d + n); });
  send_paced(ctx_, *pair_->offerer, ab, 100, 0x3333, 800, 0);
  Impairment corrupt;
  corrupt.corrupt = 1.0;
  corrupt.seed = 7;
  pair_->offerer->set_impairment(PeerLink::Direction::kSend, corrupt);
  send_paced(ctx_, *pair_->offerer, ab, 100, 0x3333, 800, 100);
  pair_->offerer->set_impairment(PeerLink::Direction::kSend, Impairment{});
  send_paced(ctx_, *pair_->offerer, ab, 100, 0x3333, 800, 200);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return ab.received.size() >= 200; }, 5000));
  pump(100);
  auto sa = pair_->answerer->stats();
  auto so = pair_->offerer->stats();
  EXPECT_GE(so.impaired_corrupted, 100u);
  EXPECT_EQ(ab.received.size(), 200u);
  EXPECT_GE(sa.srtp_auth_failures, 100u);
  // Every corrupted datagram (100 RTP plus any keepalive caught in the window) was
  // rejected by authentication.
  EXPECT_EQ(sa.srtp_auth_failures + sa.replays_rejected, so.impaired_corrupted);
  for (auto& r : ab.received) {
    uint16_t s = seq_of(r.data());
    EXPECT_TRUE(s < 100 || s >= 200) << "corrupted packet " << s << " was delivered";
  }
  expect_intact(ab);
}

TEST_P(LinkCipherTest, ReplayedPacketIsRejectedAndCounted) {
  connect_pair(options(GetParam()));
  Traffic ab;
  pair_->answerer->set_on_rtp(
      [&](const uint8_t* d, size_t n) { ab.received.emplace_back(d, d + n); });
  send_paced(ctx_, *pair_->offerer, ab, 10, 0x4444, 500);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return ab.received.size() >= 10; }, 2000));
  ASSERT_TRUE(pair_->answerer->replay_last_received_for_test());
  ASSERT_TRUE(pair_->answerer->replay_last_received_for_test());
  EXPECT_EQ(ab.received.size(), 10u);
  EXPECT_EQ(pair_->answerer->stats().replays_rejected, 2u);
  // Network duplicates are replays too: every duplicate is rejected, none delivered twice.
  Impairment dup;
  dup.duplicate = 1.0;
  pair_->offerer->set_impairment(PeerLink::Direction::kSend, dup);
  send_paced(ctx_, *pair_->offerer, ab, 10, 0x4444, 500, 10);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return ab.received.size() >= 20; }, 2000));
  pump(50);
  EXPECT_EQ(ab.received.size(), 20u);
  EXPECT_GE(pair_->answerer->stats().replays_rejected, 12u);
  expect_intact(ab);
}

INSTANTIATE_TEST_SUITE_P(Ciphers, LinkCipherTest,
                         ::testing::Values(CipherPreference::kGcmOnly, CipherPreference::kCmOnly),
                         [](const auto& info) {
                           return info.param == CipherPreference::kGcmOnly ? "Gcm" : "Cm";
                         });

TEST_F(LinkTest, CmIsNegotiatedWhenOnlyThePeerForcesIt) {
  auto o = options();
  o.answerer_config.cipher = CipherPreference::kCmOnly;
  connect_pair(std::move(o));
  EXPECT_EQ(pair_->offerer->stats().cipher, Cipher::kAes128CmSha1_80);
}

TEST_F(LinkTest, FingerprintMismatchInAnswerFailsTheHandshake) {
  auto o = options();
  o.mutate_answer = [](SessionDescription& d) {
    d.fingerprint[8] = d.fingerprint[8] == 'A' ? 'B' : 'A';
  };
  make_pair(std::move(o));
  auto connected = pair_->connect();
  ASSERT_TRUE(connected) << connected.error();
  ASSERT_TRUE(run_context_until(
      ctx_,
      [&] {
        return pair_->offerer->state() == LinkState::kFailed &&
               pair_->answerer->state() == LinkState::kFailed;
      },
      10000))
      << to_string(pair_->offerer->state()) << " / " << to_string(pair_->answerer->state());
  EXPECT_NE(offerer_reason_.find("fingerprint mismatch"), std::string::npos) << offerer_reason_;
  EXPECT_NE(answerer_reason_.find("DTLS"), std::string::npos) << answerer_reason_;
  for (auto s : offerer_states_) EXPECT_NE(s, LinkState::kConnected);
  for (auto s : answerer_states_) EXPECT_NE(s, LinkState::kConnected);
}

TEST_F(LinkTest, FingerprintMismatchInOfferFailsTheHandshake) {
  auto o = options();
  auto other = Certificate::generate();
  ASSERT_TRUE(other) << other.error();
  o.mutate_offer = [&](SessionDescription& d) { d.fingerprint = (*other)->fingerprint(); };
  make_pair(std::move(o));
  auto connected = pair_->connect();
  ASSERT_TRUE(connected) << connected.error();
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->answerer->state() == LinkState::kFailed; }, 10000));
  EXPECT_NE(answerer_reason_.find("fingerprint mismatch"), std::string::npos) << answerer_reason_;
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->state() == LinkState::kFailed; }, 10000));
}

TEST_F(LinkTest, VanishedPeerIsReportedFailedWithinFiveSeconds) {
  connect_pair(options());
  int64_t t0 = g_get_monotonic_time();
  pair_->answerer.reset();  // no close: the agent just goes away
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->state() == LinkState::kFailed; }, 5000))
      << to_string(pair_->offerer->state());
  double s = (g_get_monotonic_time() - t0) / 1e6;
  EXPECT_LT(s, 5.0);
  EXPECT_NE(offerer_reason_.find("unresponsive"), std::string::npos) << offerer_reason_;
}

TEST_F(LinkTest, PeerThatStopsSendingIsReportedFailedWithinFiveSeconds) {
  connect_pair(options());
  Impairment blackhole;
  blackhole.drop = 1.0;
  pair_->answerer->set_impairment(PeerLink::Direction::kSend, blackhole);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->state() == LinkState::kFailed; }, 5000))
      << to_string(pair_->offerer->state());
  EXPECT_NE(offerer_reason_.find("unresponsive"), std::string::npos) << offerer_reason_;
}

TEST_F(LinkTest, KeepaliveMeasuresRtt) {
  connect_pair(options());
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->stats().rtt_ms >= 0; }, 3000));
  EXPECT_LT(pair_->offerer->stats().rtt_ms, 1000.0);
  EXPECT_GT(pair_->answerer->stats().keepalives_received, 0u);
}

TEST_F(LinkTest, CloseIsSeenByThePeer) {
  connect_pair(options());
  pair_->offerer->close();
  EXPECT_EQ(pair_->offerer->state(), LinkState::kClosed);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->answerer->state() == LinkState::kClosed; }, 2000));
  EXPECT_NE(answerer_reason_.find("close"), std::string::npos) << answerer_reason_;
  auto p = make_rtp(1, 1, 100, 0);
  auto r = pair_->offerer->send_rtp(p.data(), p.size());
  ASSERT_FALSE(r);
  EXPECT_STREQ(r.error(), "link not connected");
}

TEST_F(LinkTest, SendRejectsBadInputWithAReason) {
  make_pair(options());
  auto p = make_rtp(1, 1, 100, 0);
  EXPECT_FALSE(pair_->offerer->send_rtp(p.data(), p.size()));  // not connected yet
  auto connected = pair_->connect();
  ASSERT_TRUE(connected) << connected.error();
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->both(LinkState::kConnected); }, 10000));
  auto big = make_rtp(1, 1, 1401, 0);
  auto r = pair_->offerer->send_rtp(big.data(), big.size());
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.error()).find("larger"), std::string::npos);
  std::vector<uint8_t> junk(20, 0x11);
  EXPECT_FALSE(pair_->offerer->send_rtp(junk.data(), junk.size()));
  EXPECT_FALSE(pair_->offerer->send_rtcp(p.data(), p.size()));  // RTP is not RTCP
  EXPECT_TRUE(pair_->offerer->send_rtp(p.data(), p.size()));
}

TEST_F(LinkTest, GarbageOnTheWireIsCountedNotDelivered) {
  connect_pair(options());
  int delivered = 0;
  pair_->answerer->set_on_rtp([&](const uint8_t*, size_t) { ++delivered; });
  std::vector<uint8_t> junk(100, 0xff);
  pair_->answerer->inject_raw_for_test(junk.data(), junk.size());
  auto fake = make_rtp(5, 5, 100, 1);  // plain RTP: no valid auth tag
  pair_->answerer->inject_raw_for_test(fake.data(), fake.size());
  std::vector<uint8_t> dtls_junk(40, 22);
  pair_->answerer->inject_raw_for_test(dtls_junk.data(), dtls_junk.size());
  pump(20);
  auto s = pair_->answerer->stats();
  EXPECT_EQ(s.unknown_packets, 1u);
  EXPECT_EQ(s.srtp_auth_failures, 1u);
  EXPECT_EQ(delivered, 0);
  EXPECT_EQ(pair_->answerer->state(), LinkState::kConnected);
}

TEST_F(LinkTest, LossyLinkDeliversOnlyIntactPackets) {
  connect_pair(options());
  Traffic ab;
  pair_->answerer->set_on_rtp(
      [&](const uint8_t* d, size_t n) { ab.received.emplace_back(d, d + n); });
  Impairment imp;
  imp.drop = 0.1;
  imp.delay_ms = 5;
  imp.jitter_ms = 3;
  imp.reorder = 0.05;
  imp.duplicate = 0.02;
  imp.corrupt = 0.02;
  imp.seed = 42;
  pair_->offerer->set_impairment(imp, Impairment{});
  send_paced(ctx_, *pair_->offerer, ab, 500, 0x5555, 600);
  pump(200);
  auto so = pair_->offerer->stats();
  auto sa = pair_->answerer->stats();
  size_t expected = 500 - so.impaired_dropped - so.impaired_corrupted;
  // Keepalives share the impairment, so allow for those among the dropped/corrupted.
  EXPECT_GE(ab.received.size(), expected);
  EXPECT_LE(ab.received.size(), 500u);
  EXPECT_GT(ab.received.size(), 400u);
  EXPECT_GT(so.impaired_dropped, 20u);
  EXPECT_GT(sa.srtp_auth_failures, 0u);
  expect_intact(ab);
  // Reordering happened: some packet arrived after a higher sequence number.
  bool reordered = false;
  for (size_t i = 1; i < ab.received.size(); ++i)
    reordered |= seq_of(ab.received[i].data()) < seq_of(ab.received[i - 1].data());
  EXPECT_TRUE(reordered);
}

TEST_F(LinkTest, LinkMayBeDestroyedFromItsOwnCallbacks) {
  connect_pair(options());
  int calls = 0;
  pair_->answerer->set_on_rtp([&](const uint8_t*, size_t) {
    ++calls;
    pair_->answerer.reset();
  });
  Traffic ab;
  for (int i = 0; i < 5; ++i) {
    auto p = make_rtp(static_cast<uint16_t>(i), 9, 200, 0);
    ASSERT_TRUE(pair_->offerer->send_rtp(p.data(), p.size()));
  }
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return !pair_->answerer; }, 2000));
  pump(50);
  EXPECT_EQ(calls, 1);
  // And from a state callback.
  pair_->offerer->set_on_state([&](LinkState, const std::string&) { pair_->offerer.reset(); });
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return !pair_->offerer; }, 5000));
  pump(50);
}

TEST_F(LinkTest, RemoteInputIsValidated) {
  make_pair(options());
  PeerLink& a = *pair_->answerer;
  auto r = a.add_remote_candidate("candidate:1 1 UDP 1 999.1.1.1 9 typ host");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("numeric"), std::string::npos) << r.error();
  r = a.add_remote_candidate("garbage");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("candidate"), std::string::npos) << r.error();
  r = a.add_remote_candidate("candidate:1 2 UDP 1 127.0.0.1 9 typ host");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("component"), std::string::npos) << r.error();
  // An answer may not say actpass.
  SessionDescription answer = a.local_description();
  answer.setup = DtlsSetup::kActpass;
  auto started = pair_->offerer->start();
  ASSERT_TRUE(started) << started.error();
  r = pair_->offerer->set_remote_description(answer);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("actpass"), std::string::npos) << r.error();
  // A description built in memory is validated like a parsed one.
  SessionDescription broken = a.local_description();
  broken.fingerprint = "sha-256 nope";
  r = pair_->offerer->set_remote_description(broken);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("fingerprint"), std::string::npos) << r.error();
}

TEST_F(LinkTest, UnreachableCandidatesFailWithinTheConnectTimeout) {
  // Two links that never learn each other's real candidates: each only hears of a
  // port nobody listens on.
  LinkConfig cfg;
  cfg.connect_timeout_ms = 2000;
  auto cert = Certificate::process_default();
  auto made_off = PeerLink::create(ctx_, cfg, cert, Role::kOfferer);
  ASSERT_TRUE(made_off) << made_off.error();
  auto made_ans = PeerLink::create(ctx_, cfg, cert, Role::kAnswerer);
  ASSERT_TRUE(made_ans) << made_ans.error();
  std::unique_ptr<PeerLink> off = std::move(*made_off), ans = std::move(*made_ans);
  std::string reason;
  off->set_on_state([&](LinkState s, const std::string& r) {
    if (s == LinkState::kFailed) reason = r;
  });
  auto r = off->start();
  ASSERT_TRUE(r) << r.error();
  SessionDescription offer = off->local_description();
  offer.candidates = {"candidate:1 1 UDP 2015363327 127.0.0.1 9 typ host"};
  offer.end_of_candidates = true;
  r = ans->set_remote_description(offer);
  ASSERT_TRUE(r) << r.error();
  r = ans->start();
  ASSERT_TRUE(r) << r.error();
  SessionDescription answer = ans->local_description();
  answer.candidates = {"candidate:1 1 UDP 2015363327 127.0.0.1 9 typ host"};
  answer.end_of_candidates = true;
  r = off->set_remote_description(answer);
  ASSERT_TRUE(r) << r.error();
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return off->state() == LinkState::kFailed; }, 5000))
      << to_string(off->state());
  EXPECT_FALSE(reason.empty());
  std::printf("unreachable peer: %s\n", reason.c_str());
}

TEST_F(LinkTest, SelectedSocketBuffersAreEnlarged) {
  connect_pair(options());
  // The kernel caps the request at net.core.rmem_max and reports twice the value.
  long rmem_max = 0;
  if (FILE* f = std::fopen("/proc/sys/net/core/rmem_max", "r")) {
    if (std::fscanf(f, "%ld", &rmem_max) != 1) rmem_max = 0;
    std::fclose(f);
  }
  long want = std::min<long>(4L << 20, rmem_max);
  auto s = pair_->offerer->stats();
  EXPECT_GE(s.socket_rcvbuf_bytes, want);
  EXPECT_GT(s.socket_sndbuf_bytes, 0);
  EXPECT_GE(pair_->answerer->stats().socket_rcvbuf_bytes, want);
}

TEST_F(LinkTest, HandshakeSurvivesHeavyDatagramLoss) {
  // 30 % of DTLS (and later SRTP) datagrams lost each way: DTLS retransmission copes.
  make_pair(options());
  Impairment lossy;
  lossy.drop = 0.3;
  lossy.seed = 11;
  pair_->offerer->set_impairment(lossy, Impairment{});
  lossy.seed = 12;
  pair_->answerer->set_impairment(lossy, Impairment{});
  auto connected = pair_->connect();
  ASSERT_TRUE(connected) << connected.error();
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->both(LinkState::kConnected); }, 10000))
      << to_string(pair_->offerer->state()) << " " << pair_->offerer->reason() << " / "
      << to_string(pair_->answerer->state()) << " " << pair_->answerer->reason();
  EXPECT_GT(pair_->offerer->stats().impaired_dropped + pair_->answerer->stats().impaired_dropped,
            0u);
}

TEST_F(LinkTest, ConnectsOverIpv6Loopback) {
  auto o = options();
  o.offerer_config.local_addresses = {"::1"};
  o.answerer_config.local_addresses = {"::1"};
  connect_pair(std::move(o));
  for (auto& c : pair_->answerer->local_description().candidates)
    EXPECT_NE(c.find(" ::1 "), std::string::npos) << c;
  std::vector<uint8_t> got;
  pair_->answerer->set_on_rtp([&](const uint8_t* d, size_t n) { got.assign(d, d + n); });
  auto p = make_rtp(7, 7, 300, 3);
  ASSERT_TRUE(pair_->offerer->send_rtp(p.data(), p.size()));
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return !got.empty(); }, 2000));
  EXPECT_EQ(got, p);
}

TEST_F(LinkTest, UnreachableStunAndTurnServersDoNotBlockTheLink) {
  // Settings are accepted and used; servers that never answer (closed loopback ports)
  // only delay end-of-candidates, the host pair still connects.
  auto o = options();
  o.offerer_config.stun_host = "127.0.0.1";
  o.offerer_config.stun_port = 9;
  TurnServer udp{"127.0.0.1", 9, "user", "pass", RelayTransport::kUdp, ""};
  TurnServer tcp{"127.0.0.1", 9, "user", "pass", RelayTransport::kTcp, ""};
  TurnServer tls{"127.0.0.1", 9, "user", "pass", RelayTransport::kTls, ""};
  o.answerer_config.turn_servers = {udp, tcp, tls};
  connect_pair(std::move(o));
  EXPECT_EQ(pair_->offerer->stats().cipher, Cipher::kAeadAes128Gcm);
  // The route is the host pair on loopback, read from libnice's selected pair.
  for (auto* l : {pair_->offerer.get(), pair_->answerer.get()}) {
    auto r = l->route();
    EXPECT_TRUE(r.selected);
    EXPECT_STREQ(r.kind(), "direct");
    EXPECT_EQ(r.local_type, "host");
    EXPECT_EQ(r.remote_type, "host");
    EXPECT_EQ(r.transport, "udp");
    EXPECT_EQ(r.local_address.rfind("127.0.0.1:", 0), 0u) << r.local_address;
    EXPECT_TRUE(r.relay_transport.empty());
  }
}

TEST(LinkConfigDefaults, NoServersAndLoopbackOnly) {
  LinkConfig c;
  EXPECT_TRUE(c.stun_host.empty());
  EXPECT_TRUE(c.turn_servers.empty());
  ASSERT_EQ(c.local_addresses.size(), 1u);
  EXPECT_EQ(c.local_addresses[0], "127.0.0.1");
}
