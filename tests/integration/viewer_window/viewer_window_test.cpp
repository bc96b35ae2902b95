// The viewer's window, end to end with the meshcast binary: tracker, broadcaster and viewer
// processes on 127.0.0.1, a private Xvfb started (and always stopped) by the test, screen
// grabs through GStreamer's ximagesrc. Also: watch without a display, broadcast
// --video-size / --fps (validation, and the size kept in a recording), and A/V marks
// detected at the sinks (the offset figures are in docs/BENCHMARKS.md, not asserted here).
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <regex>

#include "media/common/gst_handle.hpp"
#include "media/common/gst_util.hpp"
#include "media/common/pipeline_runner.hpp"
#include "tests/integration/common/test_processes.hpp"
#include "tests/integration/viewer_window/av_sync.hpp"
#include "tests/integration/viewer_window/x11_close.hpp"

using namespace meshcast;
using namespace meshcast::testing;

namespace {

const char* kBin = MESHCAST_BIN;
constexpr int kScreenW = 1280, kScreenH = 800;  // the Xvfb screen

struct Shot {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // packed, width * 3 per row
};

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

// One frame of the X screen (RGB, whole screen), also written to png (if not empty;
// cropped to `crop` if that has a size).
std::optional<Shot> grab(const std::string& display, const fs::path& png, Rect crop = {}) {
  std::string d = "ximagesrc display-name=" + display +
                  " use-damage=false show-pointer=false num-buffers=1 ! videoconvert ! "
                  "tee name=t t. ! queue ! video/x-raw,format=RGB ! appsink name=s sync=false";
  if (!png.empty()) {
    d += " t. ! queue ! ";
    if (crop.w > 0 && crop.h > 0)  // the screen is kScreenW x kScreenH
      d += "videocrop left=" + std::to_string(crop.x) + " top=" + std::to_string(crop.y) +
           " right=" + std::to_string(std::max(0, kScreenW - crop.x - crop.w)) +
           " bottom=" + std::to_string(std::max(0, kScreenH - crop.y - crop.h)) + " ! ";
    d += "pngenc ! filesink location=\"" + png.string() + "\"";
  }
  media::GErrorPtr err;
  auto parsed =
      media::adopt_floating<media::GstElementPtr>(gst_parse_launch(d.c_str(), media::out_ptr(err)));
  if (!parsed) return std::nullopt;
  media::PipelineRunner p;  // NULL and released on every way out
  p.adopt(std::move(parsed));
  media::GstElementPtr sink = p.element("s");
  gst_element_set_state(p.pipeline(), GST_STATE_PLAYING);
  std::optional<Shot> out;
  if (media::GstSamplePtr s{
          gst_app_sink_try_pull_sample(GST_APP_SINK(sink.get()), 10 * GST_SECOND)}) {
    GstVideoInfo vi;
    GstBuffer* b = gst_sample_get_buffer(s.get());
    GstMapInfo m;
    if (gst_video_info_from_caps(&vi, gst_sample_get_caps(s.get())) &&
        gst_buffer_map(b, &m, GST_MAP_READ)) {
      Shot shot;
      shot.width = GST_VIDEO_INFO_WIDTH(&vi);
      shot.height = GST_VIDEO_INFO_HEIGHT(&vi);
      const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&vi, 0);
      for (int y = 0; y < shot.height; ++y)
        shot.rgb.insert(shot.rgb.end(), m.data + size_t(y) * stride,
                        m.data + size_t(y) * stride + size_t(shot.width) * 3);
      gst_buffer_unmap(b, &m);
      out = std::move(shot);
    }
  }
  // Let the PNG branch finish (EOS after num-buffers=1).
  media::GstBusPtr bus = media::element_bus(p.pipeline());
  media::GstMessagePtr msg(gst_bus_timed_pop_filtered(
      bus.get(), 5 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  return out;
}

// The window called `name`, from xwininfo (x11-utils); nullopt if there is none.
std::optional<Rect> find_window(const std::string& display, const std::string& name,
                                const fs::path& dir) {
  std::string out;
  if (run_command({"xwininfo", "-display", display, "-name", name}, dir / "xwininfo", &out) != 0)
    return std::nullopt;
  auto field = [&](const char* key) {
    std::smatch m;
    std::regex re(std::string(key) + R"(:\s+(-?\d+))");
    return std::regex_search(out, m, re) ? std::stoi(m[1]) : -1;
  };
  Rect r{field("Absolute upper-left X"), field("Absolute upper-left Y"), field("Width"),
         field("Height")};
  if (r.w <= 0 || r.h <= 0) return std::nullopt;
  return r;
}

// Pixels inside r brighter than black, and pixels that differ between two shots.
size_t lit_pixels(const Shot& s, const Rect& r) {
  size_t n = 0;
  for (int y = std::max(0, r.y); y < std::min(s.height, r.y + r.h); ++y)
    for (int x = std::max(0, r.x); x < std::min(s.width, r.x + r.w); ++x) {
      const uint8_t* p = &s.rgb[(size_t(y) * s.width + x) * 3];
      n += (p[0] + p[1] + p[2]) > 3 * 40;
    }
  return n;
}
size_t changed_pixels(const Shot& a, const Shot& b, const Rect& r) {
  size_t n = 0;
  for (int y = std::max(0, r.y); y < std::min(a.height, r.y + r.h); ++y)
    for (int x = std::max(0, r.x); x < std::min(a.width, r.x + r.w); ++x) {
      const size_t i = (size_t(y) * a.width + x) * 3;
      n += std::abs(a.rgb[i] - b.rgb[i]) + std::abs(a.rgb[i + 1] - b.rgb[i + 1]) +
               std::abs(a.rgb[i + 2] - b.rgb[i + 2]) >
           30;
    }
  return n;
}

class ViewerWindow : public ::testing::Test {
 protected:
  void SetUp() override {
    media::ensure_gst_init();
    dir_ = fs::temp_directory_path() /
           ("meshcast_window_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // Processes and Xvfb are stopped by their destructors (members of each test).
    if (!HasFailure())
      fs::remove_all(dir_);
    else
      std::printf("logs kept in %s\n", dir_.c_str());
  }

  // Tracker + broadcaster on 127.0.0.1; false if either does not come up.
  bool start_stream(Process& tracker, Process& broadcaster, const std::string& stream,
                    const std::vector<std::string>& extra) {
    port_ = free_port();
    url_ = "ws://127.0.0.1:" + std::to_string(port_) + "/ws";
    if (!tracker.start(
            {kBin, "tracker", "--listen", "127.0.0.1:" + std::to_string(port_), "--quiet"},
            dir_ / "tracker"))
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::vector<std::string> args{kBin,   "broadcast", "--tracker",       url_,       "--stream",
                                  stream, "--quiet",   "--local-address", "127.0.0.1"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!broadcaster.start(args, dir_ / "broadcaster")) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return tracker.running() && broadcaster.running();
  }

  fs::path dir_;
  uint16_t port_ = 0;
  std::string url_;
};

TEST_F(ViewerWindow, WatchShowsTheMovingPatternInAWindowAndExitsAtDuration) {
  Xvfb x;
  ASSERT_TRUE(x.start(dir_)) << x.log();
  Process tracker, broadcaster, watch;
  ASSERT_TRUE(start_stream(tracker, broadcaster, "window",
                           {"--video-size", "640x360", "--fps", "30", "--bitrate", "800"}))
      << broadcaster.err();
  ASSERT_TRUE(watch.start(
      {kBin, "watch", "--tracker", url_, "--stream", "window", "--out", "auto", "--duration", "12",
       "--quiet", "--log-level", "info", "--local-address", "127.0.0.1"},
      dir_ / "watch", {{"DISPLAY", x.display()}}, {"WAYLAND_DISPLAY"}));
  // The window is named after the stream.
  // (glimagesink's window exists at 1x1 until the first picture sizes it.)
  std::optional<Rect> win;
  for (int i = 0; i < 150 && !(win && win->w > 1) && watch.running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    win = find_window(x.display(), "meshcast: window", dir_);
  }
  ASSERT_TRUE(win) << "no window titled 'meshcast: window'\n" << watch.err();
  std::printf("window at %d,%d size %dx%d\n", win->x, win->y, win->w, win->h);
  EXPECT_EQ(win->w, 640);
  EXPECT_EQ(win->h, 360);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const char* keep = std::getenv("MESHCAST_SCREENSHOT");  // docs: where to keep the first grab
  auto a = grab(x.display(), keep ? fs::path(keep) : dir_ / "shot1.png", *win);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto b = grab(x.display(), dir_ / "shot2.png");
  ASSERT_TRUE(a && b);
  const size_t lit = lit_pixels(*a, *win), changed = changed_pixels(*a, *b, *win);
  std::printf("window pixels: %zu lit, %zu changed in 1 s (of %d)\n", lit, changed,
              win->w * win->h);
  EXPECT_GT(lit, 200u) << "the window is black";
  EXPECT_GT(changed, 200u) << "the picture does not move";
  auto st = watch.wait(25000);
  ASSERT_TRUE(st) << "watch did not stop at --duration";
  EXPECT_EQ(*st, 0) << watch.err();
}

TEST_F(ViewerWindow, ClosingTheWindowEndsWatchWithExitZero) {
  Xvfb x;
  ASSERT_TRUE(x.start(dir_)) << x.log();
  Process tracker, broadcaster, watch;
  ASSERT_TRUE(start_stream(tracker, broadcaster, "closing",
                           {"--video-size", "320x240", "--bitrate", "400"}))
      << broadcaster.err();
  ASSERT_TRUE(watch.start({kBin, "watch", "--tracker", url_, "--stream", "closing", "--out", "auto",
                           "--duration", "60", "--quiet", "--local-address", "127.0.0.1"},
                          dir_ / "watch", {{"DISPLAY", x.display()}}, {"WAYLAND_DISPLAY"}));
  bool found = false;
  for (int i = 0; i < 100 && !found && watch.running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    found = find_window(x.display(), "meshcast: closing", dir_).has_value();
  }
  ASSERT_TRUE(found) << watch.err();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(send_close_window(x.display(), "meshcast: closing"));
  auto st = watch.wait(15000);  // far below --duration 60
  ASSERT_TRUE(st) << "watch still running after the window was closed";
  EXPECT_EQ(*st, 0) << watch.err();
}

// demo --open takes the same window path (it crashed the same way before).
TEST_F(ViewerWindow, DemoOpenShowsTheFirstViewerInAWindow) {
  Xvfb x;
  ASSERT_TRUE(x.start(dir_)) << x.log();
  Process demo;
  ASSERT_TRUE(demo.start(
      {kBin, "demo", "--open", "--port", "0", "--viewers", "2", "--duration", "10", "--quiet"},
      dir_ / "demo", {{"DISPLAY", x.display()}}, {"WAYLAND_DISPLAY"}));
  std::optional<Rect> win;
  for (int i = 0; i < 150 && !(win && win->w > 1) && demo.running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    win = find_window(x.display(), "meshcast: demo", dir_);
  }
  ASSERT_TRUE(win && win->w > 1) << "no window titled 'meshcast: demo'\n" << demo.err();
  auto st = demo.wait(30000);
  ASSERT_TRUE(st) << "demo did not stop at --duration";
  EXPECT_EQ(*st, 0) << demo.err();
}

TEST_F(ViewerWindow, WithoutADisplayWatchSaysSoAndExitsSix) {
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/ws";
  {
    Process watch;
    ASSERT_TRUE(watch.start({kBin, "watch", "--tracker", url, "--stream", "s", "--out", "auto"},
                            dir_ / "nodisplay", {}, {"DISPLAY", "WAYLAND_DISPLAY"}));
    auto st = watch.wait(15000);
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 6);
    const std::string err = watch.err();
    EXPECT_NE(err.find("cannot open a video window"), std::string::npos) << err;
    EXPECT_NE(err.find("no display"), std::string::npos) << err;
    EXPECT_NE(err.find("--out null"), std::string::npos) << err;
  }
  {  // DISPLAY names a server that does not exist
    const int n = free_display_number(300);
    Process watch;
    ASSERT_TRUE(watch.start({kBin, "watch", "--tracker", url, "--stream", "s", "--out", "display"},
                            dir_ / "baddisplay", {{"DISPLAY", ":" + std::to_string(n)}},
                            {"WAYLAND_DISPLAY"}));
    auto st = watch.wait(15000);
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 6);
    EXPECT_NE(watch.err().find("cannot open a window on display :" + std::to_string(n)),
              std::string::npos)
        << watch.err();
  }
}

TEST_F(ViewerWindow, BroadcastRejectsBadVideoSizeAndFps) {
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/ws";
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--video-size", "0x0"},
                                              {"--video-size", "99999x1"},
                                              {"--video-size", "abc"},
                                              {"--video-size", "640x"},
                                              {"--video-size", "-640x360"},
                                              {"--video-size", "8x8"},
                                              {"--fps", "0"},
                                              {"--fps", "121"},
                                              {"--fps", "x"}}) {
    std::vector<std::string> args{kBin, "broadcast", "--tracker", url, "--stream", "s"};
    args.insert(args.end(), bad.begin(), bad.end());
    Process p;
    ASSERT_TRUE(p.start(args, dir_ / "bad"));
    auto st = p.wait(15000);
    ASSERT_TRUE(st) << bad[0] << " " << bad[1];
    EXPECT_EQ(*st, 2) << bad[0] << " " << bad[1];
    EXPECT_NE(p.err().find(bad[0]), std::string::npos) << p.err();
  }
}

