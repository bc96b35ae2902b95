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

TEST(UploadPacer, EverythingQueuedStaysWithinItsByteBound) {
  // An uplink far slower than what is pushed through it: urgent packets keep coming, the
  // queue holds at most its bound and the oldest least urgent packets make room.
  UploadPacer p(8'000, 2000, 10'000, 50'000, 1'000'000'000);
  int64_t now = 0;
  for (int i = 0; i < 2000; ++i) {
    p.enqueue(uint8_t(i % 3), pkt(uint32_t(i), 1000), now);
    EXPECT_LE(p.queued_bytes(), 50'000u);
    now += 100;
  }
  // What did not fit was pushed out (older, less or equally urgent) or refused.
  EXPECT_GT(p.counters().evicted + p.counters().dropped, 1900u);
  // The survivors are the most urgent ones: level 0 keeps its newest packets.
  std::vector<UploadPacer::Packet> out;
  p.release_all(out);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front().peer % 3, 0u);
}

TEST(UploadPacer, AMoreUrgentPacketIsRefusedOnlyWhenNothingLessUrgentIsQueued) {
  UploadPacer p(8'000, 1000, 10'000, 3'000, 1'000'000'000);
  std::vector<UploadPacer::Packet> out;
  p.release(0, out);
  EXPECT_TRUE(p.enqueue(kUrgent, pkt(1, 1000), 0));
  EXPECT_TRUE(p.enqueue(kUrgent, pkt(2, 1000), 0));
  EXPECT_TRUE(p.enqueue(kUrgent, pkt(3, 1000), 0));
  EXPECT_TRUE(p.enqueue(kUrgent, pkt(4, 1000), 0));  // pushes out the oldest urgent one
  EXPECT_FALSE(p.enqueue(kBulk, pkt(5, 1000), 0));   // bulk never pushes out urgent
  EXPECT_LE(p.queued_bytes(), 3'000u);
}

TEST(UploadPacer, PacketsQueuedTooLongAreDroppedNotSent) {
  // 8 kbit/s = 1 byte per ms; 20 packets of 1,000 bytes need 20 s, the age bound is 2 s.
  UploadPacer p(8'000, 1000, 1 << 20, 1 << 20, 2'000'000);
  for (int i = 0; i < 20; ++i) p.enqueue(kUrgent, pkt(uint32_t(i), 1000), 0);
  std::vector<UploadPacer::Packet> out;
  for (int64_t t = 0; t <= 30'000'000 && p.queued_bytes() > 0; t += 10'000) p.release(t, out);
  EXPECT_EQ(p.queued_bytes(), 0u);
  EXPECT_LE(out.size(), 4u);  // what left within 2 s (plus the burst)
  EXPECT_EQ(out.size() + p.counters().evicted, 20u);
}

TEST(UploadPacer, KnowsWhichChunksHaveNotLeftYet) {
  // A partner NACKs a chunk the pacer still holds: the peer must see that it is queued (and
  // not send a second copy), and no longer once it left.
  UploadPacer p(8'000'000, 1000);
  auto chunk = [](uint32_t peer, uint8_t msg, uint8_t index) {
    UploadPacer::Packet c;
    c.peer = peer;
    c.bytes.assign(1000, 0);  // msg_id (u32) | index (u16) | count | data
    c.bytes[3] = msg;
    c.bytes[5] = index;
    return c;
  };
  p.enqueue(kUrgent, chunk(1, 7, 0), 0);
  p.enqueue(kUrgent, chunk(1, 7, 1), 0);
  std::vector<UploadPacer::Packet> out;
  p.release(0, out);
  ASSERT_EQ(out.size(), 1u);  // index 0 left in the burst, index 1 waits
  const std::vector<uint8_t> first = {0, 0, 0, 7, 0, 0}, second = {0, 0, 0, 7, 0, 1};
  EXPECT_FALSE(p.holds(1, first));
  EXPECT_TRUE(p.holds(1, second));
  EXPECT_FALSE(p.holds(2, second));  // another partner's copy is another packet
  UploadPacer::Packet ctl = chunk(3, 7, 1);
  ctl.kind = UploadPacer::Kind::kRtcp;  // control is never a chunk
  p.enqueue(kUrgent, std::move(ctl), 0);
  EXPECT_FALSE(p.holds(3, second));
  EXPECT_FALSE(p.holds(1, std::vector<uint8_t>(2000, 0)));  // longer than any packet
  p.release(10'000, out);
  EXPECT_FALSE(p.holds(1, second));
}
