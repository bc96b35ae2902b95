// PushTrees on its own: the source's copy cap, preemption by faster uploaders, cycle
// avoidance, fastest-first forwarding, home sub-streams, silent parents and shedding
// children.
#include "mesh/core/push_trees.hpp"

#include <gtest/gtest.h>

#include "node_parts.hpp"

using namespace meshcast::mesh;
using namespace meshcast::mesh::test;

namespace {

// A viewer attached to sub-stream 0 under partner `parent_id` (depth 0 there, so ours is 1).
Partner& attach(NodeParts& n, PeerId parent_id, TimeUs now) {
  Partner& p = n.partner(parent_id, 4000, now);
  NodeParts::show(p, map_of({}, n.cfg.substreams, 0, 3), now);
  n.trees.manage(now);
  auto subs = sent<Subscribe>(n.take());
  EXPECT_EQ(subs.size(), n.cfg.substreams);
  EXPECT_EQ(subs.at(0).first, parent_id);
  n.trees.on_ack(p, SubscribeAck{0, 0}, now);
  return p;
}

std::vector<std::pair<PeerId, Reject>> rejects(const std::vector<Output>& outs, RejectReason why) {
  std::vector<std::pair<PeerId, Reject>> r;
  for (auto& e : sent<Reject>(outs))
    if (e.second.reason == why) r.push_back(e);
  return r;
}

TEST(NodePushTrees, SourceTakesItsCopiesThenRedirects) {
  NodeConfig c = parts_cfg(true, 1);
  c.source_copies = 2;
  NodeParts n(c);
  Partner& a = n.partner(1, 2000, 0);
  Partner& b = n.partner(2, 2000, 0);
  Partner& d = n.partner(3, 2000, 0);
  n.trees.on_subscribe(a, Subscribe{0, kNoDepth}, 0);
  n.trees.on_subscribe(b, Subscribe{0, kNoDepth}, 0);
  auto acks = sent<SubscribeAck>(n.take());
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].second.depth, 0);  // the source is every tree's root
  EXPECT_EQ(n.trees.children(0), 2u);
  n.trees.on_subscribe(d, Subscribe{0, kNoDepth}, 0);
  auto busy = rejects(n.take(), RejectReason::kBusy);
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].first, 3u);
  ASSERT_EQ(busy[0].second.redirect_count, 2);
  EXPECT_EQ(busy[0].second.redirect[0], 1u);
  EXPECT_EQ(busy[0].second.redirect[1], 2u);
  EXPECT_EQ(n.trees.children(0), 2u);
  EXPECT_EQ(n.trees.spare_slots(), 0u);  // copies x K slots, all taken
}

TEST(NodePushTrees, AMuchFasterNewcomerTakesTheSlowestChildsPlace) {
  NodeConfig c = parts_cfg(true, 1);
  c.source_copies = 1;
  NodeParts n(c);
  Partner& slow = n.partner(1, 1000, 0);
  Partner& bit_faster = n.partner(2, 1499, 0);
  Partner& fast = n.partner(3, 1500, 0);  // preempt_upload_percent (150 %) of the slowest
  n.trees.on_subscribe(slow, Subscribe{0, kNoDepth}, 0);
  n.take();
  n.trees.on_subscribe(bit_faster, Subscribe{0, kNoDepth}, 0);
  EXPECT_EQ(rejects(n.take(), RejectReason::kBusy).size(), 1u);
  n.trees.on_subscribe(fast, Subscribe{0, kNoDepth}, 0);
  auto outs = n.take();
  auto dropped = rejects(outs, RejectReason::kDropped);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].first, 1u);
  auto acks = sent<SubscribeAck>(outs);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, 3u);
  EXPECT_EQ(slow.child_mask, 0);
  EXPECT_EQ(fast.child_mask, 1);
  EXPECT_EQ(n.trees.children(0), 1u);
}

TEST(NodePushTrees, AViewerTakesChildrenOnlyWhenAttachedAndShallower) {
  NodeParts n(parts_cfg(false, 1));
  Partner& child = n.partner(1, 1000, 0);
  n.trees.on_subscribe(child, Subscribe{0, kNoDepth}, 0);
  EXPECT_EQ(rejects(n.take(), RejectReason::kDepth).size(), 1u);  // no parent yet
  attach(n, 9, 0);
  EXPECT_EQ(n.trees.parent(0), 9u);
  EXPECT_EQ(n.trees.depth(0), 1);
  n.trees.on_subscribe(child, Subscribe{0, 1}, 0);  // as deep as we are: a cycle could form
  EXPECT_EQ(rejects(n.take(), RejectReason::kDepth).size(), 1u);
  n.trees.on_subscribe(child, Subscribe{0, kNoDepth}, 0);
  auto acks = sent<SubscribeAck>(n.take());
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, 1u);
  EXPECT_EQ(acks[0].second.depth, 1);
  EXPECT_EQ(n.trees.children(0), 1u);
}

