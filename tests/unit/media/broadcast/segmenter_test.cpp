#include "media/broadcast/segmenter.hpp"

#include <gtest/gtest.h>

#include "tests/unit/media/broadcast/stream_header_fixture.hpp"

namespace meshcast::media {
namespace {

using testing::av_header;

StreamHeader audio_header() {
  StreamHeader h = av_header();
  h.video_codec = StreamHeader::VideoCodec::None;
  return h;
}

// Frames of a synthetic 25 fps + 20 ms audio stream, in pts order, a key frame every
// keyframe_every video frames (0 = only the first).
std::vector<MediaFrame> stream(int64_t duration_us, int keyframe_every, bool video = true) {
  std::vector<MediaFrame> out;
  int64_t next_audio = 0, next_video = 0;
  int vframe = 0;
  while (next_audio < duration_us || (video && next_video < duration_us)) {
    MediaFrame f;
    if (video && next_video <= next_audio) {
      f.kind = MediaFrame::Kind::Video;
      f.pts_us = next_video;
      f.duration_us = 40'000;
      f.keyframe = vframe == 0 || (keyframe_every > 0 && vframe % keyframe_every == 0);
      next_video += 40'000;
      ++vframe;
    } else {
      f.kind = MediaFrame::Kind::Audio;
      f.pts_us = next_audio;
      f.duration_us = 20'000;
      f.keyframe = true;
      next_audio += 20'000;
    }
    f.data.assign(10, static_cast<uint8_t>(out.size()));
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<FrameBatch> run(Segmenter& s, const std::vector<MediaFrame>& frames) {
  std::vector<FrameBatch> out;
  for (const auto& f : frames)
    if (auto b = s.push(f)) out.push_back(std::move(*b));
  if (auto b = s.flush()) out.push_back(std::move(*b));
  return out;
}

TEST(Segmenter, NoFrameLostOrReordered) {
  Segmenter s(av_header());
  const auto frames = stream(3'000'000, 25);
  const auto batches = run(s, frames);
  std::vector<MediaFrame> joined;
  for (const auto& b : batches) {
    EXPECT_EQ(b.header, av_header());
    joined.insert(joined.end(), b.frames.begin(), b.frames.end());
  }
  EXPECT_EQ(joined, frames);
  EXPECT_EQ(s.batches_emitted(), batches.size());
  EXPECT_EQ(s.pending_frames(), 0u);
}

TEST(Segmenter, CutsEveryTargetAndAtKeyframes) {
  // Key frame every 1 s, target 250 ms: batches of 250 ms, every 4th starts with a key frame.
  Segmenter s(av_header(), {.target_us = 250'000, .min_us = 100'000, .max_us = 500'000});
  const auto batches = run(s, stream(3'000'000, 25));
  ASSERT_EQ(batches.size(), 12u);
  for (size_t i = 0; i < batches.size(); ++i) {
    // Frames come every 20 ms, so a cut lands on the first frame at or after the target.
    const int64_t ideal = static_cast<int64_t>(i) * 250'000;
    EXPECT_GE(batches[i].frames.front().pts_us, ideal) << i;
    EXPECT_LT(batches[i].frames.front().pts_us, ideal + 20'000) << i;
    EXPECT_EQ(batches[i].keyframe_start, i % 4 == 0) << i;
  }
}

TEST(Segmenter, StretchesToWaitForADueKeyframe) {
  // Key frame every 600 ms (15 frames), target 550, min 100, max 700. Without stretching, a
  // batch would close at ~560 ms and the key frame at 600 ms would fall 40 ms into the next
  // batch (< min, so no cut): never an entry point. Once the cadence is known (second key
  // frame), the batch waits for the key frame instead.
  Segmenter s(av_header(), {.target_us = 550'000, .min_us = 100'000, .max_us = 700'000});
  const auto batches = run(s, stream(4'800'000, 15));
  size_t checked = 0;
  for (const auto& b : batches) {
    EXPECT_LE(b.frames.back().pts_us - b.frames.front().pts_us, 700'000);
    if (b.frames.front().pts_us >= 1'200'000) {
      EXPECT_TRUE(b.keyframe_start) << b.frames.front().pts_us;
      EXPECT_EQ(b.frames.front().pts_us % 600'000, 0);
      ++checked;
    }
  }
  EXPECT_GE(checked, 6u);
}

TEST(Segmenter, NeverExceedsMaxWithoutKeyframes) {
  Segmenter s(av_header(), {.target_us = 300'000, .min_us = 100'000, .max_us = 400'000});
  const auto batches = run(s, stream(5'000'000, 0));  // only the first frame is a key frame
  ASSERT_GT(batches.size(), 10u);
  EXPECT_TRUE(batches[0].keyframe_start);
  for (size_t i = 1; i < batches.size(); ++i) {
    EXPECT_FALSE(batches[i].keyframe_start);
    EXPECT_LT(batches[i].frames.back().pts_us - batches[i].frames.front().pts_us, 400'000);
  }
}

TEST(Segmenter, EarlyKeyframeCutsAfterMin) {
  Segmenter s(av_header(), {.target_us = 250'000, .min_us = 100'000, .max_us = 500'000});
  auto frames = stream(1'000'000, 0);
  // A requested key frame at 160 ms (video frame 4): the batch closes there.
  for (auto& f : frames)
    if (f.kind == MediaFrame::Kind::Video && f.pts_us == 160'000) f.keyframe = true;
  const auto batches = run(s, frames);
  ASSERT_GE(batches.size(), 2u);
  EXPECT_EQ(batches[1].frames.front().pts_us, 160'000);
  EXPECT_TRUE(batches[1].keyframe_start);
  // A key frame before min_us does not cut.
  Segmenter s2(av_header(), {.target_us = 250'000, .min_us = 100'000, .max_us = 500'000});
  for (auto& f : frames)
    if (f.kind == MediaFrame::Kind::Video && f.pts_us == 40'000) f.keyframe = true;
  const auto b2 = run(s2, frames);
  EXPECT_NE(b2[1].frames.front().pts_us, 40'000);
}

TEST(Segmenter, AudioOnlyBatchesAreAllEntryPoints) {
  Segmenter s(audio_header(), {.target_us = 200'000, .min_us = 100'000, .max_us = 400'000});
  const auto batches = run(s, stream(2'000'000, 0, /*video=*/false));
  ASSERT_EQ(batches.size(), 10u);
  for (const auto& b : batches) {
    EXPECT_TRUE(b.keyframe_start);
    EXPECT_EQ(b.frames.size(), 10u);
    EXPECT_EQ(b.duration_us(), 200'000);
  }
}

TEST(Segmenter, FlushOnEmptyGivesNothing) {
  Segmenter s(av_header());
  EXPECT_FALSE(s.flush().has_value());
}

TEST(Segmenter, BatchWithoutVideoInVideoStreamIsNoEntryPoint) {
  Segmenter s(av_header(), {.target_us = 100'000, .min_us = 50'000, .max_us = 200'000});
  auto frames = stream(1'000'000, 0, /*video=*/false);  // video stalled: audio only arrives
  for (const auto& b : run(s, frames)) EXPECT_FALSE(b.keyframe_start);
}

TEST(Segmenter, ConfigIsClamped) {
  // min > target > max gets clamped to a sane order instead of looping or emitting nothing.
  Segmenter s(av_header(), {.target_us = 900'000, .min_us = 2'000'000, .max_us = 300'000});
  const auto batches = run(s, stream(1'200'000, 0));
  EXPECT_EQ(batches.size(), 4u);
}

}  // namespace
}  // namespace meshcast::media
