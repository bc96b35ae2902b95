#include "media/common/main_context_queue.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace meshcast::media;

TEST(MainContextQueue, RunsPostedWorkInOrderOnTheContext) {
  GMainContext* ctx = g_main_context_new();
  std::vector<int> got;
  {
    MainContextQueue q(ctx);
    std::thread t([&] {
      for (int i = 0; i < 100; ++i) q.post([&got, i] { got.push_back(i); });
    });
    t.join();
    while (g_main_context_iteration(ctx, FALSE)) {
    }
  }
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
  g_main_context_unref(ctx);
}

TEST(MainContextQueue, ClosedQueueDropsPendingWork) {
  GMainContext* ctx = g_main_context_new();
  int ran = 0;
  {
    MainContextQueue q(ctx);
    q.post([&] { ++ran; });
  }  // destroyed before the context ran
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  EXPECT_EQ(ran, 0);
  g_main_context_unref(ctx);
}
