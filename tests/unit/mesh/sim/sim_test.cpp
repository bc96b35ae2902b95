// Small simulated swarms with fixed seeds: properties of the whole protocol.
#include <gtest/gtest.h>

#include <string>

#include "mesh/sim/simulator.hpp"

using namespace meshcast::mesh::sim;

namespace {
SimConfig small(uint32_t peers, double duration) {
  SimConfig c;
  c.peers = peers;
  c.duration_s = duration;
  c.join_spread_s = 5;
  c.rtt_min_ms = 20;
  c.rtt_max_ms = 200;
  c.seed = 11;
  return c;
}
}  // namespace

TEST(Sim, NoChurnNoLossEveryViewerPlaysAtLeast99Percent) {
  SimConfig c = small(150, 60);
  const SimResult r = run_simulation(c);
  EXPECT_EQ(r.viewers_joined, 150u);
  EXPECT_EQ(r.viewers_never_started, 0u);
  EXPECT_EQ(r.startup_ms.count, 150u);
  EXPECT_GE(r.continuity, 0.99);
  EXPECT_GE(r.min_viewer_continuity, 0.99);
  EXPECT_EQ(r.forged_played, 0u);
  EXPECT_LT(r.control_overhead, 0.03);
}

TEST(Sim, BroadcasterNeverExceedsItsCopies) {
  for (uint32_t copies : {2u, 4u}) {
    SimConfig c = small(200, 40);
    c.source_copies = copies;
    c.loss = 0.01;
    c.churn_lifetime_s = 60;
    const SimResult r = run_simulation(c);
    EXPECT_LE(r.source_max_subscribers, copies);
    EXPECT_LE(r.source_upload_copies, double(copies));
    EXPECT_GT(r.source_upload_copies, 0.5 * copies);  // it does serve
  }
}

TEST(Sim, ForgersAreNeverPlayedAndGetDropped) {
  SimConfig c = small(120, 40);
  c.forgers = 6;
  const SimResult r = run_simulation(c);
  EXPECT_GT(r.forged_sent, 0u);    // forged segments did reach honest viewers ...
  EXPECT_EQ(r.forged_played, 0u);  // ... and none was ever played
  EXPECT_GT(r.forger_links_dropped, 0u);
  EXPECT_GT(r.forger_reports, 0u);  // each detection is reported to the tracker
  EXPECT_EQ(r.honest_reported, 0u);
  EXPECT_GE(r.continuity, 0.97);
}

TEST(Sim, SameSeedSameMetrics) {
  SimConfig c = small(100, 30);
  c.loss = 0.01;
  c.churn_lifetime_s = 30;
  const SimResult a = run_simulation(c), b = run_simulation(c);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.played, b.played);
  EXPECT_EQ(a.missed, b.missed);
  EXPECT_EQ(a.lag_ms.p95, b.lag_ms.p95);
  EXPECT_EQ(a.startup_ms.p95, b.startup_ms.p95);
  EXPECT_EQ(a.hops.p50, b.hops.p50);
  EXPECT_EQ(a.control_overhead, b.control_overhead);
  EXPECT_EQ(a.duplicate_ratio, b.duplicate_ratio);
  EXPECT_EQ(a.source_upload_copies, b.source_upload_copies);
  c.seed = 12;
  const SimResult d = run_simulation(c);
  EXPECT_NE(a.events, d.events);
}

// Relays that pass a segment on to their first child while it arrives (cut-through, the
// default) cut the time a segment waits in relays' uploads, with the same protocol.
TEST(Sim, CutThroughShortensTheUploadQueue) {
  SimConfig c = small(150, 30);
  const SimResult ct = run_simulation(c);
  c.cut_through = false;
  const SimResult sf = run_simulation(c);
  EXPECT_GT(sf.send_queue_ms, 0.0);
  EXPECT_LT(ct.send_queue_ms, sf.send_queue_ms);
  EXPECT_LT(ct.arrival_ms.p50, sf.arrival_ms.p50);
  EXPECT_GE(ct.continuity, 0.99);
}

// Churn orphans sub-trees: each loss of a parent is counted, and orphans that find no
// shallower partner release their children rather than wait (docs/mesh.md).
TEST(Sim, ChurnOrphansAreCountedAndReHomed) {
  SimConfig c = small(200, 40);
  c.churn_lifetime_s = 30;
  const SimResult r = run_simulation(c);
  EXPECT_GT(r.departures, 0u);
  EXPECT_GT(r.parents_lost, r.departures);  // a departed relay orphans several children
  EXPECT_GE(r.continuity, 0.98);
  EXPECT_EQ(r.viewers_never_started, 0u);
}

