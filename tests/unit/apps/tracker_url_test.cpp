// Tracker URLs as users type them, and the ones that must be refused clearly.
#include "apps/cli/tracker_url.hpp"

#include <gtest/gtest.h>

using meshcast::app::normalise_tracker_url;

TEST(TrackerUrl, AddsWhatUsersLeaveOut) {
  std::string err;
  EXPECT_EQ(normalise_tracker_url("ws://127.0.0.1:8700", &err), "ws://127.0.0.1:8700/ws");
  EXPECT_EQ(normalise_tracker_url("ws://127.0.0.1:8700/", &err), "ws://127.0.0.1:8700/ws");
  EXPECT_EQ(normalise_tracker_url("127.0.0.1:8700", &err), "ws://127.0.0.1:8700/ws");
  EXPECT_EQ(normalise_tracker_url("http://host:8700", &err), "ws://host:8700/ws");
  EXPECT_EQ(normalise_tracker_url("HTTPS://host", &err), "wss://host/ws");
  EXPECT_EQ(normalise_tracker_url("wss://[::1]:8443/ws", &err), "wss://[::1]:8443/ws");
  EXPECT_EQ(normalise_tracker_url("ws://h:1/custom/path", &err), "ws://h:1/custom/path");
}

TEST(TrackerUrl, RefusesMalformedOnesWithAReason) {
  for (const char* bad :
       {"", "ftp://host:21", "ws://", "ws://:8700/ws", "ws://[bad", "ws://a b", "ws://host\n:1"}) {
    std::string err;
    EXPECT_FALSE(normalise_tracker_url(bad, &err)) << bad;
    EXPECT_NE(err.find("bad tracker URL"), std::string::npos) << bad;
  }
  std::string err;
  EXPECT_FALSE(normalise_tracker_url("ws://" + std::string(5000, 'a'), &err));
}
