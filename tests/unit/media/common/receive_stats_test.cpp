#include "media/common/receive_stats.hpp"

#include <gtest/gtest.h>

using namespace meshcast::media;

TEST(ReceiveStatistics, CountsLossAcrossSequenceWrap) {
  ReceiveStatistics rs(48000);
  int64_t t = 0;
  uint16_t seq = 65500;
  for (int i = 0; i < 100; ++i, ++seq, t += 20000) {
    if (i % 10 == 3) continue;  // 10 % loss
    rs.on_packet(seq, 960u * i, t);
  }
  auto s = rs.stats();
  EXPECT_EQ(s.packets_received, 90u);
  EXPECT_EQ(s.cumulative_lost, 10);
  EXPECT_EQ(s.extended_highest_seq, (1u << 16) | static_cast<uint16_t>(65500 + 99));
  auto rb = rs.make_report_block(42);
  EXPECT_EQ(rb.ssrc, 42u);
  EXPECT_EQ(rb.cumulative_lost, 10);
  EXPECT_EQ(rb.fraction_lost, (10 << 8) / 100);
  EXPECT_NEAR(rs.stats().total_loss_ratio, 0.1, 1e-9);
  // Next interval without loss.
  for (int i = 100; i < 150; ++i, ++seq, t += 20000) rs.on_packet(seq, 960u * i, t);
  EXPECT_EQ(rs.make_report_block(42).fraction_lost, 0);
}

TEST(ReceiveStatistics, JitterIsZeroForPerfectPacingAndGrowsWithVariation) {
  ReceiveStatistics a(48000), b(48000);
  for (int i = 0; i < 200; ++i) {
    a.on_packet(static_cast<uint16_t>(i), 960u * i, 20000ll * i);
    b.on_packet(static_cast<uint16_t>(i), 960u * i, 20000ll * i + (i % 2 ? 10000 : 0));
  }
  EXPECT_NEAR(a.stats().jitter_ms, 0.0, 1e-9);
  EXPECT_NEAR(b.stats().jitter_ms, 10.0, 0.5);  // |D| = 10 ms every packet
}
