// Node rules with fixed inputs: buffer maps, start-up, pull scheduling, push forwarding,
// signature rejection, source copy cap, cycle avoidance, partner replacement, playout.
#include "mesh/core/node.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "mesh/core/ed25519.hpp"
#include "mesh/core/sim_mac.hpp"
#include "node_parts.hpp"

using namespace meshcast::mesh;
using meshcast::mesh::test::count;
using meshcast::mesh::test::sent;

namespace {

constexpr uint64_t kStream = 5;
constexpr TimeUs kSeg = 200'000;
const SimMac kMac(99);

NodeConfig viewer_cfg(PeerId self, uint32_t k = 2) {
  NodeConfig c;
  c.self = self;
  c.stream_id = kStream;
  c.segment_us = kSeg;
  c.substreams = k;
  c.stream_bps = 1'000'000;
  c.upload_bps = 2'000'000;
  c.verifier = &kMac;
  return c;
}

// Unit n (stripe n % k of segment n / k; the stripes of a segment share its creation time).
Segment seg(uint32_t n, uint32_t size = 1000, uint32_t k = 1) {
  Segment s;
  s.header.stream_id = kStream;
  s.header.number = n;
  s.header.created_us = TimeUs(n / k) * kSeg;
  s.header.size = size;
  kMac.sign(s);
  return s;
}

std::vector<Output> take(Node& n) {
  std::vector<Output> o = std::move(n.outbox());
  n.outbox().clear();
  return o;
}

BufferMap bm_with(std::initializer_list<uint32_t> have, uint8_t depth, uint8_t spare,
                  uint32_t k = 2) {
  BufferMap b;
  b.substreams = uint8_t(k);
  for (uint32_t j = 0; j < k; ++j) b.depth[j] = depth;
  b.spare_slots = spare;
  uint32_t lo = ~0u, hi = 0;
  for (auto n : have) lo = std::min(lo, n), hi = std::max(hi, n);
  if (have.size()) {
    b.base = lo;
    b.count = uint16_t(hi - lo + 1);
    for (auto n : have) b.set(n);
  }
  return b;
}

// Connects partner `id` to `node` with a hello and a buffer map; returns the outputs.
std::vector<Output> connect(Node& node, PeerId id, const BufferMap& bm, TimeUs now,
                            uint32_t upload_kbps = 2000) {
  node.partner_connected(id, now);
  node.on_message(id, Hello{kStream, upload_kbps, uint8_t(node.config().substreams), 0}, now);
  node.on_message(id, bm, now);
  return take(node);
}

}  // namespace

TEST(NodeBufferMap, ReflectsHeldSegmentsAndDepth) {
  Node n(viewer_cfg(1));
  n.start(0);
  connect(n, 2, bm_with({}, 1, 4), 0);
  n.on_message(2, SegmentMsg{seg(10)}, 2'100'000);
  n.on_message(2, SegmentMsg{seg(12)}, 2'500'000);
  const BufferMap b = n.buffer_map();
  EXPECT_TRUE(b.has(10));
  EXPECT_FALSE(b.has(11));
  EXPECT_TRUE(b.has(12));
  EXPECT_EQ(b.base + b.count - 1, 12u);
  EXPECT_EQ(b.depth[0], kNoDepth);  // not attached to a push tree yet
  EXPECT_EQ(b.spare_slots, n.spare_slots());
}

TEST(NodeStartup, HelloAndMapOnConnectThenNewestWholeSegmentIsPulledAndPlayedAfterBuffer) {
  Node n(viewer_cfg(1));  // K = 2 stripes: units 2s and 2s+1 make segment s
  n.start(0);
  n.partner_connected(2, 0);
  auto out = take(n);
  EXPECT_EQ(sent<Hello>(out).size(), 1u);
  EXPECT_EQ(sent<BufferMap>(out).size(), 1u);
  n.on_message(2, Hello{kStream, 2000, 2, 0}, 1000);
  // Segment 11 is only half there (unit 23 missing): the newest whole one is segment 10.
  n.on_message(2, bm_with({20, 21, 22}, 1, 4), 1000);
  out = take(n);
  auto reqs = sent<Request>(out);
  ASSERT_EQ(reqs.size(), 2u);  // each stripe from a holder of it (here the only partner)
  EXPECT_EQ(reqs[0].second.base, 20u);
  EXPECT_EQ(reqs[1].second.base, 21u);
  EXPECT_EQ(reqs[0].second.mask, 1u);
  EXPECT_EQ(sent<Subscribe>(out).size(), 2u);  // one per sub-stream
  const TimeUs now = 10 * kSeg + 300'000;
  n.on_message(2, SegmentMsg{seg(21, 1000, 2)}, now);
  out = take(n);
  EXPECT_EQ(count(out, OutputKind::kPlay), 0u);  // half a segment does not play
  EXPECT_FALSE(n.playing());
  n.on_message(2, SegmentMsg{seg(20, 1000, 2)}, now);
  out = take(n);
  ASSERT_EQ(count(out, OutputKind::kPlay), 2u);  // the two stripes, in order
  std::vector<uint32_t> played;
  for (auto& o : out) {
    if (o.kind == OutputKind::kPlay) {
      EXPECT_EQ(o.at, now + n.config().initial_buffer_us);
      played.push_back(o.number);
    }
  }
  EXPECT_EQ(played, (std::vector<uint32_t>{20, 21}));
  EXPECT_EQ(n.stats().played, 1u);  // one segment
  EXPECT_EQ(n.stats().first_play_at, now + n.config().initial_buffer_us);
  EXPECT_EQ(n.stats().lag_us_sum, uint64_t(now + n.config().initial_buffer_us - 10 * kSeg));
  EXPECT_EQ(n.stats().hops_max, 1);  // sent with hops 0 (as by the source): one relay
}

