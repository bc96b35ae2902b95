// Tracker URLs as users type them, and the ones that must be refused clearly.
#include "apps/cli/tracker_url.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "apps/cli/args.hpp"

using meshcast::app::Args;
using meshcast::app::normalise_tracker_url;
using meshcast::app::parse_tracker_option;

TEST(TrackerUrl, AddsWhatUsersLeaveOut) {
  EXPECT_EQ(normalise_tracker_url("ws://127.0.0.1:8700"), "ws://127.0.0.1:8700/ws");
  EXPECT_EQ(normalise_tracker_url("ws://127.0.0.1:8700/"), "ws://127.0.0.1:8700/ws");
  EXPECT_EQ(normalise_tracker_url("127.0.0.1:8700"), "ws://127.0.0.1:8700/ws");
  EXPECT_EQ(normalise_tracker_url("http://host:8700"), "ws://host:8700/ws");
  EXPECT_EQ(normalise_tracker_url("HTTPS://host"), "wss://host/ws");
  EXPECT_EQ(normalise_tracker_url("wss://[::1]:8443/ws"), "wss://[::1]:8443/ws");
  EXPECT_EQ(normalise_tracker_url("ws://h:1/custom/path"), "ws://h:1/custom/path");
}

TEST(TrackerUrl, RefusesMalformedOnesWithAReason) {
  for (const char* bad :
       {"", "ftp://host:21", "ws://", "ws://:8700/ws", "ws://[bad", "ws://a b", "ws://host\n:1"}) {
    auto u = normalise_tracker_url(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_NE(u.error().find("bad tracker URL"), std::string::npos) << bad;
  }
  EXPECT_FALSE(normalise_tracker_url("ws://" + std::string(5000, 'a')));
}

// --tracker URL1,URL2: the instances of a tracker cluster, each normalised; one bad entry
// refuses the whole option.
TEST(TrackerUrl, AListNamesTheInstancesOfACluster) {
  auto parse = [](std::string value) {
    std::vector<std::string> argv_s = {"meshcast", "--tracker", std::move(value)};
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    Args a(static_cast<int>(argv.size()), argv.data(), {}, {"tracker"});
    return parse_tracker_option(a);
  };
  auto both = parse("127.0.0.1:8701,ws://127.0.0.1:8702");
  ASSERT_TRUE(both) << both.error();
  EXPECT_EQ(*both, "ws://127.0.0.1:8701/ws,ws://127.0.0.1:8702/ws");
  EXPECT_EQ(parse("127.0.0.1:8701"), "ws://127.0.0.1:8701/ws");
  for (const char* bad : {"127.0.0.1:8701,ftp://x", "127.0.0.1:8701,", ",127.0.0.1:8701"}) {
    auto u = parse(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_NE(u.error().find("bad tracker URL"), std::string::npos) << bad;
  }
}
