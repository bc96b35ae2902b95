// Tracker URLs as users type them, and the ones that must be refused clearly.
#include "apps/cli/tracker_url.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "apps/cli/args.hpp"

using meshcast::app::Args;
using meshcast::app::normalise_tracker_url;
using meshcast::app::parse_tracker_option;

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

// --tracker URL1,URL2: the instances of a tracker cluster, each normalised; one bad entry
// refuses the whole option.
TEST(TrackerUrl, AListNamesTheInstancesOfACluster) {
  auto parse = [](std::string value, std::string* err) {
    std::vector<std::string> argv_s = {"meshcast", "--tracker", std::move(value)};
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    Args a(static_cast<int>(argv.size()), argv.data(), {}, {"tracker"});
    std::string url;
    parse_tracker_option(a, &url, err);
    return url;
  };
  std::string err;
  EXPECT_EQ(parse("127.0.0.1:8701,ws://127.0.0.1:8702", &err),
            "ws://127.0.0.1:8701/ws,ws://127.0.0.1:8702/ws");
  EXPECT_TRUE(err.empty()) << err;
  EXPECT_EQ(parse("127.0.0.1:8701", &err), "ws://127.0.0.1:8701/ws");
  for (const char* bad : {"127.0.0.1:8701,ftp://x", "127.0.0.1:8701,", ",127.0.0.1:8701"}) {
    std::string e;
    parse(bad, &e);
    EXPECT_NE(e.find("bad tracker URL"), std::string::npos) << bad;
  }
}