TEST(NodeSignature, ForgedSegmentIsNeverPlayedOrRelayedAndSenderDropped) {
  auto signer = Ed25519Signer::generate();
  auto verifier = Ed25519Verifier::from_public(signer->public_key());
  NodeConfig c = viewer_cfg(1, 1);
  c.verifier = &*verifier;
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({}, 0, 4, 1), 0);
  connect(n, 3, bm_with({}, kNoDepth, 4, 1), 0);
  // Peer 3 becomes our child on sub-stream 0 (we need a parent first: peer 2 acks).
  n.on_message(2, SubscribeAck{0, 0}, 1000);
  n.on_message(3, Subscribe{0, kNoDepth}, 1000);
  take(n);
  Segment good;
  good.header = {kStream, 5, 5 * kSeg, 4, 1};  // as relayed by a child of the source
  good.payload = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>{1, 2, 3, 4});
  signer->sign(good);
  Segment forged = good;
  forged.payload = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>{6, 6, 6, 6});
  n.on_message(2, SegmentMsg{forged}, 1'100'000);
  auto out = take(n);
  EXPECT_EQ(count(out, OutputKind::kPlay), 0u);
  EXPECT_TRUE(sent<SegmentMsg>(out).empty());  // not relayed to the child
  ASSERT_EQ(count(out, OutputKind::kReport), 1u);
  bool dropped = false;
  for (auto& o : out)
    dropped |=
        o.kind == OutputKind::kDisconnect && o.peer == 2 && o.reason == DisconnectReason::kForged;
  EXPECT_TRUE(dropped);
  EXPECT_FALSE(n.is_partner(2));
  EXPECT_FALSE(n.has_segment(5));
  // The forger cannot come back.
  n.partner_connected(2, 1'200'000);
  EXPECT_FALSE(n.is_partner(2));
  // The genuine segment from another partner is accepted, played and pushed to the child.
  connect(n, 4, bm_with({}, 0, 4, 1), 1'300'000);
  n.on_message(4, SegmentMsg{good}, 1'400'000);
  out = take(n);
  EXPECT_EQ(count(out, OutputKind::kPlay), 1u);
  auto pushed = sent<SegmentMsg>(out);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].first, 3u);
  EXPECT_EQ(pushed[0].second.segment.header.hops, 2);  // source -> 4 -> us = 2 hops
  EXPECT_FALSE(verifier->verify(forged));
}

TEST(NodeSource, ServesAtMostCopiesPerSubstreamAndRedirects) {
  NodeConfig c = viewer_cfg(0, 2);
  c.is_source = true;
  c.source_copies = 2;
  c.max_partners = 16;
  Node src(c);
  src.start(0);
  for (PeerId p = 1; p <= 3; ++p) {
    src.partner_connected(p, 0);
    src.on_message(p, Hello{kStream, 2000, 2, 0}, 0);
    src.on_message(p, Subscribe{0, kNoDepth}, 0);
  }
  auto out = take(src);
  auto acks = sent<SubscribeAck>(out);
  auto rejects = sent<Reject>(out);
  ASSERT_EQ(acks.size(), 2u);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].first, 3u);
  EXPECT_EQ(rejects[0].second.reason, RejectReason::kBusy);
  EXPECT_EQ(rejects[0].second.redirect_count, 2);  // points at the two subscribers
  EXPECT_EQ(src.children(0), 2u);
  // Its buffer map tells others that sub-stream 0 is full.
  EXPECT_EQ(src.buffer_map().depth[0], kNoDepth);
  EXPECT_EQ(src.buffer_map().depth[1], 0);
  // Publishing pushes exactly two copies of a sub-stream-0 segment, none of sub-stream 1.
  src.publish_segment(seg(10), 10 * kSeg);
  EXPECT_EQ(sent<SegmentMsg>(take(src)).size(), 2u);
  src.publish_segment(seg(11), 11 * kSeg);
  EXPECT_EQ(sent<SegmentMsg>(take(src)).size(), 0u);
  // Pulls beyond the copy budget are refused: the budget (copies x stream rate since
  // start) is spent by the pushes.
  uint64_t served = 0;
  for (int i = 0; i < 50; ++i) {
    src.on_message(3, Request{11, 1}, 11 * kSeg);
    served += sent<SegmentMsg>(take(src)).size();
  }
  const double budget = 2.0 * 1'000'000 / 8 * (11 * kSeg) / 1e6;  // bytes since start
  EXPECT_LE(double(src.stats().media_bytes_sent), budget);
  EXPECT_LE(served, 2u);  // two segments published, two copies each: two left for pulls
  // The copies are spent: no more pulls, whatever the rate budget has refilled since.
  src.on_message(3, Request{10, 1}, 60 * kSeg);
  out = take(src);
  EXPECT_TRUE(sent<SegmentMsg>(out).empty());
  ASSERT_EQ(sent<Reject>(out).size(), 1u);
  EXPECT_EQ(sent<Reject>(out)[0].second.reason, RejectReason::kBusy);
}

TEST(NodeCycles, ParentMustBeAttachedAndStrictlyShallower) {
  Node n(viewer_cfg(1, 1));
  n.start(0);
  connect(n, 2, bm_with({}, 2, 4, 1), 0);
  connect(n, 3, bm_with({}, kNoDepth, 0, 1), 0);
  connect(n, 4, bm_with({}, kNoDepth, 0, 1), 0);
  take(n);
  // Not attached yet: refuses children.
  n.on_message(3, Subscribe{0, kNoDepth}, 10);
  auto rj = sent<Reject>(take(n));
  ASSERT_EQ(rj.size(), 1u);
  EXPECT_EQ(rj[0].second.reason, RejectReason::kDepth);
  // Attach under 2 (depth 2) -> our depth 3.
  n.on_message(2, SubscribeAck{0, 2}, 20);
  EXPECT_EQ(n.parent(0), 2u);
  EXPECT_EQ(n.depth(0), 3);
  // A subscriber claiming depth 3 (same as ours) or 1 (shallower) is refused.
  n.on_message(3, Subscribe{0, 3}, 30);
  n.on_message(4, Subscribe{0, 1}, 30);
  rj = sent<Reject>(take(n));
  ASSERT_EQ(rj.size(), 2u);
  EXPECT_EQ(rj[0].second.reason, RejectReason::kDepth);
  EXPECT_EQ(rj[1].second.reason, RejectReason::kDepth);
  // Our own parent can never become our child.
  n.on_message(2, Subscribe{0, kNoDepth}, 40);
  EXPECT_EQ(sent<Reject>(take(n)).size(), 1u);
  // A deeper or fresh peer is accepted.
  n.on_message(3, Subscribe{0, kNoDepth}, 50);
  auto acks = sent<SubscribeAck>(take(n));
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].second.depth, 3);
  EXPECT_EQ(n.children(0), 1u);
}

// An orphan that relays to children keeps its depth as a bound (a deeper parent could be
// its own descendant) until orphan_timeout; a shallower partner is taken at once.
namespace {
// A node at depth 2 (parent 2) with one child (9) on sub-stream 0, orphaned at t = 100 us.
// (On the heap: a Node's outbox pointer refers to itself, so it must not be copied.)
std::unique_ptr<Node> orphan_with_child(TimeUs orphan_timeout_us) {
  NodeConfig c = viewer_cfg(1, 1);
  c.orphan_timeout_us = orphan_timeout_us;
  auto node = std::make_unique<Node>(c);
  Node& n = *node;
  n.start(0);
  connect(n, 2, bm_with({}, 1, 4, 1), 0);
  n.on_message(2, SubscribeAck{0, 1}, 10);  // depth 2
  connect(n, 9, bm_with({}, kNoDepth, 4, 1), 20);
  n.on_message(9, Subscribe{0, kNoDepth}, 30);  // a child at depth 3
  EXPECT_EQ(n.children(0), 1u);
  take(n);
  n.partner_left(2, 100);
  return node;
}
}  // namespace

