// Real GStreamer: BroadcastSource(test, test) -> Segmenter -> serialize -> parse ->
// FramePlayer -> .webm, then the file is inspected with GstDiscoverer.
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "media/broadcast/broadcast_source.hpp"
#include "media/broadcast/frame_codec.hpp"
#include "media/broadcast/frame_player.hpp"
#include "media/broadcast/segmenter.hpp"
#include "media/common/gst_handle.hpp"
#include "media/common/gst_util.hpp"
#include "media/common/pipeline_runner.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/stats/process_usage.hpp"

namespace meshcast::media {
namespace {

namespace fs = std::filesystem;

// Iterates ctx until ms elapsed (or done() says so).
void run_loop(GMainContext* ctx, int ms, const std::function<bool()>& done = {}) {
  // Wakes the blocking iteration regularly.
  SourceGuard tick = SourceGuard::timeout(
      10, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, ctx);
  const gint64 end = g_get_monotonic_time() + gint64{ms} * 1000;
  while (g_get_monotonic_time() < end && !(done && done())) g_main_context_iteration(ctx, TRUE);
}

struct Discovered {
  bool ok = false;
  std::string error;
  int video_streams = 0;
  int audio_streams = 0;
  int64_t duration_us = 0;
  int width = 0, height = 0;
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
  if (info && gst_discoverer_info_get_result(info.get()) == GST_DISCOVERER_OK) {
    out.ok = true;
    GList* v = gst_discoverer_info_get_video_streams(info.get());
    GList* a = gst_discoverer_info_get_audio_streams(info.get());
    out.video_streams = static_cast<int>(g_list_length(v));
    out.audio_streams = static_cast<int>(g_list_length(a));
    if (v) {
      auto* vi = GST_DISCOVERER_VIDEO_INFO(v->data);
      out.width = static_cast<int>(gst_discoverer_video_info_get_width(vi));
      out.height = static_cast<int>(gst_discoverer_video_info_get_height(vi));
    }
    gst_discoverer_stream_info_list_free(v);
    gst_discoverer_stream_info_list_free(a);
    out.duration_us = static_cast<int64_t>(gst_discoverer_info_get_duration(info.get()) / 1000);
  } else {
    out.error = err ? err->message : "discoverer result not OK";
  }
  return out;
}

// Decodes the whole file and counts decoded video frames and audio buffers: proves the
// content (not just the container) is valid.
struct Decoded {
  bool ok = false;
  std::string error;
  int video_frames = 0;
  int audio_buffers = 0;
};

Decoded decode_all(const fs::path& file) {
  Decoded out;
  std::string desc =
      "filesrc name=src ! decodebin name=d d. ! videoconvert ! fakesink name=vs "
      "signal-handoffs=true sync=false d. ! audioconvert ! fakesink name=as "
      "signal-handoffs=true sync=false";
  GErrorPtr err;
  auto p = adopt_floating<GstElementPtr>(gst_parse_launch(desc.c_str(), out_ptr(err)));
  if (!p) {
    out.error = err ? err->message : "parse";
    return out;
  }
  PipelineRunner runner;  // NULL and released on every way out
  runner.adopt(std::move(p));
  g_object_set(runner.element("src").get(), "location", file.c_str(), nullptr);
  auto count = [](GstElement*, GstBuffer*, GstPad*, gpointer n) { ++*static_cast<int*>(n); };
  for (auto [name, counter] : {std::pair{"vs", &out.video_frames}, {"as", &out.audio_buffers}})
    g_signal_connect(runner.element(name).get(), "handoff", G_CALLBACK(+count), counter);
  gst_element_set_state(runner.pipeline(), GST_STATE_PLAYING);
  GstBusPtr bus = element_bus(runner.pipeline());
  GstMessagePtr msg(
      gst_bus_timed_pop_filtered(bus.get(), 30 * GST_SECOND,
                                 static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  if (msg && GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_EOS) {
    out.ok = true;
  } else if (msg) {
    GErrorPtr e = message_error(msg.get());
    out.error = e ? e->message : "error";
  } else {
    out.error = "decode timed out";
  }
  return out;
}

class MediaBroadcast : public ::testing::Test {
 protected:
  // One ~3 s broadcast, captured once as serialized segment payloads; each test replays it.
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    ctx_.reset(g_main_context_new());
    BroadcastConfig cfg;
    cfg.width = 320;
    cfg.height = 180;
    cfg.fps = 25;
    cfg.bitrate_kbps = 500;
    cfg.keyframe_interval_ms = 1000;
    BroadcastSource source(ctx_.get(), cfg);
    header_ = source.header();
    Segmenter segmenter(source.header(),
                        {.target_us = 250'000, .min_us = 100'000, .max_us = 500'000});
    auto keep = [](std::optional<FrameBatch> b) {
      if (!b) return;
      auto bytes = serialize_frame_batch(*b);
      ASSERT_TRUE(bytes.has_value());
      payloads_.push_back(std::move(*bytes));
    };
    source.set_on_frame([&](const MediaFrame& f) {
      // The player starts at the first (key) frame of video: audio captured before it is
      // not played. Under load the video branch may start a few frames after the audio.
      if (f.kind == MediaFrame::Kind::Video && first_video_pts_ < 0) first_video_pts_ = f.pts_us;
      if (f.kind == MediaFrame::Kind::Audio)
        ++(first_video_pts_ >= 0 && f.pts_us >= first_video_pts_ ? audio_from_first_video_
                                                                 : audio_before_video_);
      keep(segmenter.push(f));
    });
    source.set_on_error([](const std::string& e) { errors_.push_back(e); });
    auto started = source.start();
    ASSERT_TRUE(started) << started.error();
    std::printf("capture pipeline: %s\n", source.pipeline_description().c_str());
    run_loop(ctx_.get(), 1300);
    requested_ = source.request_keyframe();      // an extra key frame mid-way (a viewer joined)
    rate_limited_ = !source.request_keyframe();  // a second join right after: no new one
    run_loop(ctx_.get(), 1800);
    source.stop();
    keep(segmenter.flush());
    stats_ = source.stats();
  }
  static void TearDownTestSuite() {
    ctx_.reset();
    payloads_.clear();
  }

  fs::path temp_file(const char* name) {
    fs::path p = fs::temp_directory_path() /
                 ("meshcast-bc-" + std::to_string(getpid()) + "-" + name + ".webm");
    fs::remove(p);
    files_.push_back(p);
    return p;
  }
  void TearDown() override {
    for (auto& f : files_) fs::remove(f);
  }

  // Parses payloads [first, end) except `skip` into a file player; returns the player stats.
  FramePlayer::Stats replay(const fs::path& out, size_t first, long skip = -1) {
    FramePlayer player(ctx_.get(), {.output = {OutputSpec::Type::File, out.string()}});
    for (size_t i = first; i < payloads_.size(); ++i) {
      if (static_cast<long>(i) == skip) continue;
      auto batch = parse_frame_batch(payloads_[i]);
      EXPECT_TRUE(batch.has_value()) << to_string(batch.error());
      if (batch) player.push_batch(*batch);
      run_loop(ctx_.get(), 0);
    }
    auto stopped = player.stop();
    EXPECT_TRUE(stopped) << stopped.error();
    return player.stats();
  }

  void expect_valid_file(const fs::path& file, const FramePlayer::Stats& st) {
    ASSERT_TRUE(fs::exists(file));
    const Discovered d = discover(file);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.video_streams, 1);
    EXPECT_EQ(d.audio_streams, 1);
    EXPECT_EQ(d.width, 320);
    EXPECT_EQ(d.height, 180);
    const double ratio =
        static_cast<double>(d.duration_us) / static_cast<double>(st.media_duration_us);
    std::printf("file %s: %lld bytes, duration %.3f s, recorded media %.3f s (ratio %.3f)\n",
                file.filename().c_str(), static_cast<long long>(fs::file_size(file)),
                d.duration_us / 1e6, st.media_duration_us / 1e6, ratio);
    EXPECT_NEAR(ratio, 1.0, 0.15);
    const Decoded dec = decode_all(file);
    ASSERT_TRUE(dec.ok) << dec.error;
    EXPECT_EQ(static_cast<uint64_t>(dec.video_frames), st.video_frames);
    EXPECT_GT(dec.audio_buffers, 0);
  }

  static inline GMainContextPtr ctx_;
  static inline StreamHeader header_;
  static inline std::vector<std::vector<uint8_t>> payloads_;
  static inline std::vector<std::string> errors_;
  static inline BroadcastSource::Stats stats_;
  static inline int64_t first_video_pts_ = -1;
  static inline uint64_t audio_from_first_video_ = 0;  // pts at or after the first video frame
  static inline uint64_t audio_before_video_ = 0;      // delivered before the first video frame
  static inline bool requested_ = false, rate_limited_ = false;
  std::vector<fs::path> files_;
};

TEST_F(MediaBroadcast, SourceProducesVp8AndOpus) {
  EXPECT_TRUE(errors_.empty()) << errors_.front();
  EXPECT_EQ(header_.video_codec, StreamHeader::VideoCodec::VP8);
  EXPECT_EQ(header_.audio_codec, StreamHeader::AudioCodec::Opus);
  // ~3.1 s at 25 fps and 50 Opus packets/s; generous floors (shared 2-core machine).
  EXPECT_GT(stats_.video_frames, 40u);
  EXPECT_GT(stats_.audio_frames, 80u);
  // Key frames at 0, 1 and 2 s plus the requested one (the second request was ignored).
  EXPECT_TRUE(requested_);
  EXPECT_TRUE(rate_limited_);
  EXPECT_GE(stats_.keyframes, 4u);
  EXPECT_LE(stats_.keyframes, 5u);
  std::printf(
      "source: %llu video frames (%llu key), %llu audio frames, %llu+%llu bytes, "
      "%zu segments\n",
      static_cast<unsigned long long>(stats_.video_frames),
      static_cast<unsigned long long>(stats_.keyframes),
      static_cast<unsigned long long>(stats_.audio_frames),
      static_cast<unsigned long long>(stats_.video_bytes),
      static_cast<unsigned long long>(stats_.audio_bytes), payloads_.size());
  ASSERT_GE(payloads_.size(), 8u);
  auto first = parse_frame_batch(payloads_[0]);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->keyframe_start);
}

TEST_F(MediaBroadcast, RecordsPlayableWebm) {
  const fs::path file = temp_file("full");
  const auto st = replay(file, 0);
  EXPECT_EQ(st.keyframe_waits, 0u);
  EXPECT_EQ(st.gaps, 0u);
  EXPECT_EQ(st.video_frames, stats_.video_frames);
  // Audio delivered before the first video frame may still lie at or after its pts.
  EXPECT_GE(st.audio_frames, audio_from_first_video_);
  EXPECT_LE(st.audio_frames, stats_.audio_frames);
  std::printf("audio: %llu captured, %llu before the first video frame arrived, %llu played\n",
              static_cast<unsigned long long>(stats_.audio_frames),
              static_cast<unsigned long long>(audio_before_video_),
              static_cast<unsigned long long>(st.audio_frames));
  expect_valid_file(file, st);
}

TEST_F(MediaBroadcast, StartsMidStreamAtAKeyframe) {
  // Skip to the first segment that does NOT start with a key frame after the opening ones.
  size_t first = 1;
  while (first < payloads_.size() && parse_frame_batch(payloads_[first])->keyframe_start) ++first;
  ASSERT_LT(first + 4, payloads_.size());
  const fs::path file = temp_file("mid");
  const auto st = replay(file, first);
  EXPECT_EQ(st.keyframe_waits, 1u);
  EXPECT_GT(st.frames_dropped, 0u);
  EXPECT_GT(st.video_frames, 10u);
  expect_valid_file(file, st);
}

TEST_F(MediaBroadcast, SurvivesAMissingSegment) {
  ASSERT_GT(payloads_.size(), 6u);
  const fs::path file = temp_file("gap");
  const auto st = replay(file, 0, /*skip=*/3);
  EXPECT_GE(st.gaps, 1u);
  EXPECT_LT(st.video_frames, stats_.video_frames);
  expect_valid_file(file, st);
}

TEST_F(MediaBroadcast, BroadcastsFromAFilePacedLive) {
  // The recording of the test broadcast becomes the input of a file broadcast.
  const fs::path input = temp_file("input");
  const auto recorded = replay(input, 0);
  BroadcastConfig cfg;
  cfg.video = *parse_source_spec("file:" + input.string());
  cfg.audio = cfg.video;
  cfg.width = 320;
  cfg.height = 180;
  BroadcastSource source(ctx_.get(), cfg);
  Segmenter segmenter(source.header());
  uint64_t video = 0, audio = 0, keyframes = 0;
  int64_t last_pts = 0;
  size_t batches = 0;
  bool eos = false;
  std::string error_text;
  source.set_on_frame([&](const MediaFrame& f) {
    (f.kind == MediaFrame::Kind::Video ? video : audio)++;
    keyframes += f.is_video_keyframe();
    last_pts = std::max(last_pts, f.pts_us);
    batches += segmenter.push(f).has_value();
  });
  source.set_on_eos([&] { eos = true; });
  source.set_on_error([&](const std::string& e) { error_text = e; });
  auto started = source.start();
  ASSERT_TRUE(started) << started.error();
  const gint64 t0 = g_get_monotonic_time();
  run_loop(ctx_.get(), 15000, [&] { return eos || !error_text.empty(); });
  const double wall_s = static_cast<double>(g_get_monotonic_time() - t0) / 1e6;
  source.stop();
  EXPECT_TRUE(error_text.empty()) << error_text;
  EXPECT_TRUE(eos);
  std::printf(
      "file broadcast: %llu video (%llu key), %llu audio frames, last pts %.3f s, "
      "%zu batches, wall %.2f s\n",
      static_cast<unsigned long long>(video), static_cast<unsigned long long>(keyframes),
      static_cast<unsigned long long>(audio), last_pts / 1e6, batches, wall_s);
  // Re-encoded at 25 fps from a ~3 s file (frame counts within 20 %).
  EXPECT_NEAR(static_cast<double>(video), static_cast<double>(recorded.video_frames),
              0.2 * static_cast<double>(recorded.video_frames));
  EXPECT_GT(audio, recorded.audio_frames / 2);
  EXPECT_GE(keyframes, 3u);
  EXPECT_NEAR(static_cast<double>(last_pts), static_cast<double>(recorded.media_duration_us),
              0.15 * static_cast<double>(recorded.media_duration_us));
  // Paced like a live source: it cannot finish much faster than the media lasts.
  EXPECT_GT(wall_s, 0.8 * static_cast<double>(recorded.media_duration_us) / 1e6);
}

TEST_F(MediaBroadcast, MissingFileIsReported) {
  BroadcastConfig cfg;
  cfg.video = {SourceSpec::Type::File, "/nonexistent/meshcast.webm"};
  cfg.audio = {SourceSpec::Type::None, {}};
  BroadcastSource source(ctx_.get(), cfg);
  std::string error_text;
  source.set_on_error([&](const std::string& e) { error_text = e; });
  auto started = source.start();
  if (started) run_loop(ctx_.get(), 5000, [&] { return !error_text.empty(); });
  source.stop();
  EXPECT_TRUE(!started || !error_text.empty());
  std::printf("missing file: start=%d error='%s' bus='%s'\n", started.has_value(),
              started ? "" : started.error().c_str(), error_text.c_str());
}

TEST_F(MediaBroadcast, UnwritableOutputIsReported) {
  FramePlayer player(ctx_.get(), {.output = {OutputSpec::Type::File, "/nonexistent/dir/out.webm"}});
  std::string reported;
  player.set_on_error([&](const std::string& e) { reported = e; });
  auto batch = parse_frame_batch(payloads_[0]);
  ASSERT_TRUE(batch.has_value());
  player.push_batch(*batch);
  run_loop(ctx_.get(), 200);
  auto stopped = player.stop();
  ASSERT_FALSE(stopped);
  EXPECT_TRUE(player.failed());
  EXPECT_FALSE(stopped.error().empty());
  EXPECT_EQ(reported, stopped.error());
  EXPECT_EQ(player.error(), stopped.error());
  std::printf("unwritable output: %s\n", stopped.error().c_str());
}

TEST_F(MediaBroadcast, NullOutputCountsFrames) {
  FramePlayer player(ctx_.get(), {.output = {OutputSpec::Type::Null, {}}});
  EXPECT_EQ(player.output_type(), OutputSpec::Type::Null);
  for (const auto& p : payloads_) player.push_batch(*parse_frame_batch(p));
  EXPECT_TRUE(player.stop());
  EXPECT_EQ(player.stats().video_frames, stats_.video_frames);
  EXPECT_EQ(player.stats().audio_frames, stats_.audio_frames);
}

TEST_F(MediaBroadcast, AudioOnlyBroadcast) {
  BroadcastConfig cfg;
  cfg.video = {SourceSpec::Type::None, {}};
  BroadcastSource source(ctx_.get(), cfg);
  ASSERT_FALSE(source.header().has_video());
  const fs::path file = temp_file("audio");
  FramePlayer player(ctx_.get(), {.output = {OutputSpec::Type::File, file.string()}});
  Segmenter segmenter(source.header());
  source.set_on_frame([&](const MediaFrame& f) {
    if (auto b = segmenter.push(f))
      player.push_batch(*parse_frame_batch(*serialize_frame_batch(*b)));
  });
  ASSERT_TRUE(source.start());
  run_loop(ctx_.get(), 1500);
  source.stop();
  if (auto b = segmenter.flush()) player.push_batch(*b);
  ASSERT_TRUE(player.stop());
  EXPECT_EQ(source.stats().video_frames, 0u);
  EXPECT_GT(player.stats().audio_frames, 40u);
  const Discovered d = discover(file);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.video_streams, 0);
  EXPECT_EQ(d.audio_streams, 1);
}

TEST_F(MediaBroadcast, DeviceFallsBackToTestWithWarning) {
  // This machine has no camera; with one, the source simply uses it.
  BroadcastConfig cfg;
  cfg.video = {SourceSpec::Type::Device, {}};
  cfg.audio = {SourceSpec::Type::None, {}};
  cfg.width = 160;
  cfg.height = 120;
  BroadcastSource source(ctx_.get(), cfg);
  int frames = 0;
  source.set_on_frame([&](const MediaFrame&) { ++frames; });
  auto started = source.start();
  ASSERT_TRUE(started) << started.error();
  run_loop(ctx_.get(), 3000, [&] { return frames >= 5; });
  source.stop();
  EXPECT_GE(frames, 5);
  for (const auto& w : source.warnings()) std::printf("warning: %s\n", w.c_str());
}

// Not a timing assert: prints the CPU share for docs/media-broadcast.md.
void measure_cpu(GMainContext* ctx, const char* pattern) {
  BroadcastConfig cfg;  // 640x360 @ 25 fps (the figures in docs), 1 encoder thread
  cfg.width = 640;
  cfg.height = 360;
  cfg.fps = 25;
  cfg.bitrate_kbps = 500;
  cfg.test_pattern = pattern;
  BroadcastSource source(ctx, cfg);
  uint64_t bytes = 0, vframes = 0;
  source.set_on_frame([&](const MediaFrame& f) {
    bytes += f.data.size();
    vframes += f.kind == MediaFrame::Kind::Video;
  });
  ASSERT_TRUE(source.start());
  run_loop(ctx, 500);  // skip start-up
  const double cpu0 = meshcast::stats::cpu_seconds();
  const gint64 t0 = g_get_monotonic_time();
  const uint64_t bytes0 = bytes, vframes0 = vframes;
  run_loop(ctx, 5000);
  const double cpu = meshcast::stats::cpu_seconds() - cpu0;
  const double wall = static_cast<double>(g_get_monotonic_time() - t0) / 1e6;
  source.stop();
  std::printf(
      "encode CPU (pattern=%s) 640x360@25 VP8 + Opus 64 kbps, --bitrate 500: %.1f%% of "
      "one core over %.1f s, %.0f kbit/s and %.1f video frames/s produced\n",
      pattern, 100.0 * cpu / wall, wall, static_cast<double>(bytes - bytes0) * 8 / 1000 / wall,
      static_cast<double>(vframes - vframes0) / wall);
  EXPECT_GT(bytes - bytes0, 0u);
}

TEST_F(MediaBroadcast, EncodeCpuAt500kbps) {
  measure_cpu(ctx_.get(), "ball");
  measure_cpu(ctx_.get(), "snow");
}

}  // namespace
}  // namespace meshcast::media
