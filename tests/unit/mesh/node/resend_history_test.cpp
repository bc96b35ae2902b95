// ResendHistory: bounded by bytes and age on both paths that fill it (whole messages and
// cut-through chunks), lookups by message id.
#include "mesh/node/resend_history.hpp"

#include <gtest/gtest.h>

using meshcast::node::ResendHistory;

namespace {
std::vector<uint8_t> bytes(size_t n, uint8_t v) { return std::vector<uint8_t>(n, v); }
}  // namespace

TEST(ResendHistory, FindsChunksOfWholeMessages) {
  ResendHistory h(10'000, 1'000'000);
  h.add_message(1, 100, {bytes(10, 1), bytes(20, 2)}, 0);
  h.add_message(2, 200, {bytes(30, 3)}, 0);
  ASSERT_NE(h.chunk(1, 1), nullptr);
  EXPECT_EQ(h.chunk(1, 1)->size(), 20u);
  EXPECT_EQ((*h.chunk(2, 0))[0], 3);
  EXPECT_EQ(h.ts(2), 200u);
  EXPECT_EQ(h.chunk(1, 2), nullptr);  // no such index
  EXPECT_EQ(h.chunk(3, 0), nullptr);  // no such message
  EXPECT_EQ(h.bytes(), 60u);
}

TEST(ResendHistory, CutThroughRelayStaysWithinTheByteBound) {
  // A relay that only forwards chunk by chunk, for the equivalent of an hour of 1 Mbit/s
  // segments in 1,200-byte chunks: the history never holds more than its bound.
  const size_t bound = 96 * 1024;
  ResendHistory h(bound, 2'000'000);
  int64_t now = 0;
  size_t most = 0;
  for (uint32_t msg = 1; msg <= 20'000; ++msg) {
    h.begin(msg, msg, now);
    for (uint16_t i = 0; i < 21; ++i) {  // ~25 KB per message, as a 200 ms stripe at 1 Mbit/s
      h.add_chunk(msg, i, bytes(1200, uint8_t(i)), now);
      most = std::max(most, h.bytes());
      now += 1000;
    }
  }
  EXPECT_LE(most, bound);
  EXPECT_GT(h.evicted(), 19'000u);
  // The latest message is whole and resendable; a long-gone one is not.
  ASSERT_NE(h.chunk(20'000, 20), nullptr);
  EXPECT_EQ((*h.chunk(20'000, 20))[0], 20);
  EXPECT_EQ(h.chunk(1, 0), nullptr);
}

TEST(ResendHistory, WholeMessagesStayWithinTheByteBound) {
  const size_t bound = 50'000;
  ResendHistory h(bound, 10'000'000);
  for (uint32_t msg = 1; msg <= 1000; ++msg) {
    h.add_message(msg, 0, {bytes(1200, 1), bytes(1200, 2), bytes(600, 3)}, msg);
    EXPECT_LE(h.bytes(), bound);
  }
  EXPECT_EQ(h.messages(), bound / 3000);
}

TEST(ResendHistory, OldMessagesAgeOutEvenWhenSmall) {
  ResendHistory h(1 << 20, 2'000'000);
  h.add_message(1, 0, {bytes(100, 1)}, 0);
  h.add_message(2, 0, {bytes(100, 1)}, 1'000'000);
  h.begin(3, 0, 2'500'000);  // message 1 is now 2.5 s old
  EXPECT_EQ(h.chunk(1, 0), nullptr);
  EXPECT_NE(h.chunk(2, 0), nullptr);
  h.add_chunk(3, 0, bytes(100, 7), 4'000'000);  // and now message 2, too
  EXPECT_EQ(h.messages(), 1u);
  // A lone message ages out as well.
  h.begin(4, 0, 9'000'000);
  EXPECT_EQ(h.chunk(3, 0), nullptr);
}

TEST(ResendHistory, ChunksOfEvictedOrUnknownMessagesAreIgnored) {
  ResendHistory h(2'000, 10'000'000);
  h.begin(1, 0, 0);
  h.begin(2, 0, 0);
  h.add_chunk(7, 0, bytes(100, 1), 0);  // never begun
  EXPECT_EQ(h.bytes(), 0u);
  h.add_chunk(2, 0, bytes(1500, 1), 0);
  h.add_chunk(1, 0, bytes(1000, 1), 0);  // over the bound: the oldest (1) goes
  EXPECT_LE(h.bytes(), 2'000u);
  EXPECT_EQ(h.chunk(1, 0), nullptr);
  h.add_chunk(2, 0, bytes(10, 9), 0);  // a chunk given again replaces the old bytes
  EXPECT_EQ(h.bytes(), 10u);
  h.begin(2, 0, 0);  // ids only grow: a repeated id is ignored
  EXPECT_EQ(h.messages(), 1u);
}

TEST(ResendHistory, LookupStaysCorrectAcrossManyMessages) {
  ResendHistory h(1 << 30, int64_t(1) << 40);
  for (uint32_t msg = 10; msg < 5000; msg += 3) h.add_message(msg, msg * 2, {bytes(1, 1)}, 0);
  for (uint32_t msg = 10; msg < 5000; ++msg) {
    const bool held = (msg - 10) % 3 == 0;
    EXPECT_EQ(h.chunk(msg, 0) != nullptr, held) << msg;
    if (held) {
      EXPECT_EQ(h.ts(msg), msg * 2);
    }
  }
}