TEST(NodeCycles, OrphanWithChildrenTakesOnlyAShallowerParentBeforeTheTimeout) {
  auto node = orphan_with_child(2'000'000);
  Node& n = *node;
  connect(n, 3, bm_with({}, 2, 9, 1), 200);  // same depth: may not take it
  connect(n, 4, bm_with({}, 5, 9, 1), 200);  // deeper: may be our descendant
  n.on_timer(1'000'000);
  auto out = take(n);
  EXPECT_TRUE(sent<Subscribe>(out).empty());
  EXPECT_TRUE(sent<Reject>(out).empty());  // the child is kept
  out = connect(n, 5, bm_with({}, 0, 9, 1), 1'100'000);
  auto subs = sent<Subscribe>(out);
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].first, 5u);
  EXPECT_EQ(subs[0].second.depth, 2);
  EXPECT_EQ(n.children(0), 1u);
}

// Past orphan_timeout with no shallower partner, the orphan releases its subtree (each
// member re-homes among its own partners) and may then attach at any depth.
TEST(NodeCycles, OrphanWithoutShallowerPartnerReleasesSubtreeThenAttachesAnywhere) {
  auto node = orphan_with_child(300'000);
  Node& n = *node;
  connect(n, 4, bm_with({}, 5, 9, 1), 150);
  n.on_timer(300'000);  // orphaned for 200 ms: still waiting
  EXPECT_EQ(n.children(0), 1u);
  EXPECT_TRUE(sent<Subscribe>(take(n)).empty());
  n.on_timer(450'000);
  auto out = take(n);
  auto rj = sent<Reject>(out);
  ASSERT_EQ(rj.size(), 1u);
  EXPECT_EQ(rj[0].first, 9u);
  EXPECT_EQ(rj[0].second.reason, RejectReason::kDropped);
  EXPECT_EQ(n.children(0), 0u);
  auto subs = sent<Subscribe>(out);
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].first, 4u);
  EXPECT_EQ(subs[0].second.depth, kNoDepth);
  EXPECT_EQ(n.stats().subtree_releases, 1u);
}

TEST(NodeScheduling, PullsFromHolderAndNeverTwiceUntilTimeout) {
  NodeConfig c = viewer_cfg(1, 1);
  c.initial_buffer_us = 3'000'000;  // deadlines far enough to re-request
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({10}, kNoDepth, 0, 1), 0);
  n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);  // playout starts at 10
  take(n);
  // Partner 3 holds 11 and 12; partner 4 holds only 12; 2 only 10 (fresh map).
  n.on_message(2, bm_with({10}, kNoDepth, 0, 1), 2'190'000);
  connect(n, 3, bm_with({10, 11, 12}, kNoDepth, 0, 1), 2'010'000);
  connect(n, 4, bm_with({12}, kNoDepth, 0, 1), 2'010'000);
  n.on_timer(2'200'000);
  auto reqs = sent<Request>(take(n));
  std::map<uint32_t, std::vector<PeerId>> by_n;
  for (auto& [to, r] : reqs) by_n[r.base].push_back(to);
  ASSERT_EQ(by_n[11].size(), 1u);
  EXPECT_EQ(by_n[11][0], 3u);  // the only holder
  ASSERT_EQ(by_n[12].size(), 1u);
  // Pending requests are not repeated on the next tick ...
  n.on_timer(2'400'000);
  for (auto& [to, r] : sent<Request>(take(n))) {
    EXPECT_NE(r.base, 11u);
    EXPECT_NE(r.base, 12u);
  }
  // ... only after the timeout.
  n.on_timer(2'200'000 + n.config().request_timeout_us + 200'000);
  reqs = sent<Request>(take(n));
  bool again11 = false;
  for (auto& [to, r] : reqs) again11 |= r.base == 11;
  EXPECT_TRUE(again11);
}

TEST(NodeScheduling, DeadlineFirstNearPlayoutRarestFirstNearEdge) {
  NodeConfig c = viewer_cfg(1, 1);
  c.max_requests_per_partner = 1;  // one request per partner per round: order matters
  c.urgent_us = 1'000'000;
  c.initial_buffer_us = 300'000;
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({10}, kNoDepth, 0, 1), 0);
  n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);  // delay = 0.3 s
  take(n);
  // Partner 3 has 11 (urgent: deadline 2.5 s) and 20, 21; 21 is held by two partners.
  n.on_message(2, bm_with({10}, kNoDepth, 0, 1), 2'040'000);
  connect(n, 3, bm_with({11, 20, 21}, kNoDepth, 0, 1), 2'010'000);
  connect(n, 4, bm_with({21}, kNoDepth, 0, 1), 2'010'000);
  n.on_timer(2'050'000);
  auto reqs = sent<Request>(take(n));
  std::map<PeerId, uint32_t> first;
  for (auto& [to, r] : reqs)
    if (!first.count(to)) first[to] = r.base;
  EXPECT_EQ(first[3], 11u);  // most urgent first
  EXPECT_EQ(first[4], 21u);
}

TEST(NodeScheduling, RarestFirstWhenNothingUrgent) {
  NodeConfig c = viewer_cfg(1, 1);
  c.max_requests_per_partner = 1;
  c.urgent_us = 1;  // nothing is urgent
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({10}, kNoDepth, 0, 1), 0);
  n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);
  take(n);
  // 12 is held by one partner (rare), 11 by three.
  n.on_message(2, bm_with({10}, kNoDepth, 0, 1), 2'040'000);
  connect(n, 3, bm_with({11, 12}, kNoDepth, 0, 1), 2'010'000);
  connect(n, 4, bm_with({11}, kNoDepth, 0, 1), 2'010'000);
  connect(n, 5, bm_with({11}, kNoDepth, 0, 1), 2'010'000);
  n.on_timer(2'050'000);
  auto reqs = sent<Request>(take(n));
  ASSERT_FALSE(reqs.empty());
  uint32_t first_to_3 = 0;
  for (auto& [to, r] : reqs)
    if (to == 3 && !first_to_3) first_to_3 = r.base;
  EXPECT_EQ(first_to_3, 12u);  // the rare one from its only holder
}