struct VideoCaps {
  int width = 0, height = 0, fps_num = 0, fps_den = 0;
};
std::optional<VideoCaps> discover_video(const fs::path& file) {
  media::GErrorPtr err;
  media::GObjectPtr<GstDiscoverer> d(gst_discoverer_new(10 * GST_SECOND, media::out_ptr(err)));
  if (!d) return std::nullopt;
  media::GCharPtr uri(gst_filename_to_uri(file.c_str(), nullptr));
  media::GObjectPtr<GstDiscovererInfo> info(
      gst_discoverer_discover_uri(d.get(), uri.get(), media::out_ptr(err)));
  std::optional<VideoCaps> out;
  if (info) {
    GList* v = gst_discoverer_info_get_video_streams(info.get());
    if (v) {
      auto* vi = GST_DISCOVERER_VIDEO_INFO(v->data);
      out = VideoCaps{int(gst_discoverer_video_info_get_width(vi)),
                      int(gst_discoverer_video_info_get_height(vi)),
                      int(gst_discoverer_video_info_get_framerate_num(vi)),
                      int(gst_discoverer_video_info_get_framerate_denom(vi))};
    }
    gst_discoverer_stream_info_list_free(v);
  }
  return out;
}

// A 1280x720 30 fps file made here is broadcast without --video-size: the source's own size
// and rate go through; --video-size 320x240 --fps 15 is kept in the viewer's recording.
TEST_F(ViewerWindow, RecordingKeepsTheSourceSizeOrTheChosenOne) {
  const fs::path input = dir_ / "input.webm";
  std::string out;
  ASSERT_EQ(
      run_command({"gst-launch-1.0", "-q", "videotestsrc", "num-buffers=150", "pattern=ball", "!",
                   "video/x-raw,width=1280,height=720,framerate=30/1", "!", "vp8enc", "deadline=1",
                   "cpu-used=16", "!", "webmmux", "!", "filesink", "location=" + input.string()},
                  dir_ / "mkinput", &out, {}, 60000),
      0);
  struct Case {
    std::vector<std::string> args;
    int w, h, fps;
  };
  for (const Case& c :
       {Case{{"--video", "file:" + input.string(), "--audio", "none"}, 1280, 720, 30},
        Case{{"--video-size", "320x240", "--fps", "15"}, 320, 240, 15}}) {
    Process tracker, broadcaster, watch;
    ASSERT_TRUE(start_stream(tracker, broadcaster, "rec", c.args)) << broadcaster.err();
    const fs::path rec = dir_ / ("rec" + std::to_string(c.w) + ".webm");
    ASSERT_TRUE(
        watch.start({kBin, "watch", "--tracker", url_, "--stream", "rec", "--out", rec.string(),
                     "--duration", "3", "--quiet", "--local-address", "127.0.0.1"},
                    dir_ / "watch_rec"));
    auto st = watch.wait(20000);
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 0) << watch.err();
    auto caps = discover_video(rec);
    ASSERT_TRUE(caps) << "no video in " << rec;
    EXPECT_EQ(caps->width, c.w);
    EXPECT_EQ(caps->height, c.h);
    ASSERT_GT(caps->fps_den, 0);
    EXPECT_EQ(caps->fps_num / caps->fps_den, c.fps);
  }
}

// Flash and beep marks are both found at the sinks and paired; the offset figures go to
// docs/BENCHMARKS.md (tools: av_sync_bench), so nothing about their size is asserted.
TEST_F(ViewerWindow, AvMarksAreDetectedAtTheSinks) {
  Xvfb x;
  ASSERT_TRUE(x.start(dir_)) << x.log();
  g_setenv("DISPLAY", x.display().c_str(), TRUE);
  g_unsetenv("WAYLAND_DISPLAY");
  auto r = measure_av_sync(10, 320, 240, 30, 800);
  g_unsetenv("DISPLAY");
  ASSERT_EQ(r.error, "");
  std::printf("sink %s: %zu flashes, %zu beeps, %zu pairs:", r.video_sink.c_str(), r.flashes,
              r.beeps, r.offsets_ms.size());
  for (double o : r.offsets_ms) std::printf(" %.1f", o);
  std::printf(" ms\n");
  // A loaded machine may drop a flash frame (the live encoder queue is leaky): at least one
  // of each, and at least one pair with an offset.
  EXPECT_GE(r.flashes, 1u);
  EXPECT_GE(r.beeps, 1u);
  EXPECT_GE(r.offsets_ms.size(), 1u);
}

}  // namespace
