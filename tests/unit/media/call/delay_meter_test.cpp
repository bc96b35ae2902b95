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

TEST(DelayMeter, PercentileByNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 50);
  EXPECT_DOUBLE_EQ(percentile(v, 95), 95);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 100);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
}
