// FramePlayer's timeline logic (start at a key frame, rebasing, gaps, monotonic output)
// through the null output: no GStreamer pipeline is built.
#include "media/broadcast/frame_player.hpp"

#include <gtest/gtest.h>

#include "tests/unit/media/broadcast/stream_header_fixture.hpp"

namespace meshcast::media {
namespace {

using testing::av_header;

MediaFrame video(int64_t pts_ms, bool key) {
  return {MediaFrame::Kind::Video, pts_ms * 1000, 40'000, key, {1, 2, 3}};
}
MediaFrame audio(int64_t pts_ms) {
  return {MediaFrame::Kind::Audio, pts_ms * 1000, 20'000, true, {4}};
}

// A/V frames over [from_ms, to_ms) in encoder order; video key frames where key(ms).
std::vector<MediaFrame> span(int64_t from_ms, int64_t to_ms,
                             const std::function<bool(int64_t)>& key) {
  std::vector<MediaFrame> out;
  for (int64_t t = from_ms; t < to_ms; t += 20) {
    if (t % 40 == 0) out.push_back(video(t, key(t)));
    out.push_back(audio(t));
  }
  return out;
}

struct Played {
  MediaFrame::Kind kind;
  int64_t in_ms;
  int64_t out_ms;
};

class FramePlayerTimeline : public ::testing::Test {
 protected:
  FramePlayer make(PlayerConfig::GapMode mode = PlayerConfig::GapMode::Collapse) {
    PlayerConfig cfg;
    cfg.output = {OutputSpec::Type::Null, {}};
    cfg.gap_mode = mode;
    return FramePlayer(nullptr, cfg);
  }
  void attach(FramePlayer& p) {
    p.set_on_play([this](const MediaFrame& f, int64_t out) {
      played.push_back({f.kind, f.pts_us / 1000, out / 1000});
    });
  }
  void feed(FramePlayer& p, const std::vector<MediaFrame>& frames,
            const StreamHeader& h = av_header()) {
    for (const auto& f : frames) p.push(h, f);
  }
  std::vector<Played> played;
};

TEST(OutputSpec, Parses) {
  EXPECT_EQ(parse_output_spec("auto")->type, OutputSpec::Type::Auto);
  EXPECT_EQ(parse_output_spec("null")->type, OutputSpec::Type::Null);
  EXPECT_EQ(parse_output_spec("x.webm")->type, OutputSpec::Type::File);
  EXPECT_EQ(parse_output_spec("x.webm")->path, "x.webm");
  EXPECT_FALSE(parse_output_spec("").has_value());
}

TEST_F(FramePlayerTimeline, FromTheStartEverythingPlaysRebasedToZero) {
  FramePlayer p(nullptr, {.output = {OutputSpec::Type::Null, {}}});
  attach(p);
  auto frames = span(5000, 6000, [](int64_t t) { return t == 5000; });
  // Encoder order: audio for the key frame's instant may come first.
  std::swap(frames[0], frames[1]);
  feed(p, frames);
  EXPECT_EQ(p.stats().frames_played, frames.size());
  EXPECT_EQ(p.stats().keyframe_waits, 0u);
  EXPECT_EQ(p.stats().frames_dropped, 0u);
  ASSERT_FALSE(played.empty());
  EXPECT_EQ(played[0].kind, MediaFrame::Kind::Video);
  EXPECT_EQ(played[0].out_ms, 0);
  EXPECT_EQ(p.stats().media_duration_us, 1'000'000);
  for (const auto& x : played) EXPECT_EQ(x.out_ms, x.in_ms - 5000);
}

TEST_F(FramePlayerTimeline, MidStreamWaitsForKeyframe) {
  FramePlayer p = make();
  attach(p);
  feed(p, span(1000, 2000, [](int64_t t) { return t == 1400; }));
  EXPECT_EQ(p.stats().keyframe_waits, 1u);
  ASSERT_FALSE(played.empty());
  EXPECT_EQ(played[0].in_ms, 1400);
  EXPECT_EQ(played[0].out_ms, 0);
  for (const auto& x : played) EXPECT_GE(x.in_ms, 1400);
  // 10 video frames + 20 audio frames before 1400 were dropped (audio held then dropped).
  EXPECT_EQ(p.stats().frames_dropped, 30u);
  EXPECT_EQ(p.stats().video_frames, 15u);
  EXPECT_EQ(p.stats().audio_frames, 30u);
}

TEST_F(FramePlayerTimeline, GapIsCollapsedAndVideoWaitsForKeyframe) {
  FramePlayer p = make(PlayerConfig::GapMode::Collapse);
  attach(p);
  feed(p, span(0, 500, [](int64_t t) { return t == 0; }));
  p.mark_gap();  // the mesh knows too: still one gap
  // 500..1000 ms missing; video resumes with delta frames, key frame at 1200.
  feed(p, span(1000, 1500, [](int64_t t) { return t == 1200; }));
  EXPECT_EQ(p.stats().gaps, 1u);
  EXPECT_EQ(p.stats().keyframe_waits, 1u);
  // The output resumes where the input ended before the gap (the last video frame ends at
  // 520 ms), so audio at 1000 ms plays at 520 ms and the 500 ms hole is gone.
  int64_t prev_audio = -1;
  for (const auto& x : played) {
    if (x.kind != MediaFrame::Kind::Audio) continue;
    if (x.in_ms == 1000) {
      EXPECT_EQ(x.out_ms, 520);
    }
    if (prev_audio >= 0) {
      EXPECT_LE(x.out_ms - prev_audio, 40);
    }
    prev_audio = x.out_ms;
  }
  // No video between the gap and the key frame.
  for (const auto& x : played) {
    if (x.kind == MediaFrame::Kind::Video) {
      EXPECT_TRUE(x.in_ms < 500 || x.in_ms >= 1200) << x.in_ms;
    }
  }
  EXPECT_EQ(p.stats().media_duration_us, 1'040'000);
}

TEST_F(FramePlayerTimeline, KeepModeLeavesTheHole) {
  FramePlayer p = make(PlayerConfig::GapMode::Keep);
  attach(p);
  feed(p, span(0, 500, [](int64_t t) { return t == 0; }));
  feed(p, span(1000, 1500, [](int64_t t) { return t == 1000; }));
  EXPECT_EQ(p.stats().gaps, 1u);
  EXPECT_EQ(p.stats().keyframe_waits, 0u);  // resumed on a key frame
  for (const auto& x : played) EXPECT_EQ(x.out_ms, x.in_ms);
}

TEST_F(FramePlayerTimeline, MarkGapMakesVideoWait) {
  FramePlayer p = make();
  attach(p);
  feed(p, span(0, 200, [](int64_t t) { return t == 0; }));
  p.mark_gap();
  p.mark_gap();  // the same gap reported twice counts once
  feed(p, span(200, 600, [](int64_t t) { return t == 400; }));
  EXPECT_EQ(p.stats().gaps, 1u);
  EXPECT_EQ(p.stats().keyframe_waits, 1u);
  EXPECT_EQ(p.stats().frames_dropped, 5u);  // video 200..360
}

TEST_F(FramePlayerTimeline, OutputIsMonotonicPerStream) {
  FramePlayer p = make();
  attach(p);
  feed(p, {video(0, true), audio(0), audio(20), audio(10), video(40, false), video(40, false)});
  int64_t last[3] = {-1, -1, -1};
  for (const auto& x : played) {
    const auto k = static_cast<size_t>(x.kind);
    EXPECT_GE(x.out_ms, last[k]);
    last[k] = x.out_ms;
  }
  EXPECT_EQ(played.size(), 6u);
}

TEST_F(FramePlayerTimeline, OtherStreamHeaderIsRejected) {
  FramePlayer p = make();
  feed(p, span(0, 200, [](int64_t t) { return t == 0; }));
  StreamHeader other = av_header();
  other.video_codec = StreamHeader::VideoCodec::H264;
  EXPECT_FALSE(p.push(other, video(200, true)));
  other = av_header();
  other.fps_num = 30;
  EXPECT_FALSE(p.push(other, video(200, true)));
  other = av_header();
  other.audio_channels = 1;
  EXPECT_FALSE(p.push(other, audio(200)));
  other = av_header(640, 360);  // a size change, but invalid otherwise
  other.fps_den = 0;
  EXPECT_FALSE(p.push(other, video(200, true)));
  EXPECT_EQ(p.stats().size_changes, 0u);
  StreamHeader bad = av_header();
  bad.fps_num = 0;
  FramePlayer q = make();
  EXPECT_FALSE(q.push(bad, video(0, true)));
  EXPECT_EQ(q.stats().frames_played, 0u);
}

// The publisher changes its picture size: a later header differing only in width/height is
// taken over (the pipeline's caps follow; see frame_player_h264_test for real files).
TEST_F(FramePlayerTimeline, SizeChangeKeepsPlaying) {
  FramePlayer p = make();
  attach(p);
  feed(p, span(0, 200, [](int64_t t) { return t == 0; }));
  feed(p, span(200, 400, [](int64_t t) { return t == 200; }), av_header(1280, 720));
  feed(p, span(400, 600, [](int64_t) { return false; }), av_header(1280, 720));
  feed(p, span(600, 800, [](int64_t t) { return t == 600; }), av_header(320, 180));
  EXPECT_EQ(p.stats().size_changes, 2u);
  EXPECT_EQ(p.stats().frames_dropped, 0u);
  EXPECT_EQ(p.stats().keyframe_waits, 0u);
  EXPECT_EQ(played.size(), 60u);
  EXPECT_EQ(played.back().out_ms, 780);
}

TEST_F(FramePlayerTimeline, AudioOnlyStartsImmediately) {
  StreamHeader h = av_header();
  h.video_codec = StreamHeader::VideoCodec::None;
  FramePlayer p = make();
  attach(p);
  feed(p, {audio(300), audio(320)}, h);
  EXPECT_FALSE(p.push(h, video(340, true)));  // no video in this stream
  ASSERT_EQ(played.size(), 2u);
  EXPECT_EQ(played[0].out_ms, 0);
  EXPECT_EQ(played[1].out_ms, 20);
}

TEST_F(FramePlayerTimeline, NothingAfterStop) {
  FramePlayer p = make();
  feed(p, span(0, 100, [](int64_t t) { return t == 0; }));
  EXPECT_TRUE(p.stop());
  EXPECT_FALSE(p.push(av_header(), video(100, true)));
  EXPECT_TRUE(p.stop());  // idempotent
}

}  // namespace
}  // namespace meshcast::media
