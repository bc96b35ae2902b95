// ICE restarts on real links over 127.0.0.1: a link whose traffic is blackholed for a few
// seconds goes kReconnecting, restarts ICE (new credentials through the "signalling" of
// LoopbackPair) and carries media again on the same DTLS session and SRTP keys; lying or
// stale restart messages are refused without hurting the link; a cut longer than the heal
// window still fails, with a reason that says so.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "mesh/link/loopback_pair.hpp"

using namespace meshcast::link;

namespace {

LinkConfig healing_config(int heal_window_ms) {
  LinkConfig c;
  c.heal_window_ms = heal_window_ms;
  c.restart_interval_ms = 2000;
  c.restart_interval_max_ms = 4000;
  return c;
}

std::vector<uint8_t> rtp(uint16_t seq, uint32_t ssrc) {
  std::vector<uint8_t> p(160, 0);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
  for (size_t i = 12; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seq + i);
  return p;
}

class LinkHealTest : public ::testing::Test {
 protected:
  void SetUp() override { ctx_ = g_main_context_new(); }
  void TearDown() override {
    pair_.reset();
    pump(50);  // deferred agent releases
    g_main_context_unref(ctx_);
  }

  void connect(int heal_window_ms) {
    LoopbackOptions o;
    o.offerer_config = healing_config(heal_window_ms);
    o.answerer_config = healing_config(heal_window_ms);
    auto made = LoopbackPair::create(ctx_, std::move(o));
    ASSERT_TRUE(made) << made.error();
    pair_ = std::move(made).value();
    auto track = [](std::vector<LinkState>& states, std::string& reason) {
      return [&states, &reason](LinkState s, const std::string& r) {
        states.push_back(s);
        if (s == LinkState::kFailed) reason = r;
      };
    };
    pair_->offerer->set_on_state(track(offerer_states_, offerer_reason_));
    pair_->answerer->set_on_state(track(answerer_states_, answerer_reason_));
    pair_->offerer->set_on_rtp([this](const uint8_t*, size_t n) {
      if (n == 160) ++offerer_rx_;
    });
    pair_->answerer->set_on_rtp([this](const uint8_t*, size_t n) {
      if (n == 160) ++answerer_rx_;
    });
    auto connected = pair_->connect();
    ASSERT_TRUE(connected) << connected.error();
    ASSERT_TRUE(run_context_until(
        ctx_, [&] { return pair_->both(LinkState::kConnected); }, 10000));
  }

  void pump(int ms) {
    run_context_until(
        ctx_, [] { return false; }, ms);
  }

  // `n` packets each way, paced over ~n*10 ms; returns how many each side received.
  std::pair<int, int> exchange(int n) {
    int o0 = offerer_rx_, a0 = answerer_rx_;
    for (int i = 0; i < n; ++i) {
      auto p = rtp(seq_++, 0x1111);
      pair_->offerer->send_rtp(p.data(), p.size());
      auto q = rtp(seq_++, 0x2222);
      pair_->answerer->send_rtp(q.data(), q.size());
      pump(10);
    }
    pump(100);
    return {answerer_rx_ - a0, offerer_rx_ - o0};
  }

  void blackhole_offerer(bool on) {
    Impairment drop_all;
    drop_all.drop = on ? 1.0 : 0.0;
    pair_->offerer->set_impairment(drop_all, drop_all);
  }

  static bool saw(const std::vector<LinkState>& states, LinkState s) {
    return std::find(states.begin(), states.end(), s) != states.end();
  }

