// Playout on its own: whole segments at their deadline, a missing segment skipped at its
// deadline when nothing can bring it, a stall while something still may, delay shrinking.
#include "mesh/core/playout.hpp"

#include <gtest/gtest.h>

#include "node_parts.hpp"

using namespace meshcast::mesh;
using namespace meshcast::mesh::test;

namespace {

constexpr TimeUs kNow = 1'000'000;

std::vector<uint32_t> played(const std::vector<Output>& outs) {
  std::vector<uint32_t> r;
  for (auto& o : outs)
    if (o.kind == OutputKind::kPlay) r.push_back(o.number);
  return r;
}

TEST(NodePlayout, PlaysAWholeSegmentAtItsDeadline) {
  NodeParts n(parts_cfg(false, 2));
  n.store(0, kNow, kNow);
  n.playout.advance(kNow, n.window, n.trees, n.partners);
  EXPECT_FALSE(n.playout.playing());  // not started: nothing plays
  n.store(1, kNow, kNow);
  n.playout.begin(0, kNow, kNow);
  EXPECT_EQ(n.playout.delay(), n.cfg.initial_buffer_us);
  n.playout.advance(kNow, n.window, n.trees, n.partners);
  auto outs = n.take();
  EXPECT_EQ(played(outs), (std::vector<uint32_t>{0, 1}));  // both stripes, in order
  EXPECT_EQ(outs[0].at, kNow + n.cfg.initial_buffer_us);
  EXPECT_EQ(n.playout.next_play(), 2u);
  EXPECT_EQ(n.stats.played, 1u);
  // Segment 1 is missing: a timer is due at its deadline.
  EXPECT_EQ(n.playout.due(n.window), kNow + kSegUs + n.cfg.initial_buffer_us);
}

TEST(NodePlayout, SkipsAMissingSegmentAtItsDeadlineWhenNothingCanBringIt) {
  NodeParts n(parts_cfg(false, 1));
  n.store(0, kNow, kNow);
  n.playout.begin(0, kNow, kNow);
  n.store(2, kNow + 2 * kSegUs, kNow);
  n.playout.advance(kNow, n.window, n.trees, n.partners);
  EXPECT_EQ(played(n.take()), std::vector<uint32_t>{0});
  const TimeUs dl1 = n.playout.deadline(1, n.window);
  n.playout.advance(dl1 - 1, n.window, n.trees, n.partners);
  EXPECT_TRUE(n.take().empty());  // not due yet
  n.playout.advance(dl1, n.window, n.trees, n.partners);
  auto outs = n.take();
  ASSERT_EQ(count(outs, OutputKind::kMissed), 1u);
  EXPECT_EQ(outs[0].kind, OutputKind::kMissed);
  EXPECT_EQ(outs[0].number, 1u);
  EXPECT_EQ(n.stats.missed, 1u);
  EXPECT_EQ(n.stats.missed_unavailable, 1u);
  EXPECT_EQ(n.stats.stalls, 0u);
  EXPECT_EQ(played(outs), std::vector<uint32_t>{2});  // the next one plays on time
  EXPECT_EQ(n.playout.next_play(), 3u);
}

TEST(NodePlayout, StallsWhileAMissingSegmentMayStillCome) {
  NodeParts n(parts_cfg(false, 1));
  n.store(0, kNow, kNow);
  n.playout.begin(0, kNow, kNow);
  Partner& p = n.partner(1, 2000, kNow);
  NodeParts::show(p, map_of({0, 1}, 1, 1, 0), kNow);  // it holds 1
  n.playout.advance(kNow, n.window, n.trees, n.partners);
  n.take();
  const TimeUs delay = n.playout.delay();
  const TimeUs dl1 = n.playout.deadline(1, n.window);
  n.playout.advance(dl1, n.window, n.trees, n.partners);
  EXPECT_EQ(count(n.take(), OutputKind::kMissed), 0u);
  EXPECT_EQ(n.playout.delay(), delay + n.cfg.stall_step_us);
  EXPECT_EQ(n.stats.stalls, 1u);
  EXPECT_EQ(n.playout.next_play(), 1u);
  n.store(1, kNow + kSegUs, dl1);  // it came
  n.playout.advance(dl1, n.window, n.trees, n.partners);
  EXPECT_EQ(played(n.take()), std::vector<uint32_t>{1});
}

TEST(NodePlayout, ShrinksTheDelayAfterAPeriodWithRoomToSpare) {
  NodeConfig c = parts_cfg(false, 1);
  c.initial_buffer_us = 1'000'000;
  NodeParts n(c);
  n.store(0, kNow, kNow);
  n.playout.begin(0, kNow, kNow);
  n.playout.advance(kNow, n.window, n.trees, n.partners);  // slack 1 s on segment 0
  n.playout.advance(kNow + c.shrink_period_us, n.window, n.trees, n.partners);
  EXPECT_EQ(n.playout.delay(), c.initial_buffer_us - c.shrink_step_us);
}

}  // namespace
