// SilenceWatch: which connections to ping and which to close, from their silence alone.
#include "signaling/silence_watch.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using meshcast::signaling::SilenceWatch;

namespace {

SilenceWatch::Due collect(SilenceWatch& w, int64_t now) {
  SilenceWatch::Due d;
  w.collect(now, d);
  return d;
}

bool has(const std::vector<uint64_t>& v, uint64_t id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

}  // namespace

TEST(SilenceWatch, ASilentConnectionIsPingedThenClosed) {
  SilenceWatch w(20'000, 60'000);
  w.add(1, 0);
  EXPECT_TRUE(collect(w, 19'999).ping.empty());
  auto d = collect(w, 20'000);
  EXPECT_TRUE(has(d.ping, 1));
  EXPECT_TRUE(d.close.empty());
  // Still silent: pinged once per interval, not at every collect.
  EXPECT_TRUE(collect(w, 30'000).ping.empty());
  EXPECT_TRUE(has(collect(w, 40'000).ping, 1));
  d = collect(w, 60'000);
  EXPECT_TRUE(has(d.close, 1));
  EXPECT_EQ(w.size(), 0u);
  // Closed connections are reported once.
  d = collect(w, 200'000);
  EXPECT_TRUE(d.close.empty() && d.ping.empty());
}

TEST(SilenceWatch, AConnectionThatTalksIsNeitherPingedNorClosed) {
  SilenceWatch w(20'000, 60'000);
  w.add(7, 0);
  for (int64_t t = 0; t <= 600'000; t += 1000) {
    if (t % 5000 == 0) w.heard(7, t);
    auto d = collect(w, t);
    ASSERT_TRUE(d.ping.empty()) << t;
    ASSERT_TRUE(d.close.empty()) << t;
  }
  EXPECT_EQ(w.size(), 1u);
  // One entry per connection however often it was heard.
  EXPECT_EQ(w.queued(), 1u);
}

TEST(SilenceWatch, APongAfterAPingKeepsTheConnectionOpen) {
  SilenceWatch w(20'000, 60'000);
  w.add(3, 0);
  for (int64_t t = 1000; t <= 300'000; t += 1000) {
    auto d = collect(w, t);
    ASSERT_TRUE(d.close.empty()) << t;
    if (has(d.ping, 3)) w.heard(3, t + 10);  // the pong
  }
  EXPECT_EQ(w.size(), 1u);
}

TEST(SilenceWatch, PingsFollowEachConnectionsOwnSilenceNotOneBurst) {
  SilenceWatch w(20'000, 0);
  for (uint64_t id = 0; id < 2000; ++id) w.add(id, int64_t(id) * 10);  // opened over 20 s
  std::size_t most_at_once = 0, total = 0;
  for (int64_t t = 0; t <= 100'000; t += 1000) {
    auto d = collect(w, t);
    most_at_once = std::max(most_at_once, d.ping.size());
    total += d.ping.size();
    EXPECT_TRUE(d.close.empty());
  }
  // Each of the 2,000 is pinged about every 20 s; no tick carries more than its share.
  EXPECT_GE(total, 2000u * 4);
  EXPECT_LE(most_at_once, 2000u / 20 + 1);
}

TEST(SilenceWatch, RemovedConnectionsAreForgottenAndTheirEntriesDrain) {
  SilenceWatch w(1000, 3000);
  for (uint64_t id = 0; id < 100; ++id) w.add(id, 0);
  for (uint64_t id = 0; id < 100; id += 2) w.remove(id);
  EXPECT_EQ(w.size(), 50u);
  auto d = collect(w, 1000);
  EXPECT_EQ(d.ping.size(), 50u);
  for (uint64_t id : d.ping) EXPECT_EQ(id % 2, 1u);
  EXPECT_EQ(w.queued(), 50u);  // the removed ones' entries are gone
  // Heard about an unknown id, or removed twice: nothing happens.
  w.heard(1000, 5);
  w.remove(0);
  d = collect(w, 3000);
  EXPECT_EQ(d.close.size(), 50u);
  EXPECT_EQ(w.size(), 0u);
}

TEST(SilenceWatch, EitherTimerCanBeOff) {
  SilenceWatch never(0, 0);
  never.add(1, 0);
  auto d = collect(never, 1'000'000'000);
  EXPECT_TRUE(d.ping.empty() && d.close.empty());
  EXPECT_EQ(never.queued(), 0u);

  SilenceWatch close_only(0, 5000);
  close_only.add(1, 0);
  d = collect(close_only, 4999);
  EXPECT_TRUE(d.ping.empty() && d.close.empty());
  EXPECT_TRUE(has(collect(close_only, 5000).close, 1));

  SilenceWatch ping_only(1000, 0);
  ping_only.add(1, 0);
  std::size_t pings = 0;
  for (int64_t t = 0; t <= 10'000; t += 500) pings += collect(ping_only, t).ping.size();
  EXPECT_EQ(pings, 10u);
}
