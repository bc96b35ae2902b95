#include "signaling/redis_url.hpp"

#include <gtest/gtest.h>

using namespace meshcast::signaling;

TEST(RedisUrl, ParsesHostPortAndDatabase) {
  auto u = parse_redis_url("redis://127.0.0.1:6380/3");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 3);
  u = parse_redis_url("redis://redis.internal");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  u = parse_redis_url("redis://[::1]:7000/0");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 7000);
}

TEST(RedisUrl, RejectsEverythingElse) {
  for (const char* bad :
       {"", "redis://", "http://127.0.0.1:6379", "redis://:6379", "redis://h:0", "redis://h:65536",
        "redis://h:", "redis://h:12ab", "redis://h/16", "redis://h/x", "redis://h/-1",
        "redis://user:pw@h:6379", "redis://h:6379?db=1", "redis://::1:6379", "redis://[::1",
        "redis://[::1]x", "redis://h o:1", "rediss://h:6379", "redis://h:6379/1/2"}) {
    auto u = parse_redis_url(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_FALSE(u.error().empty()) << bad;
  }
}
