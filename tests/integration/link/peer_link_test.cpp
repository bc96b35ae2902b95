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
    std::string err;
    pair_ = LoopbackPair::create(ctx_, std::move(o), err);
    ASSERT_TRUE(pair_) << err;
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
    std::string err;
    ASSERT_TRUE(pair_->connect(err)) << err;
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