TEST(NodeScheduling, PullsAPushedSegmentAnywayWhenItsDeadlineIsClose) {
  for (TimeUs lead : {TimeUs(0), TimeUs(300'000)}) {
    SCOPED_TRACE(lead);
    NodeConfig c = viewer_cfg(1, 1);
    c.initial_buffer_us = 400'000;
    c.pull_grace_us = 300'000;
    c.deadline_pull_us = lead;
    Node n(c);
    n.start(0);
    connect(n, 2, bm_with({}, 0, 4, 1), 0);
    n.on_message(2, SubscribeAck{0, 0}, 1);           // 2 pushes the only sub-stream
    n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);  // pushed at once: delay 0.4 s
    connect(n, 3, bm_with({10, 11}, kNoDepth, 0, 1), 2'010'000);
    take(n);
    // 11 (created 2.2 s, due 2.6 s) has not been pushed by 2.35 s: the push is not overdue
    // yet (2.2 s + 0.3 s grace), but waiting for it would leave no time to pull.
    n.on_timer(2'350'000);
    bool pulled11 = false;
    for (auto& [to, r] : sent<Request>(take(n))) pulled11 |= r.base == 11;
    EXPECT_EQ(pulled11, lead > 0);
  }
}

TEST(NodePush, ForwardsNewSegmentsToChildrenOfThatSubstreamOnly) {
  Node n(viewer_cfg(1, 2));
  n.start(0);
  connect(n, 2, bm_with({}, 0, 8), 0);
  connect(n, 3, bm_with({}, kNoDepth, 0), 0);
  connect(n, 4, bm_with({}, kNoDepth, 0), 0);
  n.on_message(2, SubscribeAck{0, 0}, 10);
  n.on_message(2, SubscribeAck{1, 0}, 10);
  n.on_message(3, Subscribe{0, kNoDepth}, 20);
  n.on_message(4, Subscribe{1, kNoDepth}, 20);
  take(n);
  n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);  // sub-stream 0
  auto pushed = sent<SegmentMsg>(take(n));
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].first, 3u);
  n.on_message(2, SegmentMsg{seg(11)}, 2'200'000);  // sub-stream 1
  pushed = sent<SegmentMsg>(take(n));
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].first, 4u);
  // A duplicate is counted, not forwarded again.
  n.on_message(2, SegmentMsg{seg(11)}, 2'300'000);
  EXPECT_TRUE(sent<SegmentMsg>(take(n)).empty());
  EXPECT_EQ(n.stats().duplicate_bytes_received, 1000u);
  // Unsubscribe stops the push.
  n.on_message(4, Unsubscribe{1}, 2'350'000);
  n.on_message(2, SegmentMsg{seg(13)}, 2'600'000);
  EXPECT_TRUE(sent<SegmentMsg>(take(n)).empty());
}

TEST(NodePush, ControlThenPushesByDepthThenPullAnswers) {
  Node n(viewer_cfg(1, 2));
  n.start(0);
  connect(n, 2, bm_with({}, 0, 8), 0);
  connect(n, 3, bm_with({}, kNoDepth, 0), 0);
  n.on_message(2, SubscribeAck{0, 0}, 10);
  n.on_message(3, Subscribe{0, kNoDepth}, 20);
  take(n);
  n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);
  auto out = take(n);
  size_t pushes = 0;
  for (auto& o : out)
    if (o.kind == OutputKind::kSend) {
      // Control first; the push to child 3 by a node at depth 1 next.
      EXPECT_EQ(o.priority, is_media(o.msg) ? push_priority(1) : 0);
      pushes += is_media(o.msg);
    }
  EXPECT_EQ(pushes, 1u);
  n.on_message(2, SegmentMsg{seg(11)}, 2'200'000);  // sub-stream 1: nobody subscribed
  take(n);
  n.on_message(3, Request{11, 1}, 2'300'000);
  out = take(n);
  ASSERT_EQ(sent<SegmentMsg>(out).size(), 1u);
  for (auto& o : out) {
    if (o.kind == OutputKind::kSend && is_media(o.msg)) {
      EXPECT_EQ(o.priority, kBulkPriority);
    }
  }
}

TEST(NodePartners, ReplacesDepartedPartnerFromCandidatesOrAsksForMore) {
  NodeConfig c = viewer_cfg(1, 1);
  c.min_partners = 2;
  c.target_partners = 2;
  Node n(c);
  n.start(0);
  auto out = take(n);
  EXPECT_EQ(count(out, OutputKind::kNeedNeighbours), 1u);
  const std::vector<PeerId> cands{7, 8, 9};
  n.add_candidates(cands, 100);
  out = take(n);
  EXPECT_EQ(count(out, OutputKind::kConnect), 2u);  // up to the target
  n.partner_connected(9, 200);
  n.partner_connected(8, 200);
  take(n);
  n.partner_left(9, 300);
  out = take(n);
  ASSERT_EQ(count(out, OutputKind::kConnect), 1u);
  for (auto& o : out) {
    if (o.kind == OutputKind::kConnect) {
      EXPECT_EQ(o.peer, 7u);
    }
  }
  n.partner_connected(7, 400);
  n.partner_left(7, 500);
  out = take(n);  // no candidates left: ask the tracker (rate limited)
  n.on_timer(2'600'000);
  out = take(n);
  EXPECT_EQ(count(out, OutputKind::kNeedNeighbours), 1u);
}

