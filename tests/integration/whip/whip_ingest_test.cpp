// WHIP ingest end to end with real processes: a standard WebRTC publisher (webrtcbin +
// x264enc, offering like OBS) -> `meshcast broadcast --whip-listen` -> mesh -> a viewer
// recording Matroska; the recording is checked with GstDiscoverer (codec, size, duration).
// And the endpoint as an attacker sees it: wrong token, garbage, no usable codec, oversized
// bodies, unknown resources, a second publisher, a burst of POSTs, with the broadcaster's
// memory and liveness checked afterwards.
#include <gst/pbutils/pbutils.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "media/common/gst_util.hpp"
#include "tests/integration/common/test_processes.hpp"
#include "tests/integration/whip/whip_publisher.hpp"

namespace fs = std::filesystem;
using namespace meshcast;

namespace {

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

bool wait_for(const std::function<bool()>& done, int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct Probe {
  bool ok = false;
  std::string error, video_caps;
  int width = 0, height = 0, audio_streams = 0;
  double seconds = 0;
};

Probe probe(const fs::path& file) {
  Probe out;
  GError* err = nullptr;
  GstDiscoverer* disc = gst_discoverer_new(10 * GST_SECOND, &err);
  if (!disc) {
    out.error = err ? err->message : "no discoverer";
    g_clear_error(&err);
    return out;
  }
  gchar* uri = gst_filename_to_uri(file.c_str(), nullptr);
  GstDiscovererInfo* info = gst_discoverer_discover_uri(disc, uri, &err);
  g_free(uri);
  if (info && gst_discoverer_info_get_result(info) == GST_DISCOVERER_OK) {
    out.ok = true;
    GList* v = gst_discoverer_info_get_video_streams(info);
    GList* a = gst_discoverer_info_get_audio_streams(info);
    out.audio_streams = int(g_list_length(a));
    if (v) {
      auto* vi = GST_DISCOVERER_VIDEO_INFO(v->data);
      out.width = int(gst_discoverer_video_info_get_width(vi));
      out.height = int(gst_discoverer_video_info_get_height(vi));
      GstCaps* caps = gst_discoverer_stream_info_get_caps(GST_DISCOVERER_STREAM_INFO(vi));
      if (caps) {
        out.video_caps = gst_structure_get_name(gst_caps_get_structure(caps, 0));
        gst_caps_unref(caps);
      }
    }
    gst_discoverer_stream_info_list_free(v);
    gst_discoverer_stream_info_list_free(a);
    out.seconds = double(gst_discoverer_info_get_duration(info)) / 1e9;
  } else {
    out.error = err ? err->message : "discoverer result not OK";
  }
  g_clear_error(&err);
  if (info) g_object_unref(info);
  g_object_unref(disc);
  return out;
}

class WhipIngest : public ::testing::Test {
 protected:
  void SetUp() override {
    media::ensure_gst_init();
    dir_ = fs::temp_directory_path() /
           ("meshcast-whip-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string tport = std::to_string(meshcast::testing::free_port());
    tracker_url_ = "ws://127.0.0.1:" + tport + "/ws";
    ASSERT_TRUE(tracker_.start(
        {MESHCAST_EXE, "tracker", "--listen", "127.0.0.1:" + tport, "--quiet"}, dir_ / "tracker"));
    whip_port_ = meshcast::testing::free_port();
    whip_url_ = "http://127.0.0.1:" + std::to_string(whip_port_) + "/whip";
  }
  void TearDown() override {
    for (auto* p : {&viewer_b_, &viewer_a_, &broadcaster_, &tracker_}) p->stop();
    if (!HasFailure()) fs::remove_all(dir_);
  }
  void start_broadcaster(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {MESHCAST_EXE,
                                     "broadcast",
                                     "--tracker",
                                     tracker_url_,
                                     "--stream",
                                     "whip",
                                     "--quiet",
                                     "--whip-listen",
                                     "127.0.0.1:" + std::to_string(whip_port_),
                                     "--whip-token",
                                     "t0ken",
                                     "--duration",
                                     "60"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(broadcaster_.start(args, dir_ / "broadcaster"));
    // Listening once the stream is live at the tracker.
    ASSERT_TRUE(wait_for(
        [&] { return test::http_request("OPTIONS", whip_url_, "", "").status == 204; }, 15000))
        << broadcaster_.err();
  }

  fs::path dir_;
  std::string tracker_url_, whip_url_;
  uint16_t whip_port_ = 0;
  meshcast::testing::Process tracker_, broadcaster_, viewer_a_, viewer_b_;
};

TEST_F(WhipIngest, H264PublisherIsRecordedByAViewerWithItsCodecAndSize) {
  if (!gst_element_factory_find("x264enc"))
    GTEST_SKIP() << "x264enc missing (gstreamer1.0-plugins-ugly)";
  start_broadcaster();
  test::WhipPublisher pub;
  ASSERT_EQ(pub.start(whip_url_, "t0ken", test::WhipPublisher::Video::H264, 320, 240, 15), "")
      << broadcaster_.err();
  EXPECT_NE(pub.answer().find("a=recvonly"), std::string::npos) << pub.answer();
  EXPECT_EQ(pub.answer().find("a=inactive"), std::string::npos) << pub.answer();
  EXPECT_NE(pub.answer().find("H264"), std::string::npos) << pub.answer();
  EXPECT_EQ(pub.resource().rfind("/whip/", 0), 0u) << pub.resource();
  const fs::path out = dir_ / "rec.mkv";
  ASSERT_TRUE(viewer_a_.start({MESHCAST_EXE, "watch", "--tracker", tracker_url_, "--stream", "whip",
                               "--quiet", "--out", out.string(), "--duration", "8"},
                              dir_ / "viewer"));
  auto rc = viewer_a_.wait(30000);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << viewer_a_.err();
  auto p = probe(out);
  ASSERT_TRUE(p.ok) << p.error << "\n" << viewer_a_.err() << broadcaster_.err();
  EXPECT_EQ(p.video_caps, "video/x-h264");
  EXPECT_EQ(p.width, 320);
  EXPECT_EQ(p.height, 240);
  EXPECT_EQ(p.audio_streams, 1);
  // 8 s of watching minus joining: most of it recorded.
  EXPECT_GT(p.seconds, 4.0);
  EXPECT_LT(p.seconds, 9.0);
  // DELETE ends the session; the resource is gone afterwards.
  auto del = test::http_request(
      "DELETE", "http://127.0.0.1:" + std::to_string(whip_port_) + pub.resource(), "", "", "t0ken");
  EXPECT_EQ(del.status, 200);
  auto again = test::http_request(
      "DELETE", "http://127.0.0.1:" + std::to_string(whip_port_) + pub.resource(), "", "", "t0ken");
  EXPECT_EQ(again.status, 404);
}

TEST_F(WhipIngest, TranscodeTurnsAnH264PublisherIntoVp8AtTheAskedSize) {
  if (!gst_element_factory_find("x264enc")) GTEST_SKIP() << "x264enc missing";
  start_broadcaster({"--transcode", "--video-size", "160x120", "--fps", "15", "--bitrate", "400"});
  test::WhipPublisher pub;
  ASSERT_EQ(pub.start(whip_url_, "t0ken", test::WhipPublisher::Video::H264, 320, 240, 15), "")
      << broadcaster_.err();
  const fs::path out = dir_ / "rec.webm";
  ASSERT_TRUE(viewer_a_.start({MESHCAST_EXE, "watch", "--tracker", tracker_url_, "--stream", "whip",
                               "--quiet", "--out", out.string(), "--duration", "6"},
                              dir_ / "viewer"));
  auto rc = viewer_a_.wait(30000);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << viewer_a_.err();
  auto p = probe(out);
  ASSERT_TRUE(p.ok) << p.error << "\n" << viewer_a_.err() << broadcaster_.err();
  EXPECT_EQ(p.video_caps, "video/x-vp8");
  EXPECT_EQ(p.width, 160);
  EXPECT_EQ(p.height, 120);
  EXPECT_EQ(p.audio_streams, 1);
  EXPECT_GT(p.seconds, 2.5);
}

TEST_F(WhipIngest, BadRequestsGetTheirStatusAndLeaveTheBroadcastAlone) {
  start_broadcaster();
  const std::string sdp = "application/sdp";
  EXPECT_EQ(test::http_request("POST", whip_url_, sdp, "v=0\r\n", "").status, 401);
  EXPECT_EQ(test::http_request("POST", whip_url_, sdp, "v=0\r\n", "wrong").status, 401);
  EXPECT_EQ(test::http_request("POST", whip_url_, sdp, "garbage\x01\x02", "t0ken").status, 400);
  EXPECT_EQ(test::http_request("POST", whip_url_, "text/plain", "v=0\r\n", "t0ken").status, 415);
  EXPECT_EQ(
      test::http_request("POST", whip_url_, sdp, std::string(100 * 1024, 'a'), "t0ken").status,
      413);
  // A valid WebRTC offer whose only codec is PCMU.
  const std::string pcmu =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
      "a=fingerprint:sha-256 "
      "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:"
      "88:99\r\na=setup:actpass\r\na=rtpmap:0 PCMU/8000\r\n";
  auto r = test::http_request("POST", whip_url_, sdp, pcmu, "t0ken");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("codec"), std::string::npos) << r.body;
  EXPECT_EQ(test::http_request("DELETE", whip_url_ + "/nosuch", "", "", "t0ken").status, 404);
  EXPECT_EQ(test::http_request("PATCH", whip_url_ + "/nosuch", "application/trickle-ice-sdpfrag",
                               "a=ice-ufrag:x\r\n", "t0ken")
                .status,
            404);
  EXPECT_EQ(test::http_request("GET", whip_url_, "", "", "t0ken").status, 405);

  const long rss_before = rss_kb(broadcaster_.pid());
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(test::http_request("POST", whip_url_, sdp, "v=0\r\nm=bogus\r\n", "t0ken").status,
              400);
  const long rss_after = rss_kb(broadcaster_.pid());
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << rss_before << " -> " << rss_after << " kB";

  // A real publisher still gets in, and a second one is refused while it is live.
  test::WhipPublisher first;
  ASSERT_EQ(first.start(whip_url_, "t0ken", test::WhipPublisher::Video::VP8), "")
      << broadcaster_.err();
  test::WhipPublisher second;
  EXPECT_NE(second.start(whip_url_, "t0ken", test::WhipPublisher::Video::VP8), "");
  EXPECT_EQ(second.status(), 409);
  EXPECT_TRUE(broadcaster_.running()) << broadcaster_.err();
}

}  // namespace

namespace {

std::string recvonly(std::string sdp) {
  for (size_t at; (at = sdp.find("a=sendonly")) != std::string::npos;)
    sdp.replace(at, 10, "a=recvonly");
  return sdp;
}

TEST_F(WhipIngest, WhepEndpointServesThePlayerAndRefusesWhatItCannotServe) {
  start_broadcaster();
  test::WhipPublisher pub;
  ASSERT_EQ(pub.start(whip_url_, "t0ken", test::WhipPublisher::Video::VP8), "")
      << broadcaster_.err();
  const uint16_t port = meshcast::testing::free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(viewer_a_.start(
      {MESHCAST_EXE, "watch", "--tracker", tracker_url_, "--stream", "whip", "--quiet",
       "--whep-listen", "127.0.0.1:" + std::to_string(port), "--whep-token", "w", "--duration",
       "60", "--stats", (dir_ / "viewer.jsonl").string()},
      dir_ / "viewer"));
  ASSERT_TRUE(
      wait_for([&] { return test::http_request("GET", base + "/", "", "").status == 200; }, 15000))
      << viewer_a_.err();
  auto page = test::http_request("GET", base + "/", "", "");
  EXPECT_NE(page.body.find("/player.js"), std::string::npos);
  auto js = test::http_request("GET", base + "/player.js", "", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.body.find("async function meshcastWhep("), std::string::npos);
  const std::string offer = recvonly(pub.offer());
  EXPECT_EQ(test::http_request("POST", base + "/whep", "application/sdp", offer, "bad").status,
            401);
  // Once this viewer plays, a recvonly offer gets its answer; a sendonly one cannot play.
  ASSERT_TRUE(wait_for(
      [&] {
        return test::http_request("POST", base + "/whep", "application/sdp", pub.offer(), "w")
                   .status == 400;
      },
      20000))
      << viewer_a_.err();
  auto ok = test::http_request("POST", base + "/whep", "application/sdp", offer, "w");
  ASSERT_EQ(ok.status, 201) << ok.body << viewer_a_.err();
  EXPECT_NE(ok.body.find("a=sendonly"), std::string::npos) << ok.body;
  EXPECT_NE(ok.body.find("VP8"), std::string::npos) << ok.body;
  EXPECT_EQ(ok.location.rfind("/whep/", 0), 0u) << ok.location;
  // Trickle (RFC 8840 fragments): candidates 204, an ICE restart 422, wrong type 415.
  std::string ufrag;
  if (auto at = offer.find("a=ice-ufrag:"); at != std::string::npos)
    ufrag = offer.substr(at + 12, offer.find_first_of("\r\n", at) - at - 12);
  const std::string frag = "a=ice-ufrag:" + ufrag +
                           "\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=audio 9 "
                           "UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 "
                           "127.0.0.1 40000 typ host\r\n";
  const std::string trickle = "application/trickle-ice-sdpfrag";
  EXPECT_EQ(test::http_request("PATCH", base + ok.location, trickle, frag, "w").status, 204);
  std::string restart = frag;
  restart.replace(restart.find(ufrag), ufrag.size(), "zzzz");
  EXPECT_EQ(test::http_request("PATCH", base + ok.location, trickle, restart, "w").status, 422);
  EXPECT_EQ(test::http_request("PATCH", base + ok.location, "application/sdp", frag, "w").status,
            415);
  EXPECT_EQ(test::http_request("PATCH", base + ok.location, trickle, "garbage", "w").status, 400);
  EXPECT_EQ(test::http_request("DELETE", base + ok.location, "", "", "w").status, 200);
  EXPECT_EQ(test::http_request("DELETE", base + ok.location, "", "", "w").status, 404);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(test::http_request("POST", base + "/whep", "application/sdp", "v=0\r\n", "w").status,
              400);
  EXPECT_TRUE(viewer_a_.running()) << viewer_a_.err();
  EXPECT_TRUE(broadcaster_.running()) << broadcaster_.err();
}

TEST(WhipWhepOptions, BadListenAddressesAreUsageErrors) {
  meshcast::testing::Process p;
  const auto dir = fs::temp_directory_path() / ("meshcast-whip-opts-" + std::to_string(getpid()));
  fs::create_directories(dir);
  for (auto args : std::vector<std::vector<std::string>>{
           {MESHCAST_EXE, "broadcast", "--stream", "s", "--whip-listen", "nothost:80"},
           {MESHCAST_EXE, "broadcast", "--stream", "s", "--whip-listen", "127.0.0.1:70000"},
           {MESHCAST_EXE, "broadcast", "--stream", "s", "--whip-listen", "8080", "--video", "test"},
           {MESHCAST_EXE, "broadcast", "--stream", "s", "--whip-token", "t"},
           {MESHCAST_EXE, "broadcast", "--stream", "s", "--transcode", "--video", "test"},
           {MESHCAST_EXE, "broadcast", "--stream", "s", "--whip-listen", "9", "--fps", "30"},
           {MESHCAST_EXE, "watch", "--stream", "s", "--whep-listen", "[::1:80"},
           {MESHCAST_EXE, "watch", "--stream", "s", "--whep-max", "3"}}) {
    meshcast::testing::Process run;
    ASSERT_TRUE(run.start(args, dir / "run"));
    auto rc = run.wait(10000);
    ASSERT_TRUE(rc.has_value());
    EXPECT_EQ(*rc, 2) << args[5] << " " << args.back() << ": " << run.err();
  }
  fs::remove_all(dir);
}

}  // namespace
