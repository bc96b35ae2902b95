#include "media/common/main_context_queue.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "media/common/glib_handle.hpp"

using namespace meshcast::media;

TEST(MainContextQueue, RunsPostedWorkInOrderOnTheContext) {
  GMainContextPtr own(g_main_context_new());
  GMainContext* ctx = own.get();
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
}

TEST(MainContextQueue, ClosedQueueDropsPendingWork) {
  GMainContextPtr own(g_main_context_new());
  GMainContext* ctx = own.get();
  int ran = 0;
  {
    MainContextQueue q(ctx);
    q.post([&] { ++ran; });
  }  // destroyed before the context ran
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  EXPECT_EQ(ran, 0);
}
