// FramePlayer with H.264 (and the file containers): real GStreamer pipelines. H.264 access
// units come from x264enc (gstreamer1.0-plugins-ugly; the tests skip without it), Opus
// packets from opusenc; the files are checked with GstDiscoverer.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "media/broadcast/frame_player.hpp"
#include "media/common/gst_handle.hpp"
#include "media/common/gst_util.hpp"
#include "media/common/pipeline_runner.hpp"

namespace meshcast::media {
namespace {

namespace fs = std::filesystem;

constexpr int kFps = 15;

StreamHeader h264_header(int width = 320, int height = 240) {
  StreamHeader h;
  h.video_codec = StreamHeader::VideoCodec::H264;
  h.width = static_cast<uint16_t>(width);
  h.height = static_cast<uint16_t>(height);
  h.fps_num = kFps;
  h.fps_den = 1;
  h.audio_codec = StreamHeader::AudioCodec::Opus;
  h.audio_rate = 48000;
  h.audio_channels = 2;
  return h;
}

bool have(const char* element) { return make_element(element) != nullptr; }

// Runs `desc` (ending in "appsink name=sink") to EOS and returns its buffers as frames, the
// first at offset_us (x264enc starts its timestamps at 1000 h).
std::vector<MediaFrame> pull_frames(const std::string& desc, MediaFrame::Kind kind,
                                    int64_t offset_us) {
  std::vector<MediaFrame> out;
  GErrorPtr err;
  auto p = adopt_floating<GstElementPtr>(gst_parse_launch(desc.c_str(), out_ptr(err)));
  EXPECT_TRUE(p) << (err ? err->message : "parse");
  if (!p) return out;
  PipelineRunner runner;
  runner.adopt(std::move(p));
  GstElementPtr sink = runner.element("sink");
  g_object_set(sink.get(), "sync", FALSE, nullptr);
  gst_element_set_state(runner.pipeline(), GST_STATE_PLAYING);
  int64_t first_us = -1;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink.get()), 20 * GST_SECOND)) {
    GstBuffer* b = gst_sample_get_buffer(s);
    GstMapInfo map;
    if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
      MediaFrame f;
      f.kind = kind;
      const auto pts_us = static_cast<int64_t>(GST_BUFFER_PTS(b) / 1000);
      if (first_us < 0) first_us = pts_us;
      f.pts_us = pts_us - first_us + offset_us;
      f.duration_us = GST_BUFFER_DURATION_IS_VALID(b)
                          ? static_cast<int64_t>(GST_BUFFER_DURATION(b) / 1000)
                          : 1'000'000 / kFps;
      f.keyframe =
          kind == MediaFrame::Kind::Audio || !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
      f.data.assign(map.data, map.data + map.size);
      gst_buffer_unmap(b, &map);
      out.push_back(std::move(f));
    }
    gst_sample_unref(s);
  }
  return out;
}

// n H.264 access units (byte-stream/au, SPS/PPS before every IDR, an IDR every 15 frames).
std::vector<MediaFrame> encode_h264(int n, int width = 320, int height = 240, int64_t offset_us = 0,
                                    const char* pattern = "smpte") {
  const std::string desc =
      "videotestsrc pattern=" + std::string(pattern) + " num-buffers=" + std::to_string(n) +
      " ! video/x-raw,width=" + std::to_string(width) + ",height=" + std::to_string(height) +
      ",framerate=" + std::to_string(kFps) +
      "/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bframes=0 ! "
      "video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1 ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink";
  return pull_frames(desc, MediaFrame::Kind::Video, offset_us);
}

// n VP8 frames (a key frame every 15).
std::vector<MediaFrame> encode_vp8(int n, int width, int height, int64_t offset_us = 0) {
  const std::string desc = "videotestsrc num-buffers=" + std::to_string(n) +
                           " ! video/x-raw,width=" + std::to_string(width) +
                           ",height=" + std::to_string(height) +
                           ",framerate=" + std::to_string(kFps) +
                           "/1 ! vp8enc deadline=1 keyframe-max-dist=15 ! appsink name=sink";
  return pull_frames(desc, MediaFrame::Kind::Video, offset_us);
}

// n 20 ms Opus packets, 48 kHz stereo.
std::vector<MediaFrame> encode_opus(int n, int64_t offset_us = 0) {
  const std::string desc = "audiotestsrc num-buffers=" + std::to_string(n) +
                           " samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! "
                           "opusenc frame-size=20 ! appsink name=sink";
  return pull_frames(desc, MediaFrame::Kind::Audio, offset_us);
}

