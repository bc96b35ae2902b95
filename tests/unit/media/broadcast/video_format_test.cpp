// broadcast --video-size parsing and the window sink list (no GStreamer pipeline needed).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "media/broadcast/broadcast_source.hpp"
#include "media/broadcast/frame_player.hpp"

namespace meshcast::media {
namespace {

TEST(VideoSize, AcceptsWxHWithinBounds) {
  EXPECT_EQ(parse_video_size("1280x720"), (std::pair{1280, 720}));
  EXPECT_EQ(parse_video_size("16x16"), (std::pair{16, 16}));
  EXPECT_EQ(parse_video_size("4096x4096"), (std::pair{4096, 4096}));
  EXPECT_EQ(parse_video_size("0640x0360"), (std::pair{640, 360}));
}

TEST(VideoSize, RejectsEverythingElse) {
  for (const char* bad :
       {"",         "x",         "0x0",        "99999x1",        "abc",
        "640",      "640x",      "x360",       "-640x360",       "640x-360",
        "+640x360", "640 x360",  "640x360 ",   "640X360",        "15x720",
        "4097x720", "1280x4097", "1280x720x3", "999999999999x1", "18446744073709551617x720",
        "1e3x720",  "0x10000"})
    EXPECT_FALSE(parse_video_size(bad).has_value()) << "'" << bad << "'";
}

TEST(WindowSinks, NeverAFramebufferSink) {
  for (const char* s : kWindowVideoSinks) {
    const std::string name = s;
    EXPECT_TRUE(name == "glimagesink" || name == "xvimagesink" || name == "ximagesink") << name;
  }
}

TEST(WindowSinks, NoDisplayIsSaidWithoutTryingAnySink) {
  const char* d = std::getenv("DISPLAY");
  const char* w = std::getenv("WAYLAND_DISPLAY");
  const std::string saved_d = d ? d : "", saved_w = w ? w : "";
  unsetenv("DISPLAY");
  unsetenv("WAYLAND_DISPLAY");
  auto sink = choose_video_sink();
  ASSERT_FALSE(sink) << *sink;
  EXPECT_NE(sink.error().find("no display"), std::string::npos) << sink.error();
  if (d) setenv("DISPLAY", saved_d.c_str(), 1);
  if (w) setenv("WAYLAND_DISPLAY", saved_w.c_str(), 1);
}

TEST(BroadcastSize, TestPatternDefaultsTo1280x720At30) {
  BroadcastConfig c;  // test pattern, nothing set
  BroadcastSource s(nullptr, c);
  EXPECT_EQ(s.header().width, 1280);
  EXPECT_EQ(s.header().height, 720);
  EXPECT_EQ(s.header().fps_num, 30);
  EXPECT_EQ(s.header().fps_den, 1);
  BroadcastConfig d;
  d.width = 320;
  d.height = 240;  // fps still the pattern's own
  BroadcastSource t(nullptr, d);
  EXPECT_EQ(t.header().width, 320);
  EXPECT_EQ(t.header().height, 240);
  EXPECT_EQ(t.header().fps_num, 30);
}

}  // namespace
}  // namespace meshcast::media
