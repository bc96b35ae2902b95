#include "mesh/node/uplink_probe.hpp"

#include <gtest/gtest.h>

#include <vector>

using meshcast::node::ProbePacket;
using meshcast::node::ProbeReply;
using meshcast::node::UplinkProbe;

namespace {

// A modem as `tc tbf` builds it: a bucket of `bucket` bytes passes at once, then the
// train drains at cap_bps; packets beyond `limit` bytes of queue are dropped. Returns the
// answers a partner gives (arrival on its clock, offset by `clock0`).
std::vector<ProbeReply> through_modem(const UplinkProbe& probe,
                                      const std::vector<ProbePacket>& train, double cap_bps,
                                      double bucket, double limit, uint64_t clock0 = 5'000'000) {
  std::vector<ProbeReply> out;
  const double size = double(probe.config().packet_bytes);
  double tokens = bucket, t_us = 0, queued = 0;
  uint16_t received = 0;
  for (const ProbePacket& p : train) {
    if (tokens >= size) {
      tokens -= size;  // at line rate
    } else {
      if (queued + size > limit) continue;  // tail drop
      queued += size;
      t_us = queued * 8e6 / cap_bps;
    }
    ++received;
    if (p.echo) out.push_back({p.train, p.index, received, clock0 + uint64_t(t_us)});
  }
  return out;
}

}  // namespace

TEST(UplinkProbe, MarksStartPastTheBucketAndIncludeTheLast) {
  UplinkProbe probe;
  auto train = probe.start(7, 0);
  ASSERT_EQ(train.size(), 20u);
  EXPECT_FALSE(train[0].echo);
  EXPECT_FALSE(train[4].echo);
  EXPECT_TRUE(train[5].echo);
  EXPECT_TRUE(train[8].echo);
  EXPECT_TRUE(train[19].echo);
  for (const auto& p : train) {
    EXPECT_EQ(p.train, 7u);
    EXPECT_EQ(p.count, 20u);
  }
}

// The lab's modems: 480 kbit/s, 1 and 2.4 Mbit/s, buckets of max(4*1514, rate/50 s) bytes
// and 400 ms of queue. The measured rate is within 10 % of each.
TEST(UplinkProbe, MeasuresTheRateATokenBucketDrainsAt) {
  for (double cap : {480e3, 1e6, 2.4e6, 5e6}) {
    UplinkProbe probe;
    auto train = probe.start(1, 0);
    const double bucket = std::max(4.0 * 1514, cap / 8 / 50);
    bool done = false;
    for (const auto& r : through_modem(probe, train, cap, bucket, cap / 8 * 0.4))
      done = probe.on_reply(r);
    EXPECT_TRUE(done) << cap;
    EXPECT_FALSE(probe.deadline()) << cap;
    auto rate = probe.rate_bps();
    ASSERT_TRUE(rate) << cap;
    EXPECT_NEAR(double(*rate), cap, 0.1 * cap);
  }
}

// A bucket larger than the bytes before the first mark (a 5 Mbit/s modem's 12.5 kB): the
// marks that passed with its tokens are not counted.
TEST(UplinkProbe, MarksThatPassedWithTheBucketAreNotCounted) {
  UplinkProbe probe;
  auto train = probe.start(1, 0);
  const double cap = 5e6;
  for (const auto& r : through_modem(probe, train, cap, 12'500, cap / 8 * 0.4)) probe.on_reply(r);
  auto rate = probe.rate_bps();
  ASSERT_TRUE(rate);
  EXPECT_NEAR(double(*rate), cap, 0.05 * cap);
}

// A 300 kbit/s modem drops the train's tail: the packets it dropped took none of its time,
// and the last mark never comes; the answers that came still give the rate.
TEST(UplinkProbe, ATailDroppedTrainStillMeasuresFromTheMarksThatCame) {
  UplinkProbe probe;
  auto train = probe.start(1, 1'000);
  const double cap = 300e3;
  auto replies = through_modem(probe, train, cap, 6056, cap / 8 * 0.4);
  ASSERT_GE(replies.size(), 2u);
  ASSERT_LT(replies.back().index, 19);  // the tail was dropped
  for (const auto& r : replies) EXPECT_FALSE(probe.on_reply(r));
  EXPECT_EQ(probe.deadline(), 1'000 + probe.config().timeout_us);  // still waiting
  auto rate = probe.rate_bps();
  ASSERT_TRUE(rate);
  EXPECT_NEAR(double(*rate), cap, 0.1 * cap);
}

// A lying or broken partner: answers for another train, for unmarked packets, the same
// mark twice, more received than sent, or time running backwards give no rate.
TEST(UplinkProbe, AnswersThatDoNotFitTheTrainAreIgnored) {
  UplinkProbe probe;
  EXPECT_FALSE(probe.on_reply({1, 5, 6, 100}));  // nothing in flight
  probe.start(2, 0);
  EXPECT_FALSE(probe.on_reply({1, 5, 6, 100}));    // an older train
  EXPECT_FALSE(probe.on_reply({2, 4, 5, 100}));    // not a mark
  EXPECT_FALSE(probe.on_reply({2, 25, 20, 100}));  // beyond the train
  EXPECT_FALSE(probe.on_reply({2, 8, 21, 100}));   // more received than sent
  EXPECT_FALSE(probe.on_reply({2, 8, 0, 100}));    // nothing received
  EXPECT_FALSE(probe.rate_bps());
  EXPECT_FALSE(probe.on_reply({2, 5, 6, 10'000}));
  EXPECT_FALSE(probe.on_reply({2, 5, 6, 20'000}));  // the same mark again: ignored
  EXPECT_FALSE(probe.rate_bps());                   // one answer is no rate
  EXPECT_TRUE(probe.on_reply({2, 19, 20, 5'000}));  // earlier than the first mark
  EXPECT_FALSE(probe.rate_bps());
  EXPECT_FALSE(probe.deadline());
}

// No dispersion at all (loopback, or a partner answering one time for all): the rate is at
// least what the shortest time it can tell gives, not infinite.
TEST(UplinkProbe, NoDispersionGivesABoundedRate) {
  UplinkProbe probe;
  probe.start(3, 0);
  probe.on_reply({3, 5, 6, 1000});
  probe.on_reply({3, 19, 20, 1000});
  auto rate = probe.rate_bps();
  ASSERT_TRUE(rate);
  const auto& c = probe.config();
  EXPECT_EQ(*rate, uint64_t(14.0 * double(c.packet_bytes) * 8e6 / double(c.min_dispersion_us)));
}

TEST(UplinkProbe, ANewTrainForgetsTheOldAnswers) {
  UplinkProbe probe;
  probe.start(1, 0);
  probe.on_reply({1, 5, 6, 1000});
  probe.start(2, 500);
  EXPECT_EQ(probe.deadline(), 500 + probe.config().timeout_us);
  EXPECT_FALSE(probe.on_reply({1, 19, 20, 100'000}));
  EXPECT_FALSE(probe.rate_bps());
}
