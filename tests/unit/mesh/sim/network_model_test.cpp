// The simulator's network model on one uploader: latency from coordinates, FIFO within a
// priority level, urgent levels ahead of queued bulk work, upload spent on lost receivers.
#include "mesh/sim/network_model.hpp"

#include <gtest/gtest.h>

using namespace meshcast::mesh;
using namespace meshcast::mesh::sim;

namespace {

SimConfig net_config() {
  SimConfig c;
  c.rtt_min_ms = 20;
  c.rtt_max_ms = 200;
  c.loss = 0;
  return c;
}

Message segment(uint32_t n, uint32_t bytes) {
  SegmentMsg m;
  m.segment.header.number = n;
  m.segment.header.size = bytes;
  return m;
}

SimPeer uploader(uint64_t bps) {
  SimPeer p;
  p.id = 1;
  p.upload_bps = bps;
  return p;
}

}  // namespace

TEST(NetworkModel, LatencyGrowsFromHalfTheMinimumToHalfTheMaximumRtt) {
  const SimConfig c = net_config();
  NetworkModel net(c);
  const IdInfo a{0, 0, 0, true}, same{1, 0, 0, true}, far{2, 1, 1, true};
  EXPECT_EQ(net.latency(a, same), 10'000);
  EXPECT_EQ(net.latency(a, far), 100'000);
  EXPECT_EQ(net.max_latency(), 100'000);
}

TEST(NetworkModel, SendsOfOneLevelQueueBehindEachOther) {
  const SimConfig c = net_config();
  NetworkModel net(c);
  SimPeer p = uploader(8'000'000);  // 1 MB/s: 1 byte per microsecond
  const IdInfo self{1, 0, 0, true}, dst{2, 0, 0, true};
  LinkLoss loss;
  Metrics m;
  const auto first = net.send(p, self, &dst, segment(1, 50'000), 5, 0, loss, m);
  const auto second = net.send(p, self, &dst, segment(2, 50'000), 5, 0, loss, m);
  ASSERT_TRUE(first.delivered && second.delivered);
  EXPECT_GT(first.at, 50'000 + 10'000);  // serialised (plus framing), then one latency
  EXPECT_GE(second.at - first.at, 50'000);
  EXPECT_EQ(m.media_sends, 2u);
  EXPECT_GT(m.send_queue_us, 0);  // the second waited
}

TEST(NetworkModel, UrgentSendOvertakesQueuedBulkWorkAndDelaysTheNextBulkSend) {
  const SimConfig c = net_config();
  NetworkModel net(c);
  SimPeer p = uploader(8'000'000);
  const IdInfo self{1, 0, 0, true}, dst{2, 0, 0, true};
  LinkLoss loss;
  Metrics m;
  const auto bulk = net.send(p, self, &dst, segment(1, 200'000), kBulkPriority, 0, loss, m);
  const auto urgent = net.send(p, self, &dst, Request{1, 1}, 0, 0, loss, m);
  const auto bulk2 = net.send(p, self, &dst, segment(2, 1'000), kBulkPriority, 0, loss, m);
  ASSERT_TRUE(bulk.delivered && urgent.delivered && bulk2.delivered);
  EXPECT_LT(urgent.at, 10'000 + 1'000);  // a few bytes, not behind 200 kB
  EXPECT_GT(bulk2.at, bulk.at);          // behind the first bulk send and the urgent one
}

TEST(NetworkModel, ASendToAGoneReceiverStillUsesTheUpload) {
  const SimConfig c = net_config();
  NetworkModel net(c);
  const IdInfo self{1, 0, 0, true}, dst{2, 0, 0, true};
  LinkLoss loss;
  Metrics m;
  SimPeer idle = uploader(8'000'000), busy = uploader(8'000'000);
  const auto lost = net.send(busy, self, nullptr, segment(1, 100'000), 5, 0, loss, m);
  EXPECT_FALSE(lost.delivered);
  const auto after = net.send(busy, self, &dst, segment(2, 1'000), 5, 0, loss, m);
  const auto alone = net.send(idle, self, &dst, segment(2, 1'000), 5, 0, loss, m);
  EXPECT_GE(after.at - alone.at, 100'000);
}

TEST(LinkLoss, NoLossDeliversEverythingAndTotalLossRepairsOrLoses) {
  LinkLoss none(1, 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(none.draw(40, true), 0);
  LinkLoss all(1, 1.0);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(all.draw(1, false), LinkLoss::kLost);  // control is never repaired
    EXPECT_EQ(all.draw(40, true), LinkLoss::kLost);  // every resend lost too: gives up
  }
  LinkLoss some(7, 0.1);
  int repaired = 0, clean = 0;
  for (int i = 0; i < 1000; ++i) {
    const int r = some.draw(10, true);
    ASSERT_GE(r, LinkLoss::kLost);
    ASSERT_LE(r, 3);
    repaired += r > 0, clean += r == 0;
  }
  // P(10 packets intact) = 0.9^10 = 0.35; almost all the rest is repaired.
  EXPECT_GT(clean, 0);
  EXPECT_GT(repaired, clean);
}
