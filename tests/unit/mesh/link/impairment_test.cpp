#include "mesh/link/impairment.hpp"

#include <gtest/gtest.h>

using namespace meshcast::link;
using Packet = ImpairmentStage::Packet;

namespace {
Packet make(uint8_t id, size_t n = 100) {
  Packet p(n, 0);
  p[0] = id;
  return p;
}
}  // namespace

TEST(Impairment, OffPassesEverythingThrough) {
  ImpairmentStage st;
  std::vector<Packet> out;
  for (int i = 0; i < 100; ++i) st.push(make(static_cast<uint8_t>(i)), true, 0, out);
  ASSERT_EQ(out.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i][0], i);
  EXPECT_FALSE(st.active());
}

TEST(Impairment, DropRateIsRoughlyTheProbabilityAndSeeded) {
  auto run = [](uint64_t seed) {
    ImpairmentStage st;
    Impairment imp;
    imp.drop = 0.1;
    imp.seed = seed;
    st.set(imp);
    std::vector<Packet> out;
    for (int i = 0; i < 10000; ++i) st.push(make(1), true, 0, out);
    EXPECT_EQ(out.size() + st.counters().dropped, 10000u);
    return out.size();
  };
  size_t a = run(5), b = run(5);
  EXPECT_EQ(a, b);  // deterministic
  EXPECT_GT(a, 8800u);
  EXPECT_LT(a, 9200u);
}

TEST(Impairment, DelayHoldsPacketsUntilDue) {
  ImpairmentStage st;
  Impairment imp;
  imp.delay_ms = 10;
  st.set(imp);
  std::vector<Packet> out;
  st.push(make(1), true, 1000, out);
  st.push(make(2), true, 2000, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(st.next_due_us(), 11000);
  st.pop_due(10999, out);
  EXPECT_TRUE(out.empty());
  st.pop_due(11000, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][0], 1);
  st.pop_due(100000, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1][0], 2);
  EXPECT_EQ(st.next_due_us(), -1);
}

TEST(Impairment, ReorderLetsLaterPacketsOvertake) {
  ImpairmentStage st;
  Impairment imp;
  imp.reorder = 0.3;
  imp.seed = 3;
  st.set(imp);
  std::vector<Packet> out;
  for (int i = 0; i < 100; ++i) st.push(make(static_cast<uint8_t>(i)), true, i * 1000, out);
  st.pop_due(1'000'000'000, out);
  ASSERT_EQ(out.size(), 100u);
  bool overtaken = false;
  for (size_t i = 1; i < out.size(); ++i) overtaken |= out[i][0] < out[i - 1][0];
  EXPECT_TRUE(overtaken);
}

TEST(Impairment, CorruptFlipsExactlyOneByteAfterTheHeader) {
  ImpairmentStage st;
  Impairment imp;
  imp.corrupt = 1.0;
  st.set(imp);
  for (int i = 0; i < 200; ++i) {
    std::vector<Packet> out;
    Packet orig = make(7, 13 + i % 50);
    st.push(orig, true, 0, out);
    ASSERT_EQ(out.size(), 1u);
    int diffs = 0;
    for (size_t k = 0; k < orig.size(); ++k) {
      if (orig[k] != out[0][k]) {
        ++diffs;
        EXPECT_GE(k, 12u);
      }
    }
    EXPECT_EQ(diffs, 1);
  }
  std::vector<Packet> out;
  st.push(make(9), false, 0, out);  // may_corrupt = false: untouched
  EXPECT_EQ(out[0], make(9));
}

TEST(Impairment, DuplicateDeliversTwice) {
  ImpairmentStage st;
  Impairment imp;
  imp.duplicate = 1.0;
  st.set(imp);
  std::vector<Packet> out;
  st.push(make(4), true, 0, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(st.counters().duplicated, 1u);
}

TEST(Impairment, QueueIsBounded) {
  ImpairmentStage st(10);
  Impairment imp;
  imp.delay_ms = 100;
  st.set(imp);
  std::vector<Packet> out;
  for (int i = 0; i < 50; ++i) st.push(make(1), true, 0, out);
  EXPECT_EQ(st.queued(), 10u);
  EXPECT_EQ(st.counters().overflow, 40u);
}
