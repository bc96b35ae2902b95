#include "mesh/base/token_bucket.hpp"

#include <gtest/gtest.h>

using meshcast::ms_to_us;
using meshcast::TokenBucket;

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(10, 20, 0);
  int taken = 0;
  for (int i = 0; i < 100; ++i) taken += b.take(1, 0);
  EXPECT_EQ(taken, 20);
  EXPECT_FALSE(b.take(1, ms_to_us(50)));  // 0.5 token
  EXPECT_TRUE(b.take(1, ms_to_us(100)));  // 1 token after 100 ms at 10/s
  EXPECT_FALSE(b.take(1, ms_to_us(100)));
  taken = 0;
  for (int i = 0; i < 100; ++i) taken += b.take(1, ms_to_us(100000));  // refill caps at burst
  EXPECT_EQ(taken, 20);
}

TEST(TokenBucket, TimeGoingBackwardsDoesNotRefill) {
  TokenBucket b(1000, 1, ms_to_us(1000));
  EXPECT_TRUE(b.take(1, ms_to_us(1000)));
  EXPECT_FALSE(b.take(1, 0));
}

TEST(TokenBucket, SpendGoesIntoDebtBoundedByBurstAndRefills) {
  TokenBucket b(10, 20, 0);
  EXPECT_TRUE(b.take(1, 0));
  b.spend(100, 0);  // far more than the bucket holds: debt capped at -burst
  EXPECT_DOUBLE_EQ(b.tokens(), -20);
  EXPECT_FALSE(b.take(1, 0));
  EXPECT_FALSE(b.take(1, ms_to_us(2000)));  // 20 tokens refilled: back to 0, still not 1
  EXPECT_TRUE(b.take(1, ms_to_us(2100)));
  b.spend(-5, ms_to_us(2100));  // negative costs are ignored
  EXPECT_FALSE(b.take(1, ms_to_us(2100)));
}

TEST(TokenBucket, StartsEmptyWhenAsked) {
  TokenBucket b(1000, 500, 0, /*start_full=*/false);
  EXPECT_FALSE(b.can_spend(1, 0));
  EXPECT_TRUE(b.can_spend(500, ms_to_us(500)));
  EXPECT_FALSE(b.can_spend(501, ms_to_us(10000)));  // never more than the burst
}

TEST(TokenBucket, NewRateKeepsEarnedTokensWithinTheNewBurst) {
  TokenBucket b(1000, 1000, 0);
  b.set_rate(100, 50, 0);  // 1000 saved, new burst 50
  EXPECT_DOUBLE_EQ(b.tokens(), 50);
  b.spend(200, 0);  // debt only down to -50
  EXPECT_DOUBLE_EQ(b.tokens(), -50);
  b.refill(ms_to_us(500));  // 100/s for 0.5 s
  EXPECT_DOUBLE_EQ(b.tokens(), 0);
}