// Partitions advance in lock-step windows and exchange events only between windows, so the
// threads that run them cannot change a single figure.
TEST(Sim, ThreadsDoNotChangeTheResults) {
  SimConfig c = small(200, 30);
  c.loss = 0.01;
  c.churn_lifetime_s = 30;
  c.forgers = 2;
  c.partitions = 3;
  c.threads = 1;
  const SimResult one = run_simulation(c);
  c.threads = 2;
  const SimResult two = run_simulation(c);
  EXPECT_EQ(one.threads, 1u);
  EXPECT_EQ(two.threads, 2u);
  EXPECT_EQ(one.partitions, 3u);
  EXPECT_EQ(one.events, two.events);
  EXPECT_EQ(one.played, two.played);
  EXPECT_EQ(one.missed, two.missed);
  EXPECT_EQ(one.stalls, two.stalls);
  EXPECT_EQ(one.departures, two.departures);
  EXPECT_EQ(one.forged_sent, two.forged_sent);
  EXPECT_EQ(one.lag_ms.p95, two.lag_ms.p95);
  EXPECT_EQ(one.startup_ms.p95, two.startup_ms.p95);
  EXPECT_EQ(one.control_overhead, two.control_overhead);
  EXPECT_EQ(one.duplicate_ratio, two.duplicate_ratio);
  EXPECT_EQ(one.send_queue_ms, two.send_queue_ms);
}

// The partition count is part of the model (it orders simultaneous events), not of its
// properties; with a zero minimum RTT there is no lookahead and one partition runs.
TEST(Sim, AnyPartitionCountKeepsTheProperties) {
  for (uint32_t parts : {1u, 4u}) {
    SimConfig c = small(150, 40);
    c.partitions = parts;
    const SimResult r = run_simulation(c);
    EXPECT_EQ(r.partitions, parts);
    EXPECT_EQ(r.viewers_never_started, 0u);
    EXPECT_GE(r.continuity, 0.99);
    EXPECT_LE(r.source_max_subscribers, c.source_copies);
  }
  SimConfig c = small(50, 10);
  c.rtt_min_ms = 0;
  c.partitions = 4;
  const SimResult r = run_simulation(c);
  EXPECT_EQ(r.partitions, 1u);
  EXPECT_GT(r.played, 0u);
}

// 20 % sybils join first, take every slot of the source, hold data, accept partners and
// children and never send a segment. Honest viewers name the silent source children to the
// source, which hands their slots over; continuity holds on every seed (before these rules
// seeds 2 and 3 played under 1 %).
TEST(Sim, SybilsThatJoinFirstAndNeverForwardDoNotStarveHonestViewers) {
  for (uint64_t seed : {1, 2, 3, 7}) {
    SimConfig c = small(20, 40);
    c.sybils = 4;
    c.join_spread_s = 4;
    c.bitrate_kbps = 500;
    c.rtt_min_ms = 1;
    c.rtt_max_ms = 4;
    c.upload_dist = {{1.0, 4.0}};  // sybils declare what honest viewers do: nothing to preempt
    c.seed = seed;
    const SimResult r = run_simulation(c);
    EXPECT_EQ(r.sybils, 4u);
    EXPECT_GE(r.source_silent_children_replaced, 1u) << "seed " << seed;
    EXPECT_GE(r.continuity, 0.99) << "seed " << seed;
    EXPECT_EQ(r.viewers_never_started, 0u) << "seed " << seed;
  }
}

// The diagnosis switches only print: tracing one peer (which runs the partitions on one
// thread) and the end-of-run tree shape leave every figure as it was.
TEST(Sim, TracingAPeerAndTheTreeShapeChangeNoFigure) {
  SimConfig c = small(60, 10);
  c.loss = 0.01;
  c.threads = 2;
  const SimResult plain = run_simulation(c);
  c.trace_peer = 3;
  c.tree_shape = true;
  testing::internal::CaptureStderr();
  const SimResult traced = run_simulation(c);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(traced.threads, 1u);
  EXPECT_NE(err.find(" in from "), std::string::npos);   // peer 3's inputs ...
  EXPECT_NE(err.find(" out kind "), std::string::npos);  // ... and outputs
  EXPECT_NE(err.find("depth  1:"), std::string::npos);   // the tree shape
  EXPECT_EQ(plain.events, traced.events);
  EXPECT_EQ(plain.played, traced.played);
  EXPECT_EQ(plain.missed, traced.missed);
  EXPECT_EQ(plain.lag_ms.p95, traced.lag_ms.p95);
  EXPECT_EQ(plain.startup_ms.p95, traced.startup_ms.p95);
  EXPECT_EQ(plain.control_overhead, traced.control_overhead);
}