  GMainContext* ctx_ = nullptr;
  std::unique_ptr<LoopbackPair> pair_;
  std::vector<LinkState> offerer_states_, answerer_states_;
  std::string offerer_reason_, answerer_reason_;
  int offerer_rx_ = 0, answerer_rx_ = 0;
  uint16_t seq_ = 1;
};

TEST_F(LinkHealTest, BlackholedForFiveSecondsHealsWithAnIceRestartOnTheSameSrtpSession) {
  connect(20000);
  auto before = exchange(20);
  ASSERT_EQ(before.first, 20);
  ASSERT_EQ(before.second, 20);
  const auto cipher = pair_->offerer->stats().cipher;
  const auto old_ufrag = pair_->offerer->local_description().ufrag;

  // The offerer's every datagram (ours: DTLS, SRTP, SRTCP) is lost both ways for 5 s.
  blackhole_offerer(true);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->state() == LinkState::kReconnecting; }, 5000));
  pump(5000 - 3000);
  blackhole_offerer(false);

  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->both(LinkState::kConnected); }, 15000))
      << "offerer " << to_string(pair_->offerer->state()) << " " << offerer_reason_ << ", answerer "
      << to_string(pair_->answerer->state()) << " " << answerer_reason_;
  auto after = exchange(20);
  EXPECT_EQ(after.first, 20);
  EXPECT_EQ(after.second, 20);

  auto os = pair_->offerer->stats(), as = pair_->answerer->stats();
  EXPECT_GE(os.ice_restarts, 1u);
  EXPECT_GE(as.ice_restarts, 1u);
  EXPECT_GE(os.heals, 1u);
  EXPECT_GE(pair_->offerer->ice_generation(), 1u);
  EXPECT_EQ(pair_->offerer->ice_generation(), pair_->answerer->ice_generation());
  EXPECT_NE(pair_->offerer->local_description().ufrag, old_ufrag);  // new ICE credentials
  // Same DTLS session and SRTP keys: no second handshake, same cipher.
  EXPECT_EQ(os.dtls_handshakes, 1u);
  EXPECT_EQ(as.dtls_handshakes, 1u);
  EXPECT_EQ(os.cipher, cipher);
  EXPECT_TRUE(saw(offerer_states_, LinkState::kReconnecting));
  EXPECT_FALSE(saw(offerer_states_, LinkState::kFailed));
  EXPECT_FALSE(saw(answerer_states_, LinkState::kFailed));
  EXPECT_EQ(pair_->offerer->route().kind(), std::string("direct"));
}

TEST_F(LinkHealTest, ACutLongerThanTheHealWindowFailsWithAClearReason) {
  connect(4000);
  blackhole_offerer(true);
  ASSERT_TRUE(run_context_until(
      ctx_,
      [&] {
        return pair_->offerer->state() == LinkState::kFailed &&
               pair_->answerer->state() == LinkState::kFailed;
      },
      15000))
      << to_string(pair_->offerer->state()) << " / " << to_string(pair_->answerer->state());
  EXPECT_NE(offerer_reason_.find("could not reconnect within"), std::string::npos)
      << offerer_reason_;
  EXPECT_NE(offerer_reason_.find("peer unresponsive"), std::string::npos) << offerer_reason_;
  EXPECT_NE(answerer_reason_.find("could not reconnect within"), std::string::npos)
      << answerer_reason_;
  EXPECT_GE(pair_->offerer->stats().ice_restarts, 1u);
  EXPECT_TRUE(saw(offerer_states_, LinkState::kReconnecting));
}

TEST_F(LinkHealTest, WithoutAHealWindowASilentLinkFailsAsBefore) {
  connect(0);
  blackhole_offerer(true);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->state() == LinkState::kFailed; }, 6000));
  EXPECT_NE(offerer_reason_.find("unresponsive"), std::string::npos) << offerer_reason_;
  EXPECT_FALSE(saw(offerer_states_, LinkState::kReconnecting));
  EXPECT_EQ(pair_->offerer->stats().ice_restarts, 0u);
  EXPECT_FALSE(pair_->answerer->restart_ice());
}