TEST(NodePartners, StarvingAtStartLooksBeyondTheTargetUntilSomeoneHasData) {
  NodeConfig c = viewer_cfg(1, 1);
  c.min_partners = 2;
  c.target_partners = 2;
  c.max_partners = 6;
  c.startup_widen_us = 700'000;
  Node n(c);
  n.start(0);
  const std::vector<PeerId> cands{7, 8, 9, 10, 11, 12};
  n.add_candidates(cands, 10);
  auto out = take(n);
  EXPECT_EQ(count(out, OutputKind::kConnect), 2u);   // 12 and 11: the target
  connect(n, 12, bm_with({}, kNoDepth, 0, 1), 100);  // partners that joined with us: no data
  connect(n, 11, bm_with({}, kNoDepth, 0, 1), 100);
  n.on_timer(600'000);  // before the widening time: the target is enough
  out = take(n);
  EXPECT_EQ(count(out, OutputKind::kConnect), 0u);
  EXPECT_EQ(count(out, OutputKind::kNeedNeighbours), 0u);
  n.on_timer(800'000);  // (first tick after 700 ms) nothing to play, nobody has data: up
  out = take(n);        // to max_partners, ask for more
  EXPECT_EQ(count(out, OutputKind::kConnect), 4u);
  EXPECT_EQ(count(out, OutputKind::kNeedNeighbours), 1u);
  for (PeerId id : {10u, 9u, 8u}) n.partner_connected(id, 850'000);
  take(n);
  // A partner shows data: back to the normal target, no more widening.
  n.on_message(10, bm_with({5}, 0, 4, 1), 900'000);
  n.add_candidates(std::vector<PeerId>{20, 21}, 900'000);
  n.on_timer(1'600'000);
  out = take(n);
  EXPECT_EQ(count(out, OutputKind::kConnect), 0u);  // 5 partners >= target 2
  EXPECT_EQ(count(out, OutputKind::kNeedNeighbours), 0u);
}

TEST(NodePartners, DropsParentThatStopsDelivering) {
  Node n(viewer_cfg(1, 1));
  n.start(0);
  connect(n, 2, bm_with({}, 1, 8, 1), 0);
  connect(n, 3, bm_with({}, 1, 8, 1), 0);
  n.on_message(2, SubscribeAck{0, 1}, 10);  // our depth: 2
  take(n);
  EXPECT_EQ(n.parent(0), 2u);
  // Nothing arrives for longer than the parent timeout: unsubscribe, pick another.
  n.on_timer(n.config().parent_timeout_us + 500'000);
  auto out = take(n);
  auto unsub = sent<Unsubscribe>(out);
  ASSERT_EQ(unsub.size(), 1u);
  EXPECT_EQ(unsub[0].first, 2u);
  auto subs = sent<Subscribe>(out);
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].first, 3u);
}

// A segment plays when its last stripe is in, so the sub-stream whose pushes arrive last
// sets the delay: it alone switches to a parent one hop shallower (150 ms estimated gain,
// below the 250 ms any other switch needs).
TEST(NodeParents, SlowestSubStreamSwitchesForASmallerGain) {
  for (bool balance : {false, true}) {
    SCOPED_TRACE(balance);
    NodeConfig c = viewer_cfg(1, 2);
    c.balance_spread_us = balance ? 150'000 : 0;
    c.balance_gain_us = 100'000;
    Node n(c);
    n.start(0);
    BufferMap a = bm_with({}, 0, 8);
    a.depth[1] = kNoDepth;
    BufferMap b = bm_with({}, 2, 8);
    b.depth[0] = kNoDepth;
    connect(n, 2, a, 0);  // the only candidate for sub-stream 0
    connect(n, 3, b, 0);  // ... and for sub-stream 1
    n.on_message(2, SubscribeAck{0, 0}, 10);
    n.on_message(3, SubscribeAck{1, 2}, 10);
    ASSERT_EQ(n.parent(0), 2u);
    ASSERT_EQ(n.parent(1), 3u);
    // Sub-stream 0 arrives 100 ms after creation, sub-stream 1 400 ms.
    for (uint32_t s = 0; s < 10; ++s) {
      n.on_message(2, SegmentMsg{seg(2 * s, 1000, 2)}, TimeUs(s) * kSeg + 100'000);
      n.on_message(3, SegmentMsg{seg(2 * s + 1, 1000, 2)}, TimeUs(s) * kSeg + 400'000);
    }
    take(n);
    BufferMap cbm = bm_with({}, kNoDepth, 8);
    cbm.depth[1] = 1;  // one hop shallower than our parent on sub-stream 1
    connect(n, 4, cbm, 2'500'000);
    n.on_timer(2'600'000);
    auto subs = sent<Subscribe>(take(n));
    if (!balance) {
      EXPECT_TRUE(subs.empty());
      continue;
    }
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0].first, 4u);
    EXPECT_EQ(subs[0].second.substream, 1);
    EXPECT_EQ(subs[0].second.depth, 3);
  }
}

TEST(NodePartners, FullNodeRedirectsNewcomer) {
  NodeConfig c = viewer_cfg(1, 1);
  c.max_partners = 2;
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({}, 0, 8, 1), 0);
  connect(n, 3, bm_with({}, 0, 8, 1), 0);
  n.on_message(2, SubscribeAck{0, 0}, 1);      // 2 is our parent: not evictable
  n.on_message(3, Subscribe{0, kNoDepth}, 1);  // 3 is our child: not evictable
  take(n);
  n.partner_connected(4, 100);
  auto out = take(n);
  EXPECT_FALSE(n.is_partner(4));
  auto rj = sent<Reject>(out);
  ASSERT_EQ(rj.size(), 1u);
  EXPECT_EQ(rj[0].second.kind, RejectKind::kPartner);
  EXPECT_EQ(rj[0].second.redirect_count, 2);
}

TEST(NodePlayout, StallsUpToItsLimitThenSkipsAndShrinksWhenComfortable) {
  for (uint32_t limit : {1u, 2u}) {
    SCOPED_TRACE(limit);
    NodeConfig c = viewer_cfg(1, 1);
    c.initial_buffer_us = 400'000;
    c.stall_step_us = 200'000;
    c.max_stalls_per_segment = limit;
    c.startup_phase_us = 0;  // (during the start-up phase it would keep stalling)
    Node n(c);
    n.start(0);
    connect(n, 2, bm_with({10, 11}, 0, 8, 1), 0);
    n.on_message(2, SubscribeAck{0, 0}, 1);
    n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);  // delay = 2.4 s - 2.0 s... = 0.4 s
    take(n);
    const TimeUs d0 = n.playout_delay();
    EXPECT_EQ(d0, 400'000);
    // Segment 11 is due at 11*0.2 + 0.4 = 2.6 s and missing (but may come): stall as often
    // as allowed, the delay growing each time.
    TimeUs due = 2'600'000;
    for (uint32_t k = 1; k <= limit; ++k) {
      n.on_timer(due);
      EXPECT_EQ(n.playout_delay(), d0 + TimeUs(k) * 200'000);
      EXPECT_EQ(n.stats().stalls, k);
      EXPECT_EQ(n.stats().missed, 0u);
      due += 200'000;
    }
    // Still missing at the last deadline: skip it.
    n.on_timer(due);
    auto out = take(n);
    EXPECT_EQ(count(out, OutputKind::kMissed), 1u);
    EXPECT_EQ(n.stats().missed, 1u);
    EXPECT_EQ(n.stats().stalls, limit);
    EXPECT_EQ(n.next_play(), 12u);
    // Segments then arrive with a wide margin for whole shrink periods: delay shrinks.
    const TimeUs grown = n.playout_delay();
    for (uint32_t k = 12; k < 60; ++k) {
      const TimeUs t = TimeUs(k) * kSeg - 100'000;  // 100 ms after creation
      n.on_message(2, SegmentMsg{seg(k)}, t);
      n.on_timer(t + 1);
    }
    EXPECT_LT(n.playout_delay(), grown);
    EXPECT_GE(n.stats().played, 40u);
  }
}

TEST(NodeConfigBounds, ZeroTickStillAdvances) {
  NodeConfig c = viewer_cfg(1, 1);
  c.tick_us = 0;
  Node n(c);
  n.start(0);
  n.on_timer(1'000'000);  // must return (a zero tick used to loop for ever)
  EXPECT_GE(n.config().tick_us, 1'000);
}

TEST(NodeCodec, GarbageBytesDropThePartner) {
  Node n(viewer_cfg(1, 1));
  n.start(0);
  connect(n, 2, bm_with({}, 0, 8, 1), 0);
  const std::vector<uint8_t> junk{0x02, 0xFF};
  n.on_bytes(2, junk, 10);
  EXPECT_FALSE(n.is_partner(2));
}

TEST(NodePlayout, KeepsStallingDuringStartupPhase) {
  NodeConfig c = viewer_cfg(1, 1);
  c.initial_buffer_us = 400'000;
  c.stall_step_us = 200'000;
  c.startup_phase_us = 2'000'000;
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({10, 11}, 0, 8, 1), 0);
  n.on_message(2, SubscribeAck{0, 0}, 1);
  n.on_message(2, SegmentMsg{seg(10)}, 2'000'000);
  n.on_timer(2'600'000);
  n.on_timer(2'800'000);
  n.on_timer(3'000'000);
  EXPECT_EQ(n.stats().stalls, 3u);
  EXPECT_EQ(n.stats().missed, 0u);
  n.on_message(2, SegmentMsg{seg(11)}, 3'100'000);
  EXPECT_EQ(n.stats().played, 2u);
}

TEST(NodePlayout, SegmentPlaysOnlyWithAllItsStripesElseIsSkippedWhole) {
  NodeConfig c = viewer_cfg(1, 2);
  c.initial_buffer_us = 400'000;
  c.startup_phase_us = 0;
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({20, 21}, 0, 8, 2), 0);
  n.on_message(2, SubscribeAck{0, 0}, 1);  // a parent for stripe 0 only
  n.on_message(2, SegmentMsg{seg(20, 1000, 2)}, 2'000'000);
  n.on_message(2, SegmentMsg{seg(21, 1000, 2)}, 2'000'000);  // segment 10 due at 2.4 s
  EXPECT_EQ(count(take(n), OutputKind::kPlay), 2u);
  // Segment 11 (units 22, 23) is due at 2.6 s: stripe 0 comes, stripe 1 has no parent and
  // the only partner says it lacks it, so nothing can bring it.
  n.on_message(2, SegmentMsg{seg(22, 1000, 2)}, 2'100'000);
  Reject lacks;
  lacks.kind = RejectKind::kRequest;
  lacks.reason = RejectReason::kNotHave;
  lacks.base = 23;
  lacks.mask = 1;
  n.on_message(2, lacks, 2'100'000);
  take(n);
  n.on_timer(2'600'000);
  auto out = take(n);
  EXPECT_EQ(count(out, OutputKind::kPlay), 0u);  // half a segment is not played
  ASSERT_EQ(count(out, OutputKind::kMissed), 1u);
  for (auto& o : out) {
    if (o.kind == OutputKind::kMissed) {
      EXPECT_EQ(o.number, 22u);  // its first stripe
    }
  }
  EXPECT_EQ(n.stats().missed, 1u);
  EXPECT_EQ(n.stats().missed_unavailable, 1u);
  EXPECT_EQ(n.next_play(), 24u);
  EXPECT_EQ(n.stats().played, 1u);
}

TEST(NodeStartup, EachStripeOfTheFirstSegmentIsPulledFromAPartnerThatHoldsIt) {
  Node n(viewer_cfg(1));  // K = 2
  n.start(0);
  connect(n, 2, bm_with({20, 22}, 1, 4), 1000);  // stripe 0 of segments 10 and 11
  auto out = connect(n, 3, bm_with({}, 1, 4), 1000);
  EXPECT_TRUE(sent<Request>(out).empty());  // nobody holds stripe 1 of either: wait
  n.on_message(3, bm_with({21}, 1, 4), 2000);
  auto reqs = sent<Request>(take(n));
  ASSERT_EQ(reqs.size(), 2u);
  std::map<uint32_t, PeerId> from;
  for (auto& [peer, r] : reqs) from[r.base] = peer;
  EXPECT_EQ(from[20], 2u);
  EXPECT_EQ(from[21], 3u);
}

// Issue 17, "measure, don't believe": the source keeps children that forward and replaces
// those that pass nothing on, whatever upload they declared.
TEST(NodeSource, ChildrenThatForwardToNobodyArePreemptedWhateverTheyDeclare) {
  NodeConfig c = viewer_cfg(0, 2);  // 1 Mbit/s in 2 sub-streams: 500 kbit/s a slot
  c.is_source = true;
  c.source_copies = 2;
  c.max_partners = 16;
  Node src(c);
  src.start(0);
  // The sybil declares 100 Mbit/s (170 slots), the honest child 2 Mbit/s (3 slots).
  const PeerId sybil = 1, honest = 2, newcomer = 3, early = 4;
  connect(src, sybil, bm_with({}, kNoDepth, 170), 0, 100'000);
  connect(src, honest, bm_with({}, kNoDepth, 3), 0, 2000);
  src.on_message(sybil, Subscribe{0, kNoDepth}, 0);
  src.on_message(honest, Subscribe{0, kNoDepth}, 0);
  ASSERT_EQ(sent<SubscribeAck>(take(src)).size(), 2u);
  // Their buffer maps a second later: the honest child took a child of its own (2 slots
  // left), the sybil forwards to nobody (every slot free).
  src.on_message(honest, bm_with({}, 1, 2), 1'000'000);
  src.on_message(sybil, bm_with({}, 1, 170), 1'000'000);
  // Within the grace time nobody is replaced, and sub-stream 0 shows full.
  connect(src, early, bm_with({}, kNoDepth, 3), 1'000'000, 2000);
  src.on_message(early, Subscribe{0, kNoDepth}, 1'000'000);
  auto out = take(src);
  ASSERT_EQ(sent<Reject>(out).size(), 1u);
  EXPECT_EQ(sent<Reject>(out)[0].second.reason, RejectReason::kBusy);
  EXPECT_EQ(src.buffer_map().depth[0], kNoDepth);
  // After it: sub-stream 0 shows a slot again, and a newcomer declaring far less than the
  // sybil takes the sybil's place; the honest (slower-declaring) child keeps its own.
  src.on_message(honest, bm_with({}, 1, 2), 5'000'000);
  src.on_message(sybil, bm_with({}, 1, 170), 5'000'000);
  EXPECT_EQ(src.buffer_map().depth[0], 0);
  EXPECT_GE(src.buffer_map().spare_slots, 1);
  connect(src, newcomer, bm_with({}, kNoDepth, 3), 5'000'000, 2000);
  src.on_message(newcomer, Subscribe{0, kNoDepth}, 5'000'000);
  out = take(src);
  auto rejects = sent<Reject>(out);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].first, sybil);
  EXPECT_EQ(rejects[0].second.reason, RejectReason::kDropped);
  ASSERT_EQ(sent<SubscribeAck>(out).size(), 1u);
  EXPECT_EQ(sent<SubscribeAck>(out)[0].first, newcomer);
  EXPECT_EQ(src.children(0), 2u);
  EXPECT_EQ(src.stats().idle_children_replaced, 1u);
  // Publishing now pushes to the honest child and the newcomer only.
  src.publish_segment(seg(10), 5'100'000);
  auto pushes = sent<SegmentMsg>(take(src));
  ASSERT_EQ(pushes.size(), 2u);
  for (auto& [to, m] : pushes) EXPECT_NE(to, sybil);
  // The replaced sybil cannot take a slot back by subscribing again.
  src.on_message(sybil, Subscribe{0, kNoDepth}, 8'000'000);
  out = take(src);
  EXPECT_TRUE(sent<SubscribeAck>(out).empty());
  EXPECT_EQ(src.children(0), 2u);
}

// A parent that takes us as its child and never forwards is left, and asked again only
// after a back-off that doubles each time it fails again.
TEST(NodeParents, ParentThatNeverForwardsIsLeftWithAGrowingBackOff) {
  NodeConfig c = viewer_cfg(1, 1);
  c.parent_timeout_us = 1'000'000;
  c.refuse_backoff_us = 1'000'000;
  Node n(c);
  n.start(0);
  const PeerId sybil = 2;
  auto out = connect(n, sybil, bm_with({0}, 0, 100, 1), 0);
  std::vector<TimeUs> subscribed_at;
  for (TimeUs t = 0; t <= 40'000'000; t += 100'000) {
    if (t > 0) {
      n.on_message(sybil, bm_with({0}, 0, 100, 1), t);  // keeps looking like a perfect parent
      n.on_timer(t);
      out = take(n);
    }
    for (auto& [to, s] : sent<Subscribe>(out)) {
      subscribed_at.push_back(t);
      n.on_message(sybil, SubscribeAck{s.substream, 0}, t);  // accepts, never pushes
    }
  }
  ASSERT_GE(subscribed_at.size(), 3u);
  // Gaps between attempts grow: 1 s silence + 2 s, then + 4 s, then + 8 s...
  for (size_t i = 2; i < subscribed_at.size(); ++i)
    EXPECT_GT(subscribed_at[i] - subscribed_at[i - 1], subscribed_at[i - 1] - subscribed_at[i - 2])
        << i;
  EXPECT_LE(subscribed_at.size(), 6u);  // 40 s: 2+4+8+16 s of back-off plus the waits
}

// A child that takes a slot and forwards nothing, named by a partner it took as its own
// child: the source gives the complainer that slot and frees the child's others, at most
// once per interval, and only for a child that had time to send.
TEST(NodeSource, AComplaintFreesEverySlotOfASilentChildOncePerInterval) {
  NodeConfig c = viewer_cfg(0, 2);
  c.is_source = true;
  c.source_copies = 1;
  c.max_partners = 16;
  Node src(c);
  src.start(0);
  const PeerId silent = 1, complainer = 2, liar = 3, late = 4;
  connect(src, silent, bm_with({}, kNoDepth, 3), 0);
  src.on_message(silent, Subscribe{0, kNoDepth}, 0);
  src.on_message(silent, Subscribe{1, kNoDepth}, 0);
  ASSERT_EQ(sent<SubscribeAck>(take(src)).size(), 2u);
  // Too early: the accused has not had the time to send anything yet.
  connect(src, complainer, bm_with({}, kNoDepth, 3), 500'000);
  src.on_message(complainer, Subscribe{0, 2, silent}, 500'000);
  auto out = take(src);
  EXPECT_TRUE(sent<SubscribeAck>(out).empty());
  EXPECT_EQ(src.children(0), 1u);
  // A complaint naming a peer that is not a child of that sub-stream changes nothing.
  src.on_message(complainer, Subscribe{0, 2, 99}, 1'500'000);
  EXPECT_TRUE(sent<SubscribeAck>(take(src)).empty());
  // In time: the complainer takes sub-stream 0, and the silent child loses both slots.
  src.on_message(complainer, Subscribe{0, 2, silent}, 1'600'000);
  out = take(src);
  auto acks = sent<SubscribeAck>(out);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, complainer);
  size_t dropped = 0;
  for (auto& [to, r] : sent<Reject>(out))
    dropped += to == silent && r.reason == RejectReason::kDropped;
  EXPECT_EQ(dropped, 2u);
  EXPECT_EQ(src.children(0), 1u);
  EXPECT_EQ(src.children(1), 0u);  // free for whoever subscribes next
  EXPECT_EQ(src.stats().silent_children_replaced, 1u);
  // A liar names the complainer (now a child) right after: the interval protects it.
  connect(src, liar, bm_with({}, kNoDepth, 3), 1'700'000);
  src.on_message(liar, Subscribe{0, 2, complainer}, 1'700'000);
  EXPECT_TRUE(sent<SubscribeAck>(take(src)).empty());
  EXPECT_EQ(src.children(0), 1u);
  // The silent child cannot take its slots back by subscribing again.
  src.on_message(silent, Subscribe{1, kNoDepth}, 2'000'000);
  EXPECT_TRUE(sent<SubscribeAck>(take(src)).empty());
  connect(src, late, bm_with({}, kNoDepth, 3), 2'000'000);
  src.on_message(late, Subscribe{1, kNoDepth}, 2'000'000);
  EXPECT_EQ(sent<SubscribeAck>(take(src)).size(), 1u);
}

// A viewer whose parent one hop below the source acknowledged it and sent nothing names
// that parent to the source, dialling the source again if it had sent the viewer away.
TEST(NodeParents, ASourceChildThatSendsNothingIsNamedToTheSource) {
  NodeConfig c = viewer_cfg(7, 1);
  c.first_push_timeout_us = 1'000'000;
  c.refuse_backoff_us = 1'000'000;
  Node n(c);
  n.start(0);
  const PeerId source = 0, silent = 2;
  // The source: a partner at first (the viewer learns who it is), full, then gone.
  n.partner_connected(source, 0);
  n.on_message(source, Hello{kStream, 4000, 1, 1}, 0);
  n.on_message(source, bm_with({0}, kNoDepth, 0, 1), 0);
  auto out = connect(n, silent, bm_with({0}, 1, 10, 1), 0);
  TimeUs t = 0;
  bool subscribed = false;
  for (; t < 1'000'000 && !subscribed; t += 100'000) {
    if (t > 0) {
      n.on_timer(t);
      out = take(n);
    }
    for (auto& [to, s] : sent<Subscribe>(out)) {
      ASSERT_EQ(to, silent);
      n.on_message(silent, SubscribeAck{s.substream, 1}, t);
      subscribed = true;
    }
  }
  ASSERT_TRUE(subscribed);
  n.partner_left(source, t);
  // It never pushes. After the first-push timeout the viewer leaves it and dials the source.
  bool dialled = false;
  for (; t < 4'000'000 && !dialled; t += 100'000) {
    n.on_message(silent, bm_with({0}, 1, 10, 1), t);
    n.on_timer(t);
    for (auto& o : take(n))
      dialled = dialled || (o.kind == OutputKind::kConnect && o.peer == source);
  }
  ASSERT_TRUE(dialled);
  // Connected again: its next subscribe goes to the full source and names the silent child.
  n.partner_connected(source, t);
  n.on_message(source, Hello{kStream, 4000, 1, 1}, t);
  n.on_message(source, bm_with({0}, kNoDepth, 0, 1), t);
  std::vector<std::pair<PeerId, Subscribe>> subs;
  for (TimeUs u = t; u < t + 3'000'000 && subs.empty(); u += 100'000) {
    n.on_timer(u);
    subs = sent<Subscribe>(take(n));
  }
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].first, source);
  EXPECT_EQ(subs[0].second.silent_parent, silent);
}

// The shell's uplink estimate falls below what the children take: the slowest children go
// (Reject dropped), the fastest keep their stripes, partners hear the new upload, and a
// newcomer finds no slot until the estimate grows again.
TEST(NodeUploadBudget, ShrinkingBudgetShedsTheSlowestChildrenAndTellsPartners) {
  NodeConfig c = viewer_cfg(1, 2);
  c.upload_bps = 4'000'000;  // 6 slots of 500 kbit/s at 85 %
  Node n(c);
  n.start(0);
  connect(n, 2, bm_with({}, 1, 4), 0);
  n.on_message(2, SubscribeAck{0, 1}, 10);
  n.on_message(2, SubscribeAck{1, 1}, 10);  // depth 2 on both
  const std::map<PeerId, uint32_t> uploads = {{3, 3000}, {4, 1000}, {5, 2000}, {6, 500}};
  for (auto [id, kbps] : uploads) connect(n, id, bm_with({}, kNoDepth, 4), 20, kbps);
  for (PeerId id : {3, 4, 5})
    for (uint8_t j = 0; j < 2; ++j) n.on_message(id, Subscribe{j, kNoDepth}, 30);
  ASSERT_EQ(n.child_count(), 6u);
  EXPECT_EQ(n.spare_slots(), 0u);
  take(n);

  // 1.2 Mbit/s: 2 slots; a stripe copy takes 83 ms, so 2 children per sub-stream fit the
  // fan-out bound.
  n.set_upload_budget(1'200'000, 100);
  auto out = take(n);
  std::map<PeerId, int> dropped;
  for (auto& [to, r] : sent<Reject>(out)) {
    EXPECT_EQ(r.reason, RejectReason::kDropped);
    ++dropped[to];
  }
  EXPECT_EQ(dropped[4], 2);         // 1000 kbit/s
  EXPECT_EQ(dropped[5], 2);         // 2000 kbit/s
  EXPECT_EQ(dropped.count(3), 0u);  // the fastest keeps both stripes
  EXPECT_EQ(n.child_count(), 2u);
  EXPECT_EQ(n.children(0), 1u);
  EXPECT_EQ(n.children(1), 1u);
  EXPECT_EQ(n.stats().children_shed, 4u);
  EXPECT_EQ(n.upload_budget(), 1'200'000u);
  auto hellos = sent<Hello>(out);
  EXPECT_EQ(hellos.size(), 5u);  // every partner
  for (auto& [to, h] : hellos) EXPECT_EQ(h.upload_kbps, 1200u);
  EXPECT_EQ(n.buffer_map().spare_slots, 0);

  // A newcomer (no faster than 1.5x the slowest child) is refused.
  n.on_message(6, Subscribe{0, kNoDepth}, 200);
  auto rj = sent<Reject>(take(n));
  ASSERT_EQ(rj.size(), 1u);
  EXPECT_EQ(rj[0].second.reason, RejectReason::kBusy);

  // A small move is not announced; growing back opens slots again.
  n.set_upload_budget(1'250'000, 300);
  EXPECT_TRUE(sent<Hello>(take(n)).empty());
  n.set_upload_budget(4'000'000, 400);
  EXPECT_EQ(sent<Hello>(take(n)).size(), 5u);
  EXPECT_EQ(n.spare_slots(), 4u);
  n.on_message(6, Subscribe{0, kNoDepth}, 500);
  EXPECT_EQ(sent<SubscribeAck>(take(n)).size(), 1u);
}

// TURN is paid bandwidth: with relayed_penalty_us a viewer fed over a relayed link moves to a
// direct partner of the same depth; without the penalty (or over a direct link) it stays.
TEST(NodeParents, ARelayedParentIsLeftForADirectOneOfTheSameDepth) {
  for (bool relayed : {true, false}) {
    NodeConfig c = viewer_cfg(1, 1);
    c.relayed_penalty_us = 2 * c.hop_estimate_us;
    c.first_push_timeout_us = c.parent_timeout_us;  // no segments flow in this test
    Node n(c);
    n.start(0);
    n.partner_connected(2, 0);
    n.set_partner_relayed(2, relayed);
    n.on_message(2, Hello{kStream, 2000, 1, 0}, 0);
    n.on_message(2, bm_with({}, 1, 4, 1), 0);
    auto subs = sent<Subscribe>(take(n));
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0].first, 2u);
    n.on_message(2, SubscribeAck{0, 1}, 10);
    ASSERT_EQ(n.parent(0), 2u);
    connect(n, 3, bm_with({}, 1, 4, 1), 20);
    bool asked_direct = false;
    // Within the parent timeout (2 s): no segments flow here, the parent must not look silent.
    for (TimeUs t = 200'000; t <= 1'600'000; t += 200'000) {
      n.on_message(2, bm_with({}, 1, 4, 1), t);  // the parent stays alive and shallow
      n.on_timer(t);
      for (auto& [to, s] : sent<Subscribe>(take(n))) asked_direct |= to == 3;
    }
    EXPECT_EQ(asked_direct, relayed) << (relayed ? "relayed" : "direct") << " parent";
  }
}