// Merged in pts order (the order a segmenter sees them).
std::vector<MediaFrame> interleave(std::vector<MediaFrame> a, const std::vector<MediaFrame>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::stable_sort(a.begin(), a.end(),
                   [](const MediaFrame& x, const MediaFrame& y) { return x.pts_us < y.pts_us; });
  return a;
}

struct Discovered {
  bool ok = false;
  std::string error;
  std::string video_caps;  // structure name of the video stream's caps
  int width = 0;
  int height = 0;
  int video_streams = 0;
  int audio_streams = 0;
  int64_t duration_us = 0;
};

Discovered discover(const fs::path& file) {
  Discovered out;
  GErrorPtr err;
  GObjectPtr<GstDiscoverer> disc(gst_discoverer_new(10 * GST_SECOND, out_ptr(err)));
  if (!disc) {
    out.error = err ? err->message : "no discoverer";
    return out;
  }
  GCharPtr uri(gst_filename_to_uri(file.c_str(), nullptr));
  GObjectPtr<GstDiscovererInfo> info(
      gst_discoverer_discover_uri(disc.get(), uri.get(), out_ptr(err)));
  if (!info || gst_discoverer_info_get_result(info.get()) != GST_DISCOVERER_OK) {
    out.error = err ? err->message : "discoverer result not OK";
    return out;
  }
  out.ok = true;
  GList* v = gst_discoverer_info_get_video_streams(info.get());
  GList* a = gst_discoverer_info_get_audio_streams(info.get());
  out.video_streams = static_cast<int>(g_list_length(v));
  out.audio_streams = static_cast<int>(g_list_length(a));
  if (v) {
    auto* vi = GST_DISCOVERER_VIDEO_INFO(v->data);
    out.width = static_cast<int>(gst_discoverer_video_info_get_width(vi));
    out.height = static_cast<int>(gst_discoverer_video_info_get_height(vi));
    GstCapsPtr caps(gst_discoverer_stream_info_get_caps(GST_DISCOVERER_STREAM_INFO(vi)));
    if (caps && gst_caps_get_size(caps.get()) > 0)
      out.video_caps = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  }
  gst_discoverer_stream_info_list_free(v);
  gst_discoverer_stream_info_list_free(a);
  out.duration_us = static_cast<int64_t>(gst_discoverer_info_get_duration(info.get()) / 1000);
  return out;
}

// Decodes the whole file; counts the decoded video frames per picture size ("WxH").
std::map<std::string, int> decoded_sizes(const fs::path& file) {
  std::map<std::string, int> sizes;
  const std::string desc = "filesrc location=\"" + file.string() +
                           "\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! "
                           "appsink name=sink";
  GErrorPtr err;
  auto p = adopt_floating<GstElementPtr>(gst_parse_launch(desc.c_str(), out_ptr(err)));
  EXPECT_TRUE(p) << (err ? err->message : "parse");
  if (!p) return sizes;
  PipelineRunner runner;
  runner.adopt(std::move(p));
  GstElementPtr sink = runner.element("sink");
  g_object_set(sink.get(), "sync", FALSE, nullptr);
  gst_element_set_state(runner.pipeline(), GST_STATE_PLAYING);
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink.get()), 20 * GST_SECOND)) {
    int w = 0, h = 0;
    if (GstCaps* caps = gst_sample_get_caps(s)) {
      const GstStructure* st = gst_caps_get_structure(caps, 0);
      gst_structure_get_int(st, "width", &w);
      gst_structure_get_int(st, "height", &h);
    }
    ++sizes[std::to_string(w) + "x" + std::to_string(h)];
    gst_sample_unref(s);
  }
  return sizes;
}

class FramePlayerH264 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ensure_gst_init(); }
  void SetUp() override {
    for (const char* e : {"x264enc", "h264parse", "opusenc"})
      if (!have(e)) GTEST_SKIP() << e << " not installed";
  }
  void TearDown() override {
    for (auto& f : files_) fs::remove(f);
  }
  fs::path temp_file(const std::string& name) {
    fs::path p =
        fs::temp_directory_path() / ("meshcast-h264-" + std::to_string(getpid()) + "-" + name);
    fs::remove(p);
    files_.push_back(p);
    return p;
  }
  static FramePlayer::Stats play_file(const fs::path& file, const StreamHeader& h,
                                      const std::vector<MediaFrame>& frames,
                                      std::string* error = nullptr) {
    GMainContextPtr ctx(g_main_context_new());  // the bus watch's; errors surface in stop()
    FramePlayer player(ctx.get(), {.output = {OutputSpec::Type::File, file.string()}});
    for (const auto& f : frames) player.push(h, f);
    auto stopped = player.stop();
    if (error) *error = stopped ? "" : stopped.error();
    return player.stats();
  }
  std::vector<fs::path> files_;
};

