#include "mesh/sim/event_queue.hpp"

#include <gtest/gtest.h>

#include <queue>
#include <random>
#include <vector>

namespace meshcast::mesh::sim {
namespace {

struct Later {
  bool operator()(const Event& x, const Event& y) const {
    return x.t != y.t ? x.t > y.t : x.seq > y.seq;
  }
};

// Pops must come in exact (time, seq) order whatever mix of pushes happens: into the
// current bucket after it was sorted, into the ring, beyond the ring.
TEST(EventQueue, PopsInExactTimeThenSequenceOrder) {
  std::mt19937_64 rng(7);
  EventQueue q;
  std::priority_queue<Event, std::vector<Event>, Later> ref;
  uint64_t seq = 0;
  auto push = [&](TimeUs t) {
    const Event e{t, seq++, uint32_t(seq), 0, 0, 0};
    q.push(e);
    ref.push(e);
  };
  for (int i = 0; i < 2000; ++i) push(TimeUs(rng() % 5'000'000));
  TimeUs now = 0;
  size_t popped = 0;
  while (!ref.empty()) {
    ASSERT_FALSE(q.empty());
    ASSERT_EQ(q.size(), ref.size());
    const Event got = q.top();
    const Event want = ref.top();
    ASSERT_EQ(got.t, want.t);
    ASSERT_EQ(got.seq, want.seq);
    ASSERT_GE(got.t, now);
    now = got.t;
    q.pop();
    ref.pop();
    ++popped;
    // Like the simulator: handling an event schedules new ones at or after now, some in
    // the same millisecond, some at the same instant, some seconds ahead.
    if (popped < 20'000) {
      const int k = int(rng() % 3);
      for (int j = 0; j < k; ++j) {
        switch (rng() % 4) {
          case 0:
            push(now);
            break;
          case 1:
            push(now + TimeUs(rng() % 1000));
            break;
          case 2:
            push(now + TimeUs(rng() % 300'000));
            break;
          default:
            push(now + TimeUs(rng() % 6'000'000));
            break;
        }
      }
    }
  }
  EXPECT_TRUE(q.empty());
  EXPECT_GT(popped, 20'000u);
}

TEST(EventQueue, PeekShowsTheEventsThatComeNext) {
  EventQueue q;
  for (uint64_t i = 0; i < 10; ++i)
    q.push(Event{TimeUs(5000 + 10 * (9 - i)), i, uint32_t(i), 0, 0, 0});
  q.top();
  for (size_t i = 0; i < 10; ++i) {
    const Event* e = q.peek(i);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->a, 9 - i);
  }
  EXPECT_EQ(q.peek(10), nullptr);
  q.pop();
  ASSERT_NE(q.peek(0), nullptr);
  EXPECT_EQ(q.peek(0)->a, 8u);
}

}  // namespace
}  // namespace meshcast::mesh::sim
