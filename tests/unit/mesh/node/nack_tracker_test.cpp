// NackTracker: when a partly received message's missing chunks are asked for again, which
// ones, how often, and that a partner sending many message ids cannot grow it.
#include "mesh/node/nack_tracker.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

using meshcast::node::ChunkNack;
using meshcast::node::NackTracker;

namespace {
// A reassembler's view: message id -> chunk count, and the chunks received.
struct Messages {
  std::map<uint32_t, uint16_t> count;
  std::map<uint32_t, std::set<uint16_t>> got;
  NackTracker::MissingFn missing() {
    return [this](uint32_t id) {
      std::vector<uint16_t> m;
      for (uint16_t i = 0; i < count[id]; ++i)
        if (!got[id].count(i)) m.push_back(i);
      return m;
    };
  }
  void receive(NackTracker& t, uint32_t id, uint16_t index, int64_t now) {
    got[id].insert(index);
    t.on_chunk(id, index, now);
  }
};
constexpr int64_t kMs = 1000;
}  // namespace

TEST(NackTracker, AsksForTheTailOnceChunksStopComing) {
  NackTracker t;
  Messages m;
  m.count[7] = 5;
  m.receive(t, 7, 0, 0);
  m.receive(t, 7, 1, 1 * kMs);
  m.receive(t, 7, 2, 2 * kMs);                             // 3 and 4 lost
  EXPECT_TRUE(t.on_timer(10 * kMs, m.missing()).empty());  // still coming, maybe
  EXPECT_EQ(t.next_deadline(), 2 * kMs + NackTracker::kDelayUs);
  auto n = t.on_timer(2 * kMs + NackTracker::kDelayUs, m.missing());
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].msg_id, 7u);
  EXPECT_EQ(n[0].indices, (std::vector<uint16_t>{3, 4}));
}

TEST(NackTracker, AGapIsAskedForWhileLaterChunksStillCome) {
  // Chunk 1 is lost; 2, 3, ... keep trickling in (cut-through): only the gap is asked for,
  // not the chunks that simply did not come yet.
  NackTracker t;
  Messages m;
  m.count[3] = 20;
  m.receive(t, 3, 0, 0);
  int64_t now = 0;
  for (uint16_t i = 2; i < 10; ++i) m.receive(t, 3, i, now += 10 * kMs);
  const auto n = t.on_timer(now, m.missing());
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].indices, (std::vector<uint16_t>{1}));
}

TEST(NackTracker, AFilledGapAsksNothing) {
  NackTracker t;
  Messages m;
  m.count[3] = 20;
  m.receive(t, 3, 0, 0);
  m.receive(t, 3, 2, 1 * kMs);  // 1 overtaken
  m.receive(t, 3, 1, 5 * kMs);  // ... and in after all
  m.receive(t, 3, 3, 29 * kMs);
  EXPECT_TRUE(t.on_timer(31 * kMs, m.missing()).empty());
  EXPECT_EQ(t.size(), 1u);  // still tracked: its tail may yet go missing
}

TEST(NackTracker, RepeatsAtMostMaxNacksThenForgets) {
  NackTracker t;
  Messages m;
  m.count[1] = 3;
  m.receive(t, 1, 0, 0);
  int asked = 0;
  for (int64_t now = 0; now < 2'000 * kMs; now += 5 * kMs) {
    auto n = t.on_timer(now, m.missing());
    for (auto& x : n) {
      EXPECT_EQ(x.indices, (std::vector<uint16_t>{1, 2}));
      ++asked;
    }
  }
  EXPECT_EQ(asked, NackTracker::kMaxNacks);
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.next_deadline());
}

TEST(NackTracker, RetriesAreSpacedByTheRetryDelay) {
  NackTracker t;
  Messages m;
  m.count[1] = 3;
  m.receive(t, 1, 0, 0);
  ASSERT_EQ(t.on_timer(NackTracker::kDelayUs, m.missing()).size(), 1u);
  EXPECT_TRUE(t.on_timer(NackTracker::kDelayUs + NackTracker::kRetryUs - 1, m.missing()).empty());
  EXPECT_EQ(t.next_deadline(), NackTracker::kDelayUs + NackTracker::kRetryUs);
  EXPECT_EQ(t.on_timer(NackTracker::kDelayUs + NackTracker::kRetryUs, m.missing()).size(), 1u);
}

TEST(NackTracker, CompletedMessagesAreNotAskedFor) {
  NackTracker t;
  Messages m;
  m.count[1] = 2;
  m.count[2] = 2;
  m.receive(t, 1, 0, 0);
  m.receive(t, 2, 0, 0);
  t.forget(1);         // completed
  m.got[2].insert(1);  // completed without the tracker being told (evicted, say)
  EXPECT_TRUE(t.on_timer(NackTracker::kDelayUs, m.missing()).empty());
  EXPECT_TRUE(t.empty());
}

TEST(NackTracker, NothingIsAskedWhileTheLinkIsDownAndItIsKept) {
  NackTracker t;
  Messages m;
  m.count[1] = 2;
  m.receive(t, 1, 0, 0);
  EXPECT_TRUE(t.on_timer(NackTracker::kDelayUs, m.missing(), false).empty());
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.on_timer(NackTracker::kDelayUs + kMs, m.missing(), true).size(), 1u);
}

TEST(NackTracker, ManyMessageIdsStayWithinTheBound) {
  // A partner sending the first chunk of 100,000 different messages: the tracker holds the
  // newest few only, and a NACK round asks for no more than that.
  NackTracker t(16);
  Messages m;
  for (uint32_t id = 1; id <= 100'000; ++id) {
    m.count[id] = 2;
    m.receive(t, id, 0, id);
    ASSERT_LE(t.size(), 16u);
  }
  const auto n = t.on_timer(100'000 + NackTracker::kDelayUs, m.missing());
  EXPECT_EQ(n.size(), 16u);
  EXPECT_EQ(n.front().msg_id, 100'000u - 15);
  // The oldest id, arriving late, is not tracked again at the cost of a newer one.
  EXPECT_FALSE(t.on_chunk(1, 1, 200'000));
}

TEST(NackTracker, GivesUpOnAMessageSilentForLong) {
  NackTracker t;
  Messages m;
  m.count[1] = 2;
  m.receive(t, 1, 0, 0);
  EXPECT_TRUE(t.on_timer(NackTracker::kGiveUpUs + 1, m.missing()).empty());
  EXPECT_TRUE(t.empty());
}