TEST(NodePushTrees, ForwardsToTheFastestChildFirst) {
  NodeParts n(parts_cfg(true, 1));
  Partner& slow = n.partner(1, 1000, 0);
  Partner& fast = n.partner(2, 4000, 0);
  n.trees.on_subscribe(slow, Subscribe{0, kNoDepth}, 0);
  n.trees.on_subscribe(fast, Subscribe{0, kNoDepth}, 0);
  n.take();
  EXPECT_EQ(n.trees.first_child(0, kNoPeer), 2u);
  EXPECT_EQ(n.trees.first_child(0, 2), 1u);
  Segment s;
  s.header.number = 7;
  s.header.size = 500;
  n.trees.forward(s, 0, kNoPeer, 0);
  auto outs = n.take();
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].peer, 2u);
  EXPECT_EQ(outs[1].peer, 1u);
  EXPECT_EQ(outs[0].priority, push_priority(0));
  EXPECT_EQ(n.stats.segments_pushed, 2u);
  n.trees.forward(s, 0, 2, 0);  // not back to where it came from
  outs = n.take();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].peer, 1u);
}

// A partner that announced sub-stream `home` as the one it relays for.
Partner& relaying_for(NodeParts& n, PeerId id, uint32_t upload_kbps, uint8_t home) {
  Partner& p = n.partner(id, upload_kbps, 0);
  BufferMap bm = map_of({}, n.cfg.substreams, kNoDepth, 8);
  bm.home = home;
  NodeParts::show(p, bm, 0);
  return p;
}

TEST(NodePushTrees, ChildrenThatRelayTheSubStreamAreForwardedFirst) {
  NodeParts n(parts_cfg(true, 4));
  Partner& fast_foreign = relaying_for(n, 1, 4000, 1);
  Partner& slow_home = relaying_for(n, 2, 1000, 0);
  n.trees.on_subscribe(fast_foreign, Subscribe{0, kNoDepth}, 0);
  n.trees.on_subscribe(slow_home, Subscribe{0, kNoDepth}, 0);
  n.take();
  // The 4 Mbit/s child is a leaf of tree 0: its upload goes to tree 1.
  EXPECT_EQ(n.trees.first_child(0, kNoPeer), 2u);
  Segment s;
  s.header.number = 4;  // sub-stream 0
  s.header.size = 500;
  n.trees.forward(s, 0, kNoPeer, 0);
  auto outs = n.take();
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].peer, 2u);
  EXPECT_EQ(outs[1].peer, 1u);
}

TEST(NodePushTrees, AHomeSubscriberTakesTheSlotOfAChildThatRelaysElsewhere) {
  NodeConfig c = parts_cfg(true, 4);
  c.source_copies = 1;
  NodeParts n(c);
  Partner& foreign = relaying_for(n, 1, 4000, 3);
  Partner& home = relaying_for(n, 2, 1000, 0);
  Partner& other_foreign = relaying_for(n, 3, 8000, 2);
  n.trees.on_subscribe(foreign, Subscribe{0, kNoDepth}, 0);
  n.take();
  // A leaf of tree 0 does not displace another leaf, however fast it uploads.
  n.trees.on_subscribe(other_foreign, Subscribe{0, kNoDepth}, 0);
  EXPECT_EQ(rejects(n.take(), RejectReason::kBusy).size(), 1u);
  // A relay of tree 0 does, however slow.
  n.trees.on_subscribe(home, Subscribe{0, kNoDepth}, 0);
  auto outs = n.take();
  auto dropped = rejects(outs, RejectReason::kDropped);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].first, 1u);
  ASSERT_EQ(sent<SubscribeAck>(outs).size(), 1u);
  EXPECT_EQ(home.child_mask, 1);
  EXPECT_EQ(foreign.child_mask, 0);
}

TEST(NodePushTrees, OnlyAViewerWithFewSlotsHasAHome) {
  NodeConfig c = parts_cfg(false, 4);
  c.home_below_slots = 8;
  c.upload_bps = 2'000'000;  // 6 slots
  EXPECT_LT(NodeParts(c).trees.home(), 4);
  c.upload_bps = 4'000'000;  // 13 slots
  EXPECT_EQ(NodeParts(c).trees.home(), kNoHome);
  c.home_below_slots = 0;
  c.upload_bps = 1'000'000;
  EXPECT_EQ(NodeParts(c).trees.home(), kNoHome);
  NodeConfig src = parts_cfg(true, 4);
  src.home_below_slots = 255;
  EXPECT_EQ(NodeParts(src).trees.home(), kNoHome);
}

