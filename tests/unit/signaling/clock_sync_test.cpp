#include "signaling/clock_sync.hpp"

#include <gtest/gtest.h>

using meshcast::signaling::ClockSync;

TEST(ClockSync, OffsetFromASymmetricRoundTrip) {
  ClockSync c;
  EXPECT_FALSE(c.synced());
  EXPECT_EQ(c.offset_us(), 0);
  // Our clock is 3 s behind the server's; 10 ms each way.
  const int64_t server_ahead = 3'000'000;
  ASSERT_TRUE(c.add(1'000'000, 1'020'000, 1'010'000 + server_ahead));
  EXPECT_EQ(c.offset_us(), server_ahead);
  EXPECT_EQ(c.rtt_us(), 20'000);
}

TEST(ClockSync, TheShortestRoundTripWinsOverQueuedOnes) {
  ClockSync c(4);
  const int64_t truth = -2'000'000;
  // A reply that sat 200 ms in a queue on the way back skews its sample by 100 ms.
  ASSERT_TRUE(c.add(0, 210'000, 5'000 + truth));
  EXPECT_EQ(c.offset_us(), truth - 100'000);
  ASSERT_TRUE(c.add(1'000'000, 1'010'000, 1'005'000 + truth));
  EXPECT_EQ(c.offset_us(), truth);
  // The window forgets old samples: a clock that stepped is followed.
  for (int i = 0; i < 4; ++i)
    c.add(2'000'000 + i * 1'000'000, 2'030'000 + i * 1'000'000,
          2'015'000 + i * 1'000'000 + truth + 500'000);
  EXPECT_EQ(c.samples(), 4u);
  EXPECT_EQ(c.offset_us(), truth + 500'000);
}

TEST(ClockSync, ImpossibleSamplesAreIgnored) {
  ClockSync c;
  EXPECT_FALSE(c.add(100, 50, 0));                            // received before sent
  EXPECT_FALSE(c.add(0, ClockSync::kMaxRttUs + 1, 0));        // an absurd round trip
  EXPECT_FALSE(c.add(0, 10, ClockSync::kMaxOffsetUs + 100));  // a server a day away
  EXPECT_FALSE(c.add(0, 10, -ClockSync::kMaxOffsetUs - 100));
  EXPECT_FALSE(c.add(INT64_MAX - 5, INT64_MAX, INT64_MIN));  // no overflow on the way
  EXPECT_FALSE(c.synced());
  EXPECT_EQ(c.offset_us(), 0);
}
