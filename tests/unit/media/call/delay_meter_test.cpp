#include "media/call/delay_meter.hpp"

#include <gtest/gtest.h>

using namespace meshcast::media;

TEST(DelayMeter, MatchesEachReceivedClickToTheLatestSentOne) {
  const std::vector<int64_t> sent{1'000'000, 1'500'000, 2'000'000, 2'500'000};
  // 60 ms, 55 ms, (a click lost), 70 ms; plus a stray onset before any click.
  const std::vector<int64_t> recv{900'000, 1'060'000, 1'555'000, 2'570'000};
  auto d = match_clicks(sent, recv, 450'000);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_DOUBLE_EQ(d[0], 60.0);
  EXPECT_DOUBLE_EQ(d[1], 55.0);
  EXPECT_DOUBLE_EQ(d[2], 70.0);
  auto s = summarize_delays(d, sent.size(), recv.size());
  EXPECT_DOUBLE_EQ(s.p50_ms, 60.0);
  EXPECT_DOUBLE_EQ(s.p95_ms, 70.0);
  EXPECT_DOUBLE_EQ(s.min_ms, 55.0);
  EXPECT_EQ(s.clicks_sent, 4u);
}

TEST(DelayMeter, SummaryPercentilesAreNearestRank) {
  // The shared definition (stats::percentile): p50 and p95 of 1..100 ms are 50 and 95.
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  const DelayStats s = summarize_delays(v, 100, 100);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50);
  EXPECT_DOUBLE_EQ(s.p95_ms, 95);
  EXPECT_DOUBLE_EQ(s.min_ms, 1);
  EXPECT_DOUBLE_EQ(s.max_ms, 100);
  const DelayStats none = summarize_delays({}, 3, 0);
  EXPECT_DOUBLE_EQ(none.p50_ms, 0);
  EXPECT_DOUBLE_EQ(none.p95_ms, 0);
}
