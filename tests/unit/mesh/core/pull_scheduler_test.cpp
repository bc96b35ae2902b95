// PullScheduler on its own: whom it asks for a gap, what a refusal or a timeout changes,
// waiting for pushes that are not late, and start-up pulls.
#include "mesh/core/pull_scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "node_parts.hpp"

using namespace meshcast::mesh;
using namespace meshcast::mesh::test;

namespace {

constexpr TimeUs kNow = 1'000'000;

// Viewer (K = 1) playing from unit 0, created at kNow: deadlines kNow + 100 ms + n x 200 ms.
void play_from_zero(NodeParts& n) {
  n.store(0, kNow, kNow);
  n.playout.begin(0, kNow, kNow);
}

std::vector<std::pair<PeerId, uint32_t>> requests(const std::vector<Output>& outs) {
  std::vector<std::pair<PeerId, uint32_t>> r;
  for (auto& [to, req] : sent<Request>(outs)) {
    EXPECT_EQ(req.mask, 1u);
    r.emplace_back(to, req.base);
  }
  return r;
}

TEST(NodePullScheduler, AsksThePartnerThatHasTheUnitNotOneThatLacksIt) {
  NodeParts n(parts_cfg(false, 1));
  play_from_zero(n);
  Partner& a = n.partner(1, 2000, 0);
  Partner& b = n.partner(2, 2000, 0);
  NodeParts::show(a, map_of({0, 2}, 1, 1, 0), kNow);
  NodeParts::show(b, map_of({0, 1}, 1, 1, 0), kNow);
  n.pulls.schedule(kNow, n.trees, n.playout);
  // No parent: every gap is overdue; deadline-first, each from its only holder.
  EXPECT_EQ(requests(n.take()), (std::vector<std::pair<PeerId, uint32_t>>{{2, 1}, {1, 2}}));
  EXPECT_EQ(a.outstanding, 1);
  EXPECT_EQ(b.outstanding, 1);
  EXPECT_EQ(n.window.ring(1).req_from, 2u);
  EXPECT_EQ(n.stats.requests_sent, 2u);
  // In flight: not asked twice.
  n.pulls.schedule(kNow, n.trees, n.playout);
  EXPECT_TRUE(requests(n.take()).empty());
}

TEST(NodePullScheduler, ARefusedPullGoesBackAndThatPartnerIsNotAskedAgain) {
  NodeParts n(parts_cfg(false, 1));
  play_from_zero(n);
  Partner& a = n.partner(1, 2000, 0);
  Partner& b = n.partner(2, 2000, 0);
  NodeParts::show(a, map_of({0}, 1, 1, 0), kNow);
  NodeParts::show(b, map_of({0, 1}, 1, 1, 0), kNow);
  n.pulls.schedule(kNow, n.trees, n.playout);
  ASSERT_EQ(requests(n.take()), (std::vector<std::pair<PeerId, uint32_t>>{{2, 1}}));
  Reject r;
  r.kind = RejectKind::kRequest;
  r.reason = RejectReason::kNotHave;
  r.base = 1;
  r.mask = 1;
  n.pulls.on_refused(b, r, kNow, true);
  EXPECT_EQ(b.outstanding, 0);
  EXPECT_EQ(n.window.ring(1).req_from, kNoPeer);
  n.pulls.schedule(kNow, n.trees, n.playout);
  EXPECT_TRUE(requests(n.take()).empty());  // b said it lacks 1, a does not show it
  NodeParts::show(a, map_of({0, 1}, 1, 1, 0), kNow);
  n.pulls.schedule(kNow, n.trees, n.playout);
  EXPECT_EQ(requests(n.take()), (std::vector<std::pair<PeerId, uint32_t>>{{1, 1}}));
}

TEST(NodePullScheduler, AnUnansweredPullExpiresWithAStrike) {
  NodeParts n(parts_cfg(false, 1));
  play_from_zero(n);
  Partner& b = n.partner(2, 2000, 0);
  NodeParts::show(b, map_of({0, 1}, 1, 1, 0), kNow);
  n.pulls.schedule(kNow, n.trees, n.playout);
  ASSERT_EQ(requests(n.take()).size(), 1u);
  n.pulls.expire(kNow + n.cfg.request_timeout_us - 1, true, 0);
  EXPECT_EQ(b.outstanding, 1);
  n.pulls.expire(kNow + n.cfg.request_timeout_us, true, 0);
  EXPECT_EQ(b.outstanding, 0);
  EXPECT_EQ(b.pull_strikes, 1);
  EXPECT_EQ(n.window.ring(1).req_from, kNoPeer);
}

TEST(NodePullScheduler, WaitsForAPushThatIsNotLate) {
  NodeParts n(parts_cfg(false, 1));
  play_from_zero(n);
  Partner& parent = n.partner(9, 4000, 0);
  NodeParts::show(parent, map_of({0, 1, 2}, 1, 0, 3), kNow);
  n.trees.manage(kNow);
  n.trees.on_ack(parent, SubscribeAck{0, 0}, kNow);
  n.take();
  ASSERT_EQ(n.trees.parent(0), 9u);
  // Unit 1 (created kNow + 200 ms) is not expected before its creation + pull_grace.
  n.pulls.schedule(kNow, n.trees, n.playout);
  EXPECT_TRUE(requests(n.take()).empty());
  // Later, closer than deadline_pull to its deadline (kNow + 300 ms): pulled anyway.
  n.pulls.schedule(kNow + 1, n.trees, n.playout);
  EXPECT_EQ(requests(n.take()), (std::vector<std::pair<PeerId, uint32_t>>{{9, 1}}));
}

TEST(NodePullScheduler, StartUpFetchesTheNewestSegmentSomeoneHoldsWhole) {
  NodeParts n(parts_cfg(false, 2));
  Partner& a = n.partner(1, 2000, 0);
  Partner& b = n.partner(2, 2000, 0);
  NodeParts::show(a, map_of({6}, 2, 1, 0), kNow);     // one stripe of segment 3
  NodeParts::show(b, map_of({4, 5}, 2, 1, 0), kNow);  // all of segment 2
  n.pulls.schedule(kNow, n.trees, n.playout);
  auto r = requests(n.take());
  std::sort(r.begin(), r.end(), [](auto& x, auto& y) { return x.second < y.second; });
  EXPECT_EQ(r, (std::vector<std::pair<PeerId, uint32_t>>{{2, 4}, {2, 5}}));
  EXPECT_EQ(b.startup_asked, 2);
  EXPECT_TRUE(n.pulls.startup_pending());
  n.pulls.schedule(kNow, n.trees, n.playout);  // once per round
  EXPECT_TRUE(requests(n.take()).empty());
  n.pulls.expire(kNow + n.cfg.startup_retry_us + 1, false, 0);
  EXPECT_FALSE(n.pulls.startup_pending());
}

}  // namespace
