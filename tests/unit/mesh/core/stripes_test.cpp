// Striping: a segment's K stripes cover its bytes exactly, carry its creation time under
// their own numbers, and join back into the same segment; stripes that do not belong
// together are refused.
#include "mesh/core/stripes.hpp"

#include <gtest/gtest.h>

using namespace meshcast::mesh;

namespace {

Segment make_segment(uint32_t number, uint32_t size) {
  Segment s;
  s.header.stream_id = 7;
  s.header.number = number;
  s.header.created_us = 123'456;
  s.header.size = size;
  auto p = std::make_shared<std::vector<uint8_t>>(size);
  for (uint32_t i = 0; i < size; ++i) (*p)[i] = uint8_t(i * 31 + 7);
  s.payload = std::move(p);
  return s;
}

}  // namespace

TEST(Stripes, SplitCoversTheBytesInBalancedStripesNumberedPerSegment) {
  const Segment seg = make_segment(10, 25'003);
  auto stripes = split_stripes(seg, 4);
  ASSERT_EQ(stripes.size(), 4u);
  std::vector<uint8_t> all;
  for (uint32_t j = 0; j < 4; ++j) {
    const Segment& u = stripes[j];
    EXPECT_EQ(u.header.number, 40u + j);
    EXPECT_EQ(segment_of_unit(u.header.number, 4), 10u);
    EXPECT_EQ(stripe_of_unit(u.header.number, 4), j);
    EXPECT_EQ(u.header.created_us, seg.header.created_us);
    EXPECT_EQ(u.header.stream_id, seg.header.stream_id);
    ASSERT_TRUE(u.payload);
    EXPECT_EQ(u.payload->size(), u.header.size);
    EXPECT_GE(u.header.size, 25'003u / 4);
    EXPECT_LE(u.header.size, 25'003u / 4 + 1);
    all.insert(all.end(), u.payload->begin(), u.payload->end());
  }
  EXPECT_EQ(all, *seg.payload);
}

TEST(Stripes, JoinRebuildsTheSegment) {
  Segment seg = make_segment(3, 1'001);
  auto stripes = split_stripes(seg, 3);
  stripes[1].header.hops = 4;
  stripes[2].header.hops = 2;
  auto back = join_stripes(stripes, 3);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->header.number, 3u);
  EXPECT_EQ(back->header.size, 1'001u);
  EXPECT_EQ(back->header.created_us, seg.header.created_us);
  EXPECT_EQ(back->header.hops, 4);  // the longest path
  EXPECT_EQ(*back->payload, *seg.payload);
}

TEST(Stripes, OneStripeIsTheWholeSegmentAndTinySegmentsGiveEmptyStripes) {
  const Segment seg = make_segment(9, 2);
  auto one = split_stripes(seg, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].header.number, 9u);
  EXPECT_EQ(*one[0].payload, *seg.payload);
  auto four = split_stripes(seg, 4);
  uint32_t total = 0;
  for (auto& u : four) total += u.header.size;
  EXPECT_EQ(total, 2u);
  auto back = join_stripes(four, 4);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back->payload, *seg.payload);
}

TEST(Stripes, SimulatorSegmentsWithoutPayloadKeepTheirSizes) {
  Segment seg = make_segment(1, 25'000);
  seg.payload.reset();
  auto stripes = split_stripes(seg, 4);
  for (auto& u : stripes) {
    EXPECT_FALSE(u.payload);
    EXPECT_EQ(u.header.size, 6'250u);
  }
  auto back = join_stripes(stripes, 4);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->header.size, 25'000u);
  EXPECT_FALSE(back->payload);
}

TEST(Stripes, JoinRefusesStripesThatDoNotBelongTogether) {
  const auto a = split_stripes(make_segment(5, 800), 4);
  auto b = split_stripes(make_segment(6, 800), 4);
  EXPECT_FALSE(join_stripes(std::span(a).first(3), 4));  // one missing
  EXPECT_FALSE(join_stripes(a, 3));                      // other K
  std::vector<Segment> mixed = {a[0], a[1], b[2], a[3]};
  EXPECT_FALSE(join_stripes(mixed, 4));  // another segment's stripe
  std::vector<Segment> order = {a[1], a[0], a[2], a[3]};
  EXPECT_FALSE(join_stripes(order, 4));  // out of order
  auto late = a;
  late[2].header.created_us += 1;
  EXPECT_FALSE(join_stripes(late, 4));  // another creation time
  auto short_payload = a;
  short_payload[3].header.size += 1;
  EXPECT_FALSE(join_stripes(short_payload, 4));  // header and payload disagree
  auto missing_payload = a;
  missing_payload[1].payload.reset();
  EXPECT_FALSE(join_stripes(missing_payload, 4));
  EXPECT_FALSE(join_stripes(std::span<const Segment>(), 4));
  EXPECT_FALSE(join_stripes(a, 0));
}
