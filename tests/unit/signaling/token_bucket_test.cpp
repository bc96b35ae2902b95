#include "signaling/token_bucket.hpp"

#include <gtest/gtest.h>

#include "signaling/random_token.hpp"

using namespace meshcast::signaling;

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(10, 20, 0);
  int taken = 0;
  for (int i = 0; i < 100; ++i) taken += b.take(0);
  EXPECT_EQ(taken, 20);
  EXPECT_FALSE(b.take(50));  // 0.5 token
  EXPECT_TRUE(b.take(100));  // 1 token after 100 ms at 10/s
  EXPECT_FALSE(b.take(100));
  taken = 0;
  for (int i = 0; i < 100; ++i) taken += b.take(100000);  // refill caps at burst
  EXPECT_EQ(taken, 20);
}

TEST(TokenBucket, TimeGoingBackwardsDoesNotRefill) {
  TokenBucket b(1000, 1, 1000);
  EXPECT_TRUE(b.take(1000));
  EXPECT_FALSE(b.take(0));
}

TEST(RandomToken, HexAndUnique) {
  auto a = random_token(16), b = random_token(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(constant_time_equal(a, a));
  EXPECT_FALSE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

TEST(TokenBucket, ChargeGoesIntoDebtBoundedByBurstAndRefills) {
  TokenBucket b(10, 20, 0);
  EXPECT_TRUE(b.take(0));
  b.charge(100, 0);  // far more than the bucket holds: debt capped at -burst
  EXPECT_DOUBLE_EQ(b.tokens(), -20);
  EXPECT_FALSE(b.take(0));
  EXPECT_FALSE(b.take(2000));  // 20 tokens refilled: back to 0, still not 1
  EXPECT_TRUE(b.take(2100));
  b.charge(-5, 2100);  // negative costs are ignored
  EXPECT_FALSE(b.take(2100));
}