// The attacker controls the signalling path (a lying tracker, or a third party's relay that
// got through): every forged restart is refused and the link keeps carrying media.
TEST_F(LinkHealTest, LyingAndStaleRestartMessagesAreRefusedWithoutHurtingTheLink) {
  connect(20000);
  auto offer_like = pair_->offerer->local_description();  // the offerer's fingerprint, actpass
  // Generation 0 (the first exchange) and one not above the current: stale.
  auto refused = pair_->answerer->set_remote_restart(0, offer_like);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("generation"), std::string::npos) << refused.error();
  // A huge jump would make every genuine later offer look stale.
  EXPECT_FALSE(pair_->answerer->set_remote_restart(1000000, offer_like));
  // Another certificate: DTLS is not redone, so this would hand the link to someone else.
  auto forged = offer_like;
  forged.fingerprint = "sha-256 AB";
  for (int i = 1; i < 32; ++i) forged.fingerprint += ":AB";
  refused = pair_->answerer->set_remote_restart(1, forged);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("fingerprint"), std::string::npos) << refused.error();
  // Another DTLS role.
  auto role = offer_like;
  role.setup = DtlsSetup::kPassive;
  refused = pair_->answerer->set_remote_restart(1, role);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("setup"), std::string::npos) << refused.error();
  // Garbage credentials.
  auto bad = offer_like;
  bad.ufrag = "x";
  EXPECT_FALSE(pair_->answerer->set_remote_restart(1, bad));
  // An answer the offerer never asked for.
  auto answer_like = pair_->answerer->local_description();
  EXPECT_FALSE(pair_->offerer->set_remote_restart(1, answer_like));
  // Candidates of a generation that does not exist.
  EXPECT_FALSE(pair_->answerer->add_remote_candidate(
      "candidate:9 1 UDP 2015363327 127.0.0.1 40000 typ host", 7));
  pair_->answerer->remote_candidates_done(7);

  EXPECT_EQ(pair_->offerer->state(), LinkState::kConnected);
  EXPECT_EQ(pair_->answerer->state(), LinkState::kConnected);
  EXPECT_EQ(pair_->answerer->ice_generation(), 0u);
  EXPECT_GE(pair_->answerer->stats().stale_restart_messages, 3u);
  auto r = exchange(20);
  EXPECT_EQ(r.first, 20);
  EXPECT_EQ(r.second, 20);
}

// Only the offerer's direction is cut: the answerer's pings still reach it, but its own are
// never answered. The offerer notices from the missing pongs and restarts; once the path is
// back the link heals.
TEST_F(LinkHealTest, AOneWayCutIsNoticedByTheOffererThroughUnansweredKeepalives) {
  connect(20000);
  Impairment drop_all;
  drop_all.drop = 1.0;
  pair_->answerer->set_impairment(PeerLink::Direction::kReceive, drop_all);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->offerer->state() == LinkState::kReconnecting; }, 12000));
  EXPECT_GT(pair_->offerer->stats().keepalives_received, 0u);
  pump(2000);
  pair_->answerer->set_impairment(PeerLink::Direction::kReceive, Impairment{});
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->both(LinkState::kConnected); }, 15000))
      << to_string(pair_->offerer->state()) << " " << offerer_reason_;
  EXPECT_GE(pair_->offerer->stats().ice_restarts, 1u);
  auto r = exchange(20);
  EXPECT_EQ(r.first, 20);
  EXPECT_EQ(r.second, 20);
}

// The first restart offers are lost (signalling still down); a later one gets through.
TEST_F(LinkHealTest, LostRestartOffersAreRetriedWithAHigherGeneration) {
  connect(20000);
  pair_->hold_restarts = true;
  auto restarted = pair_->offerer->restart_ice();
  ASSERT_TRUE(restarted) << restarted.error();
  EXPECT_EQ(pair_->offerer->state(), LinkState::kReconnecting);
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->restart_offers >= 2; }, 6000));
  pair_->hold_restarts = false;
  ASSERT_TRUE(run_context_until(
      ctx_, [&] { return pair_->both(LinkState::kConnected) && pair_->restart_offers >= 3; },
      10000))
      << to_string(pair_->offerer->state()) << " " << offerer_reason_;
  EXPECT_GE(pair_->offerer->ice_generation(), 3u);
  EXPECT_EQ(pair_->answerer->ice_generation(), pair_->offerer->ice_generation());
  auto r = exchange(20);
  EXPECT_EQ(r.first, 20);
  EXPECT_EQ(r.second, 20);
  EXPECT_EQ(pair_->offerer->stats().dtls_handshakes, 1u);
}

}  // namespace
