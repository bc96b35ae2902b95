// UploadPacer: rate, burst, urgent lane first, bounded bulk lane.
#include "mesh/node/upload_pacer.hpp"

#include <gtest/gtest.h>

using meshcast::node::UploadPacer;
constexpr uint8_t kUrgent = 0, kBulk = UploadPacer::kBulkLevel;

namespace {

UploadPacer::Packet pkt(uint32_t peer, size_t bytes) {
  UploadPacer::Packet p;
  p.peer = peer;
  p.bytes.assign(bytes, uint8_t(peer));
  return p;
}

}  // namespace

TEST(UploadPacer, WithoutARateEverythingLeavesAtOnceUrgentFirst) {
  UploadPacer p;
  EXPECT_FALSE(p.pacing());
  p.enqueue(kBulk, pkt(1, 1000), 0);
  p.enqueue(kUrgent, pkt(2, 1000), 0);
  std::vector<UploadPacer::Packet> out;
  p.release(0, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].peer, 2u);
  EXPECT_EQ(out[1].peer, 1u);
  EXPECT_EQ(p.next_release_us(), -1);
}

TEST(UploadPacer, KeepsToTheRateAfterTheBurst) {
  // 8 Mbit/s = 1 byte per microsecond; burst 2,000 bytes.
  UploadPacer p(8'000'000, 2000);
  for (int i = 0; i < 10; ++i) p.enqueue(kUrgent, pkt(1, 1000), 0);
  std::vector<UploadPacer::Packet> out;
  p.release(0, out);
  EXPECT_EQ(out.size(), 2u);          // the burst
  EXPECT_EQ(p.next_release_us(), 1);  // the debt is paid; one byte more
  // 10 packets of 1,000 bytes take 8,000 us more after the burst.
  int64_t t = 0;
  while (out.size() < 10 && t < 100'000) {
    t = p.next_release_us();
    ASSERT_GE(t, 0);
    p.release(t, out);
  }
  EXPECT_EQ(out.size(), 10u);
  EXPECT_GE(t, 7000);
  EXPECT_LE(t, 8100);
  EXPECT_EQ(p.next_release_us(), -1);
  EXPECT_EQ(p.counters().sent_bytes, 10'000u);
}

TEST(UploadPacer, UrgentPacketsOvertakeQueuedBulk) {
  UploadPacer p(8'000'000, 1000);
  for (int i = 0; i < 5; ++i) p.enqueue(kBulk, pkt(1, 1000), 0);
  std::vector<UploadPacer::Packet> out;
  p.release(0, out);
  ASSERT_EQ(out.size(), 1u);  // one bulk packet went in the burst
  p.enqueue(kUrgent, pkt(2, 1000), 10);
  p.enqueue(kUrgent, pkt(3, 1000), 10);
  out.clear();
  for (int64_t t = 10; out.size() < 6 && t < 100'000;) {
    t = p.next_release_us();
    p.release(t, out);
  }
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0].peer, 2u);  // both urgent packets before the 4 bulk ones left
  EXPECT_EQ(out[1].peer, 3u);
  for (size_t i = 2; i < 6; ++i) EXPECT_EQ(out[i].peer, 1u);
}

TEST(UploadPacer, FullBulkLaneRefusesButUrgentIsNeverRefused) {
  UploadPacer p(1'000'000, 1000, 3000);
  EXPECT_TRUE(p.enqueue(kBulk, pkt(1, 1500), 0));
  EXPECT_TRUE(p.enqueue(kBulk, pkt(1, 1500), 0));
  EXPECT_FALSE(p.enqueue(kBulk, pkt(1, 1), 0));
  EXPECT_EQ(p.counters().dropped, 1u);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(p.enqueue(kUrgent, pkt(2, 1500), 0));
  EXPECT_EQ(p.queued_bytes(), 18'000u);
  EXPECT_EQ(p.counters().max_queued_bytes, 18'000u);
}

TEST(UploadPacer, LowerPriorityNumbersLeaveFirstFifoWithinALevel) {
  UploadPacer p(8'000'000, 1);
  p.enqueue(5, pkt(5, 100), 0);
  p.enqueue(200, pkt(9, 100), 0);  // beyond the last level: bulk
  p.enqueue(2, pkt(2, 100), 0);
  p.enqueue(5, pkt(6, 100), 0);
  p.enqueue(0, pkt(1, 100), 0);
  std::vector<UploadPacer::Packet> out;
  for (int64_t t = 0; out.size() < 5 && t < 10'000; t = p.next_release_us()) p.release(t, out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].peer, 1u);
  EXPECT_EQ(out[1].peer, 2u);
  EXPECT_EQ(out[2].peer, 5u);
  EXPECT_EQ(out[3].peer, 6u);
  EXPECT_EQ(out[4].peer, 9u);
}

TEST(UploadPacer, TimeGoingBackwardsDoesNotMintTokens) {
  UploadPacer p(8'000'000, 1000);
  p.enqueue(kUrgent, pkt(1, 1000), 1000);
  p.enqueue(kUrgent, pkt(1, 1000), 1000);
  std::vector<UploadPacer::Packet> out;
  p.release(1000, out);
  EXPECT_EQ(out.size(), 1u);
  p.release(0, out);  // an earlier clock reading: nothing more may leave
  EXPECT_EQ(out.size(), 1u);
  p.release(2001, out);
  EXPECT_EQ(out.size(), 2u);
}
