#include "media/common/nack_tracker.hpp"

#include <gtest/gtest.h>

using namespace meshcast::media;

TEST(NackTracker, GapIsRequestedRetriedAndClearedByRetransmission) {
  NackTracker n;
  n.on_packet(10, 0);
  n.on_packet(13, 1000);  // 11, 12 missing
  EXPECT_EQ(n.due(1000), (std::vector<uint16_t>{11, 12}));
  EXPECT_TRUE(n.due(2000).empty());  // not yet due for retry
  n.on_packet(11, 5000);             // retransmission arrives
  EXPECT_EQ(n.due(50000), (std::vector<uint16_t>{12}));
  EXPECT_EQ(n.missing_count(), 1u);
}

TEST(NackTracker, GivesUpAfterRetriesAndAcrossWrap) {
  NackTracker n;
  n.on_packet(65534, 0);
  n.on_packet(1, 0);  // 65535, 0 missing
  EXPECT_EQ(n.due(0), (std::vector<uint16_t>{65535, 0}));
  EXPECT_EQ(n.due(40000).size(), 2u);
  EXPECT_EQ(n.due(80000).size(), 2u);
  EXPECT_TRUE(n.due(120000).empty());  // 3 tries used
  EXPECT_EQ(n.missing_count(), 0u);
  EXPECT_EQ(n.gaps_given_up(), 2u);
}

TEST(NackTracker, HugeGapResets) {
  NackTracker n;
  n.on_packet(0, 0);
  EXPECT_TRUE(n.on_packet(5000, 0));
  EXPECT_EQ(n.missing_count(), 0u);
}
