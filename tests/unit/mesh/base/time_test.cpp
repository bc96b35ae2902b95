#include "mesh/base/time.hpp"

#include <glib.h>
#include <gtest/gtest.h>

using namespace meshcast;

TEST(Time, ConversionsRoundTowardZero) {
  EXPECT_EQ(ms_to_us(3), 3000);
  EXPECT_EQ(us_to_ms(3999), 3);
  EXPECT_EQ(us_to_ms(-1500), -1);
}

TEST(Time, MonotonicIsGlibsClock) {
  // Shells mix these readings with GLib's (timers, libnice): they must be one clock.
  const TimeUs a = g_get_monotonic_time();
  const TimeUs b = monotonic_us();
  const TimeUs c = g_get_monotonic_time();
  EXPECT_LE(a, b);
  EXPECT_LE(b, c);
  EXPECT_LE(monotonic_ms(), us_to_ms(monotonic_us()));
}

// A GLib timer for a deadline: whole ms rounded up, so it never fires early; 0 once passed.
TEST(Time, MsUntilRoundsUpAndStopsAtZero) {
  EXPECT_EQ(meshcast::ms_until(5'000, 5'000), 0);
  EXPECT_EQ(meshcast::ms_until(5'001, 5'000), 1);
  EXPECT_EQ(meshcast::ms_until(6'000, 5'000), 1);
  EXPECT_EQ(meshcast::ms_until(6'001, 5'000), 2);
  EXPECT_EQ(meshcast::ms_until(1'000, 5'000), 0);
}
