// SegmentWindow on its own: eviction of the oldest, out-of-range numbers, whole segments,
// creation-time estimates and the buffer map bits.
#include "mesh/core/segment_window.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace meshcast::mesh;

namespace {

constexpr TimeUs kSeg = 200'000;

Segment unit(uint32_t n, uint32_t k) {
  Segment s;
  s.header.number = n;
  s.header.created_us = TimeUs(n / k) * kSeg;
  s.header.size = 100;
  return s;
}

struct Ended {
  std::vector<PeerId> ids;
  void operator()(PeerId id) { ids.push_back(id); }
};

TEST(NodeSegmentWindow, EvictsTheOldestWhenAUnitLandsBeyondTheTop) {
  SegmentWindow w(8, 1, false);
  Ended ended;
  for (uint32_t n : {0u, 2u, 3u, 4u, 5u, 6u, 7u}) w.store(unit(n, 1), 0, ended);
  w.claim(1).req_from = 42;  // a pull for unit 1 is out
  EXPECT_EQ(w.lo(), 0u);
  w.store(unit(8, 1), 0, ended);  // beyond the top: unit 0 goes
  EXPECT_FALSE(w.has(0));
  EXPECT_EQ(w.slot_for(0), nullptr);
  EXPECT_TRUE(w.has(8));
  EXPECT_EQ(w.lo(), 1u);
  EXPECT_TRUE(ended.ids.empty());
  w.store(unit(9, 1), 0, ended);  // unit 1 goes, and its pull with it
  EXPECT_EQ(w.lo(), 2u);
  EXPECT_EQ(ended.ids, std::vector<PeerId>{42});
  EXPECT_EQ(w.ring(1).req_from, kNoPeer);
  EXPECT_EQ(w.highest(), 9u);
}

TEST(NodeSegmentWindow, AStoredUnitEndsItsOwnPull) {
  SegmentWindow w(8, 1, false);
  Ended ended;
  w.store(unit(0, 1), 0, ended);
  w.claim(3).req_from = 7;
  w.store(unit(3, 1), 0, ended);
  EXPECT_EQ(ended.ids, std::vector<PeerId>{7});
  EXPECT_TRUE(w.has(3));
  EXPECT_FALSE(w.has(2));
}

TEST(NodeSegmentWindow, RefusesOutOfRangeNumbers) {
  SegmentWindow w(8, 2, false);
  Ended ended;
  EXPECT_FALSE(w.any());
  EXPECT_FALSE(w.too_old(0, false, 0));  // nothing held: everything is welcome
  w.store(unit(11, 2), 0, ended);        // segment 5: the window starts at its first stripe
  EXPECT_EQ(w.lo(), 10u);
  EXPECT_EQ(w.slot_for(9), nullptr);
  EXPECT_EQ(w.slot_for(18), nullptr);  // lo + window
  EXPECT_NE(w.slot_for(17), nullptr);
  EXPECT_FALSE(w.has(9));
  EXPECT_FALSE(w.has(11 + 8));  // same ring slot as 11, other number
  EXPECT_TRUE(w.has(11));
  // Playing from unit 12: anything below is too old; before playout, an older segment
  // that fits below the newest is still welcome, one that does not is not.
  EXPECT_TRUE(w.too_old(11, true, 12));
  EXPECT_FALSE(w.too_old(12, true, 12));
  EXPECT_FALSE(w.too_old(8, false, 0));
  EXPECT_TRUE(w.too_old(2, false, 0));
}

TEST(NodeSegmentWindow, ASegmentIsCompleteOnlyWithAllItsStripes) {
  SegmentWindow w(16, 4, false);
  Ended ended;
  for (uint32_t n : {4u, 5u, 7u}) w.store(unit(n, 4), 0, ended);
  EXPECT_FALSE(w.complete(4));
  w.store(unit(6, 4), 0, ended);
  EXPECT_TRUE(w.complete(4));
  EXPECT_EQ(w.substream(7), 3u);
  EXPECT_TRUE(w.newer_held(1, 4));  // 5 is held on sub-stream 1
  EXPECT_FALSE(w.newer_held(1, 5));
}

TEST(NodeSegmentWindow, EstimatesCreationOfMissingUnitsFromTheNewest) {
  SegmentWindow w(16, 2, false);
  Ended ended;
  Segment s = unit(6, 2);
  s.header.created_us = 1'000'000;  // segment 3
  w.store(std::move(s), 0, ended);
  EXPECT_EQ(w.created_est(6, kSeg), 1'000'000);
  EXPECT_EQ(w.created_est(7, kSeg), 1'000'000);  // same segment
  EXPECT_EQ(w.created_est(10, kSeg), 1'400'000);
  EXPECT_EQ(w.created_est(2, kSeg), 600'000);
}

TEST(NodeSegmentWindow, HopsCountUpExceptAtTheOrigin) {
  Ended ended;
  SegmentWindow viewer(8, 1, false), origin(8, 1, true);
  const auto& v = viewer.store(unit(0, 1), 0, ended);
  const auto& o = origin.store(unit(0, 1), 0, ended);
  EXPECT_EQ(viewer.seg_of(v).header.hops, 1);
  EXPECT_EQ(origin.seg_of(o).header.hops, 0);
}

TEST(NodeSegmentWindow, MapShowsTheUnitsHeld) {
  SegmentWindow w(8, 1, false);
  Ended ended;
  BufferMap empty;
  w.fill_map(empty);
  EXPECT_EQ(empty.count, 0);
  for (uint32_t n : {3u, 5u, 6u}) w.store(unit(n, 1), 0, ended);
  BufferMap bm;
  w.fill_map(bm);
  EXPECT_EQ(bm.base, 3u);
  EXPECT_EQ(bm.count, 4);
  EXPECT_TRUE(bm.has(3));
  EXPECT_FALSE(bm.has(4));
  EXPECT_TRUE(bm.has(6));
}

}  // namespace