// 3 s of 320x240 H.264 + Opus into `ext`: H.264, 320x240, ~3 s, with audio.
void expect_h264_file(const fs::path& file, const FramePlayer::Stats& st, int64_t span_us) {
  ASSERT_TRUE(fs::exists(file));
  const Discovered d = discover(file);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.video_streams, 1);
  EXPECT_EQ(d.audio_streams, 1);
  EXPECT_EQ(d.video_caps, "video/x-h264");
  EXPECT_EQ(d.width, 320);
  EXPECT_EQ(d.height, 240);
  EXPECT_NEAR(static_cast<double>(d.duration_us), static_cast<double>(span_us), 0.2 * span_us)
      << "media_duration_us " << st.media_duration_us;
}

TEST_F(FramePlayerH264, RecordsMkv) {
  const auto frames = interleave(encode_h264(45), encode_opus(150));
  ASSERT_GE(frames.size(), 150u);
  const fs::path file = temp_file("rec.mkv");
  std::string error;
  const auto st = play_file(file, h264_header(), frames, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(st.video_frames, 45u);
  EXPECT_EQ(st.frames_dropped, 0u);
  expect_h264_file(file, st, 3'000'000);
}

TEST_F(FramePlayerH264, RecordsMp4) {
  const auto frames = interleave(encode_h264(45), encode_opus(150));
  const fs::path file = temp_file("rec.MP4");  // the extension is case-insensitive
  std::string error;
  const auto st = play_file(file, h264_header(), frames, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(st.video_frames, 45u);
  expect_h264_file(file, st, 3'000'000);
}

// A batch sequence joined mid-stream: the first frames are H.264 P frames. They are dropped
// until the first IDR (with the audio before it), as for VP8; the file starts at the IDR.
TEST_F(FramePlayerH264, JoinMidStreamWaitsForIdr) {
  auto video = encode_h264(45);
  ASSERT_EQ(video.size(), 45u);
  ASSERT_TRUE(video[0].keyframe);
  ASSERT_FALSE(video[5].keyframe);
  ASSERT_TRUE(video[15].keyframe);
  video.erase(video.begin(), video.begin() + 5);  // join at frame 5 (333 ms)
  auto audio = encode_opus(150);
  std::erase_if(audio, [](const MediaFrame& f) { return f.pts_us < 333'000; });
  const auto frames = interleave(video, audio);
  // Cut into 200 ms batches, as the mesh delivers them.
  std::vector<FrameBatch> batches;
  for (const auto& f : frames) {
    if (batches.empty() || f.pts_us >= batches.back().frames.front().pts_us + 200'000) {
      batches.emplace_back();
      batches.back().header = h264_header();
    }
    batches.back().frames.push_back(f);
  }
  ASSERT_FALSE(batches.front().frames.front().is_video_keyframe());
  const fs::path file = temp_file("join.mkv");
  GMainContextPtr ctx(g_main_context_new());
  FramePlayer player(ctx.get(), {.output = {OutputSpec::Type::File, file.string()}});
  int64_t first_played = -1;
  player.set_on_play([&](const MediaFrame& f, int64_t out) {
    if (first_played < 0) {
      first_played = f.pts_us;
      EXPECT_TRUE(f.is_video_keyframe());
      EXPECT_EQ(out, 0);
    }
  });
  for (const auto& b : batches) player.push_batch(b);
  auto stopped = player.stop();
  ASSERT_TRUE(stopped) << stopped.error();
  EXPECT_EQ(first_played, video[10].pts_us);  // frame 15 of the encode: 1 s
  const auto st = player.stats();
  EXPECT_EQ(st.keyframe_waits, 1u);
  EXPECT_EQ(st.video_frames, 30u);
  // 10 P frames; the audio before the IDR is held (at most 25 packets) and then dropped.
  EXPECT_GE(st.frames_dropped, 10u + 25u);
  expect_h264_file(file, st, 2'000'000);
}

TEST_F(FramePlayerH264, WebmRefusesH264) {
  for (const char* name : {"x.webm", "x.ogg", "noext"}) {  // unknown extension = WebM
    const fs::path file = temp_file(name);
    GMainContextPtr ctx(g_main_context_new());
    FramePlayer player(ctx.get(), {.output = {OutputSpec::Type::File, file.string()}});
    std::string reported;
    player.set_on_error([&](const std::string& e) { reported = e; });
    MediaFrame key{MediaFrame::Kind::Video, 0, 66'666, true, {0, 0, 0, 1, 0x65}};
    EXPECT_FALSE(player.push(h264_header(), key));
    EXPECT_TRUE(player.failed());
    EXPECT_NE(player.error().find("H.264 cannot go into WebM: use .mkv or .mp4"), std::string::npos)
        << player.error();
    EXPECT_EQ(reported, player.error());
    EXPECT_FALSE(fs::exists(file));
    EXPECT_FALSE(player.stop());
  }
}

TEST_F(FramePlayerH264, Mp4RefusesVp8) {
  const fs::path file = temp_file("x.mp4");
  GMainContextPtr ctx(g_main_context_new());
  FramePlayer player(ctx.get(), {.output = {OutputSpec::Type::File, file.string()}});
  StreamHeader h = h264_header();
  h.video_codec = StreamHeader::VideoCodec::VP8;
  EXPECT_FALSE(player.push(h, {MediaFrame::Kind::Video, 0, 66'666, true, {1, 2, 3}}));
  EXPECT_NE(player.error().find("VP8 cannot go into MP4"), std::string::npos) << player.error();
}

TEST(FileContainer, ByExtension) {
  EXPECT_EQ(file_container("a.webm"), FileContainer::WebM);
  EXPECT_EQ(file_container("a.mkv"), FileContainer::Matroska);
  EXPECT_EQ(file_container("dir.x/A.MKV"), FileContainer::Matroska);
  EXPECT_EQ(file_container("a.mp4"), FileContainer::Mp4);
  EXPECT_EQ(file_container("a.Mp4"), FileContainer::Mp4);
  EXPECT_EQ(file_container("a.avi"), FileContainer::WebM);  // unknown: WebM, as before
  EXPECT_EQ(file_container("dir.mkv/out"), FileContainer::WebM);
  EXPECT_EQ(file_container("out"), FileContainer::WebM);
  EXPECT_TRUE(file_extension_known("a.WebM"));
  EXPECT_TRUE(file_extension_known("a.mkv"));
  EXPECT_TRUE(file_extension_known("a.mp4"));
  EXPECT_FALSE(file_extension_known("a.avi"));
  EXPECT_FALSE(file_extension_known("a"));
  EXPECT_FALSE(file_extension_known("a.mkv/b"));
  StreamHeader h = h264_header();
  EXPECT_EQ(container_codec_error(FileContainer::Matroska, h), "");
  EXPECT_EQ(container_codec_error(FileContainer::Mp4, h), "");
  EXPECT_NE(container_codec_error(FileContainer::WebM, h), "");
  h.video_codec = StreamHeader::VideoCodec::VP8;
  EXPECT_EQ(container_codec_error(FileContainer::WebM, h), "");
  EXPECT_EQ(container_codec_error(FileContainer::Matroska, h), "");
  EXPECT_NE(container_codec_error(FileContainer::Mp4, h), "");
  h.video_codec = StreamHeader::VideoCodec::None;  // audio only: Opus goes everywhere
  for (auto c : {FileContainer::WebM, FileContainer::Matroska, FileContainer::Mp4})
    EXPECT_EQ(container_codec_error(c, h), "");
}

TEST(H264Decoder, PrefersAvdec) {
  ensure_gst_init();
  if (!have("h264parse") || !have("avdec_h264")) GTEST_SKIP() << "h264parse/avdec_h264 missing";
  std::string warning;
  auto d = choose_h264_decoder(&warning);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(*d, "h264parse ! avdec_h264 name=vdec");
  EXPECT_EQ(warning, "");
}

// Without avdec_h264 (hidden from the registry here) openh264dec is used, with a warning.
TEST(H264Decoder, FallsBackToOpenh264WithAWarning) {
  ensure_gst_init();
  if (!have("h264parse") || !have("avdec_h264") || !have("openh264dec"))
    GTEST_SKIP() << "h264parse, avdec_h264 or openh264dec missing";
  GstRegistry* reg = gst_registry_get();
  GstPluginFeature* avdec = gst_registry_lookup_feature(reg, "avdec_h264");  // our ref
  ASSERT_NE(avdec, nullptr);
  gst_registry_remove_feature(reg, avdec);
  std::string warning;
  auto d = choose_h264_decoder(&warning);
  gst_registry_add_feature(reg, avdec);  // ref_sinks: the registry takes its own ref
  gst_object_unref(avdec);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(*d, "h264parse ! openh264dec name=vdec");
  EXPECT_NE(warning.find("Constrained Baseline only"), std::string::npos) << warning;
  EXPECT_TRUE(have("avdec_h264"));
}

// The window path decodes H.264 (h264parse ! avdec_h264): a white picture is seen by the
// decoder's source-pad probe. Needs a display (run under xvfb-run); skipped without one.
TEST_F(FramePlayerH264, DisplayDecodes) {
  auto sink = choose_video_sink();
  if (!sink) GTEST_SKIP() << sink.error();
  GMainContextPtr ctx(g_main_context_new());
  PlayerConfig cfg;
  cfg.output = {OutputSpec::Type::Display, {}};
  cfg.video_sink = *sink;
  cfg.detect_av_marks = true;
  cfg.display_latency_us = 100'000;
  FramePlayer player(ctx.get(), cfg);
  StreamHeader h = h264_header();
  h.audio_codec = StreamHeader::AudioCodec::None;
  h.audio_rate = 0;
  h.audio_channels = 0;
  for (const auto& f : encode_h264(15, 320, 240, 0, "white")) player.push(h, f);
  const gint64 until = g_get_monotonic_time() + 3'000'000;
  while (g_get_monotonic_time() < until && player.av_marks().empty() && !player.failed()) {
    g_main_context_iteration(ctx.get(), FALSE);
    g_usleep(10'000);
  }
  EXPECT_FALSE(player.failed()) << player.error();
  ASSERT_FALSE(player.av_marks().empty()) << "no decoded picture reached the probe";
  EXPECT_EQ(player.av_marks().front().kind, MediaFrame::Kind::Video);
  EXPECT_TRUE(player.stop());
}

// The publisher changes its picture size mid-stream (320x240 -> 160x120, a new key frame at
// the change): the player takes the new header over and the file stays valid.
struct SizeChangeCase {
  StreamHeader::VideoCodec codec;
  const char* file;
};
class FramePlayerSizeChange : public FramePlayerH264,
                              public ::testing::WithParamInterface<SizeChangeCase> {};

TEST_P(FramePlayerSizeChange, FileFollowsTheNewSize) {
  const auto [codec, name] = GetParam();
  const bool h264 = codec == StreamHeader::VideoCodec::H264;
  if (!h264 && !have("vp8enc")) GTEST_SKIP() << "vp8enc missing";
  auto first = h264 ? encode_h264(30) : encode_vp8(30, 320, 240);
  auto second = h264 ? encode_h264(30, 160, 120, 2'000'000) : encode_vp8(30, 160, 120, 2'000'000);
  StreamHeader h1 = h264_header(320, 240), h2 = h264_header(160, 120);
  h1.video_codec = h2.video_codec = codec;
  const fs::path file = temp_file(name);
  GMainContextPtr ctx(g_main_context_new());
  FramePlayer player(ctx.get(), {.output = {OutputSpec::Type::File, file.string()}});
  auto a1 = encode_opus(100), a2 = encode_opus(100, 2'000'000);
  for (const auto& f : interleave(first, a1)) player.push(h1, f);
  for (const auto& f : interleave(second, a2)) player.push(h2, f);
  auto stopped = player.stop();
  EXPECT_TRUE(stopped) << stopped.error();
  const auto st = player.stats();
  EXPECT_EQ(st.size_changes, 1u);
  EXPECT_EQ(st.video_frames, 60u);
  EXPECT_EQ(st.frames_dropped, 0u);
  const Discovered d = discover(file);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_NEAR(static_cast<double>(d.duration_us), 4e6, 0.8e6);
  // Every frame decodes, at its own size. MP4 is written as avc (avc1, for players): there
  // the last frame before the change decodes at the new size (measured with GStreamer 1.22
  // avdec_h264); Matroska (avc3) and VP8 are exact.
  auto sizes = decoded_sizes(file);
  if (file_container(name) == FileContainer::Mp4 && sizes["320x240"] == 29) {
    --sizes["160x120"];
    ++sizes["320x240"];
  }
  EXPECT_EQ(sizes, (std::map<std::string, int>{{"320x240", 30}, {"160x120", 30}}));
}

INSTANTIATE_TEST_SUITE_P(
    Containers, FramePlayerSizeChange,
    ::testing::Values(SizeChangeCase{StreamHeader::VideoCodec::H264, "size.mkv"},
                      SizeChangeCase{StreamHeader::VideoCodec::H264, "size.mp4"},
                      SizeChangeCase{StreamHeader::VideoCodec::VP8, "size.webm"},
                      SizeChangeCase{StreamHeader::VideoCodec::VP8, "size.mkv"}),
    [](const auto& info) {
      std::string n = info.param.file;
      std::replace(n.begin(), n.end(), '.', '_');
      return std::string(info.param.codec == StreamHeader::VideoCodec::H264 ? "H264_" : "VP8_") + n;
    });

}  // namespace
}  // namespace meshcast::media