TEST(NodePushTrees, AViewerAnnouncesItsHomeAndBoundsForeignChildren) {
  NodeConfig c = parts_cfg(false, 4);
  c.upload_bps = 8'000'000;  // 27 slots
  c.home_below_slots = 255;
  c.foreign_children = 1;
  NodeParts n(c);
  const uint8_t home = n.trees.home();
  ASSERT_LT(home, 4);
  const uint8_t other = uint8_t((home + 1) % 4);
  Partner& p = n.partner(9, 4000, 0);
  NodeParts::show(p, map_of({}, 4, 0, 10), 0);
  n.trees.manage(0);
  n.take();
  for (uint8_t j = 0; j < 4; ++j) n.trees.on_ack(p, SubscribeAck{j, 0}, 0);
  BufferMap bm;
  bm.substreams = 4;
  n.trees.fill_map(bm, 0);
  EXPECT_EQ(bm.home, home);
  EXPECT_EQ(bm.depth[other], 1);
  Partner& a = n.partner(1, 1000, 0);
  Partner& b = n.partner(2, 1000, 0);
  n.trees.on_subscribe(a, Subscribe{other, kNoDepth}, 0);
  EXPECT_EQ(sent<SubscribeAck>(n.take()).size(), 1u);
  // Its one foreign slot in that sub-stream is taken: the map says so, a subscriber is
  // refused, and the home sub-stream still takes children.
  n.trees.fill_map(bm, 0);
  EXPECT_EQ(bm.depth[other], kNoDepth);
  EXPECT_EQ(bm.depth[home], 1);
  n.trees.on_subscribe(b, Subscribe{other, kNoDepth}, 0);
  EXPECT_EQ(rejects(n.take(), RejectReason::kBusy).size(), 1u);
  n.trees.on_subscribe(b, Subscribe{home, kNoDepth}, 0);
  EXPECT_EQ(sent<SubscribeAck>(n.take()).size(), 1u);
  EXPECT_EQ(n.trees.children(home), 1u);
}

TEST(NodePushTrees, AParentThatNeverPushesIsLeftWithStrikes) {
  NodeParts n(parts_cfg(false, 1));
  Partner& p = attach(n, 9, 0);
  EXPECT_FALSE(n.trees.on_unit(0, 8, 0));  // not from our parent
  n.trees.manage(n.cfg.first_push_timeout_us);
  EXPECT_EQ(n.trees.parent(0), 9u);  // not past the timeout yet
  n.trees.manage(n.cfg.first_push_timeout_us + 1);
  auto unsub = sent<Unsubscribe>(n.take());
  ASSERT_EQ(unsub.size(), 1u);
  EXPECT_EQ(unsub[0].first, 9u);
  EXPECT_EQ(n.trees.parent(0), kNoPeer);
  EXPECT_EQ(p.parent_mask, 0);
  EXPECT_EQ(p.parent_strikes, n.cfg.silent_parent_strikes);
  EXPECT_GT(p.refused_until, n.cfg.first_push_timeout_us + n.cfg.refuse_backoff_us);
  EXPECT_EQ(n.stats.parents_lost, 1u);
}

TEST(NodePushTrees, AParentThatPushedGetsOneStrike) {
  NodeParts n(parts_cfg(false, 1));
  Partner& p = attach(n, 9, 0);
  EXPECT_TRUE(n.trees.on_unit(0, 9, 100));
  n.trees.manage(100 + n.cfg.parent_timeout_us + 1);
  EXPECT_EQ(n.trees.parent(0), kNoPeer);
  EXPECT_EQ(p.parent_strikes, 1);
}

TEST(NodePushTrees, ALowerUploadShedsTheSlowestChild) {
  NodeConfig c = parts_cfg(false, 1);
  c.upload_bps = 4'000'000;  // 3 push slots at 1 Mbit/s
  NodeParts n(c);
  attach(n, 9, 0);
  Partner& slow = n.partner(1, 1000, 0);
  Partner& fast = n.partner(2, 3000, 0);
  n.trees.on_subscribe(slow, Subscribe{0, kNoDepth}, 0);
  n.trees.on_subscribe(fast, Subscribe{0, kNoDepth}, 0);
  n.take();
  ASSERT_EQ(n.trees.children(0), 2u);
  n.cfg.upload_bps = 2'000'000;  // 1 slot
  n.trees.shed();
  auto dropped = rejects(n.take(), RejectReason::kDropped);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].first, 1u);
  EXPECT_EQ(fast.child_mask, 1);
  EXPECT_EQ(n.trees.children_total(), 1u);
  EXPECT_EQ(n.stats.children_shed, 1u);
}

TEST(NodePushTrees, ALeavingPartnerOrphansItsSubStreams) {
  NodeParts n(parts_cfg(false, 1));
  Partner& p = attach(n, 9, 0);
  n.trees.forget(p, 5);
  EXPECT_EQ(n.trees.parent(0), kNoPeer);
  EXPECT_TRUE(n.trees.wants_parent());
  EXPECT_EQ(n.stats.parents_lost, 1u);
}

}  // namespace
