#include "media/broadcast/frame_codec.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>

#include "tests/unit/media/broadcast/stream_header_fixture.hpp"

namespace meshcast::media {
namespace {

StreamHeader av_header() { return testing::av_header(640, 360); }

MediaFrame frame(MediaFrame::Kind k, int64_t pts, bool key, std::vector<uint8_t> data) {
  MediaFrame f;
  f.kind = k;
  f.pts_us = pts;
  f.duration_us = k == MediaFrame::Kind::Audio ? 20'000 : 40'000;
  f.keyframe = key;
  f.data = std::move(data);
  return f;
}

FrameBatch sample_batch() {
  FrameBatch b;
  b.header = av_header();
  b.keyframe_start = true;
  b.frames.push_back(frame(MediaFrame::Kind::Video, 1'000'000, true, {1, 2, 3, 4, 5}));
  b.frames.push_back(frame(MediaFrame::Kind::Audio, 990'000, true, {9, 9}));
  b.frames.push_back(frame(MediaFrame::Kind::Audio, 1'010'000, true, {}));
  b.frames.push_back(frame(MediaFrame::Kind::Video, 1'040'000, false, {7}));
  return b;
}

std::vector<uint8_t> encoded() { return *serialize_frame_batch(sample_batch()); }

// The reason the parser gives, or nullopt if it accepted the bytes.
std::optional<FrameCodecError> parse_error(std::span<const uint8_t> bytes) {
  auto r = parse_frame_batch(bytes);
  if (r) return std::nullopt;
  return r.error();
}

// Offsets into the encoding of sample_batch().
constexpr size_t kFirstFrame = FrameCodecLimits::kHeaderBytes;
constexpr size_t kCountOffset = kFirstFrame - 2;

TEST(FrameCodec, RoundTrip) {
  const FrameBatch b = sample_batch();
  auto bytes = serialize_frame_batch(b);
  ASSERT_TRUE(bytes.has_value()) << to_string(bytes.error());
  EXPECT_EQ(bytes->size(), FrameCodecLimits::kHeaderBytes +
                               4 * FrameCodecLimits::kFrameHeaderBytes + b.media_bytes());
  auto back = parse_frame_batch(*bytes);
  ASSERT_TRUE(back.has_value()) << to_string(back.error());
  EXPECT_EQ(*back, b);
  EXPECT_EQ(back->start_pts_us(), 990'000);
  EXPECT_EQ(back->end_pts_us(), 1'080'000);
}

TEST(FrameCodec, FixedEncoding) {
  FrameBatch b;
  b.header.audio_codec = StreamHeader::AudioCodec::Opus;
  b.header.audio_rate = 48000;
  b.header.audio_channels = 1;
  b.keyframe_start = true;
  b.frames.push_back(frame(MediaFrame::Kind::Audio, 0x0102, true, {0xAB}));
  const std::vector<uint8_t> want = {
      1, 1,                                     // version, flags
      0, 0, 0,    0,    0,    0, 0, 0, 1,       // no video; w h fps_num; fps_den=1
      1, 0, 0,    0xBB, 0x80, 1,                // opus 48000 mono
      0, 1,                                     // one frame
      1, 1, 0,    0,    0,    0, 0, 0, 1,   2,  // audio, key, pts
      0, 0, 0x4E, 0x20, 0,    0, 0, 1, 0xAB};   // 20000 us, 1 byte
  EXPECT_EQ(*serialize_frame_batch(b), want);
  auto back = parse_frame_batch(want);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, b);
}

TEST(FrameCodec, EmptyBatchAndAudioOnly) {
  FrameBatch b;
  b.header.audio_codec = StreamHeader::AudioCodec::Opus;
  b.header.audio_rate = 48000;
  b.header.audio_channels = 2;
  auto back = parse_frame_batch(*serialize_frame_batch(b));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->frames.empty());
  EXPECT_EQ(back->duration_us(), 0);
}

// H.264: codec byte 2, same layout; the frames are Annex-B access units (opaque here).
FrameBatch h264_batch() {
  FrameBatch b = sample_batch();
  b.header.video_codec = StreamHeader::VideoCodec::H264;
  b.header.width = 1280;
  b.header.height = 720;
  b.header.fps_num = 30;
  // IDR with SPS and PPS in-band before it; then a P slice.
  b.frames[0].data = {0,    0,    0,    1,    0x67, 0x42, 0xC0, 0x1F, 0,    0,    0,   1,
                      0x68, 0xCE, 0x3C, 0x80, 0,    0,    0,    1,    0x65, 0x88, 0x84};
  b.frames[3].data = {0, 0, 0, 1, 0x41, 0x9A, 0x02};
  return b;
}

TEST(FrameCodec, H264RoundTrip) {
  const FrameBatch b = h264_batch();
  auto bytes = serialize_frame_batch(b);
  ASSERT_TRUE(bytes.has_value()) << to_string(bytes.error());
  EXPECT_EQ((*bytes)[2], 2);  // the codec byte
  auto back = parse_frame_batch(*bytes);
  ASSERT_TRUE(back.has_value()) << to_string(back.error());
  EXPECT_EQ(*back, b);
  EXPECT_EQ(back->header.video_codec, StreamHeader::VideoCodec::H264);
  // Same layout as VP8: only the codec byte, the header fields and the frame bytes differ.
  FrameBatch vp8 = b;
  vp8.header.video_codec = StreamHeader::VideoCodec::VP8;
  auto vp8_bytes = serialize_frame_batch(vp8);
  ASSERT_TRUE(vp8_bytes.has_value());
  ASSERT_EQ(vp8_bytes->size(), bytes->size());
  (*vp8_bytes)[2] = 2;
  EXPECT_EQ(*vp8_bytes, *bytes);
}

TEST(FrameCodec, H264FixedEncoding) {
  FrameBatch b;
  b.header.video_codec = StreamHeader::VideoCodec::H264;
  b.header.width = 1920;
  b.header.height = 1080;
  b.header.fps_num = 30000;
  b.header.fps_den = 1001;
  b.keyframe_start = true;
  b.frames.push_back(frame(MediaFrame::Kind::Video, 0x0102, true, {0, 0, 1, 0x65}));
  const std::vector<uint8_t> want = {
      1,    1,                                   // version, flags
      2,    0x07, 0x80, 0x04, 0x38,              // H.264 1920x1080
      0x75, 0x30, 0x03, 0xE9,                    // 30000/1001
      0,    0,    0,    0,    0,    0,           // no audio
      0,    1,                                   // one frame
      2,    1,    0,    0,    0,    0,    0, 0,  // video, key, pts...
      1,    2,    0,    0,    0x9C, 0x40,        // ...0x0102, 40000 us
      0,    0,    0,    4,    0,    0,    1, 0x65};
  EXPECT_EQ(*serialize_frame_batch(b), want);
  auto back = parse_frame_batch(want);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, b);
}

TEST(FrameCodec, H264AnySizeWithinTheLimit) {
  FrameBatch b = h264_batch();
  for (auto [w, h] : {std::pair{2, 2}, {1920, 1080}, {4096, 2160}, {8192, 8192}, {641, 479}}) {
    b.header.width = static_cast<uint16_t>(w);
    b.header.height = static_cast<uint16_t>(h);
    EXPECT_TRUE(stream_header_valid(b.header)) << w << "x" << h;
    auto back = parse_frame_batch(*serialize_frame_batch(b));
    ASSERT_TRUE(back.has_value()) << w << "x" << h;
    EXPECT_EQ(back->header.width, w);
  }
  b.header.width = FrameCodecLimits::kMaxDimension + 1;
  EXPECT_FALSE(stream_header_valid(b.header));
  b.header.width = 0;
  EXPECT_FALSE(stream_header_valid(b.header));
}

TEST(FrameCodecMalformed, EmptyInput) { EXPECT_EQ(parse_error({}), FrameCodecError::Truncated); }

TEST(FrameCodecMalformed, EveryTruncationFails) {
  const auto bytes = encoded();
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(parse_error(std::span(bytes.data(), n)), FrameCodecError::Truncated) << n;
  }
}

TEST(FrameCodecMalformed, BadVersion) {
  auto bytes = encoded();
  bytes[0] = 2;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadVersion);
  bytes[0] = 0;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadVersion);
}

TEST(FrameCodecMalformed, ReservedBatchFlags) {
  auto bytes = encoded();
  bytes[1] |= 0x80;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadFlags);
}

TEST(FrameCodecMalformed, ReservedFrameFlags) {
  auto bytes = encoded();
  bytes[kFirstFrame + 1] = 0x03;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadFlags);
}

TEST(FrameCodecMalformed, UnknownCodecs) {
  auto bytes = encoded();
  bytes[2] = 7;  // video codec
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
  bytes = encoded();
  bytes[2] = 3;  // the first value after H.264
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
  bytes[2] = 2;  // H.264 itself is fine
  EXPECT_EQ(parse_error(bytes), std::nullopt);
  FrameBatch b = sample_batch();
  b.header.video_codec = static_cast<StreamHeader::VideoCodec>(3);
  EXPECT_FALSE(stream_header_valid(b.header));
  EXPECT_FALSE(serialize_frame_batch(b).has_value());
  bytes = encoded();
  bytes[11] = 0xFF;  // audio codec
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
}

TEST(FrameCodecMalformed, ZeroDimensionsAndChannels) {
  auto bytes = encoded();
  bytes[3] = bytes[4] = 0;  // width 0
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
  bytes = encoded();
  bytes[9] = bytes[10] = 0;  // fps_den 0
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
  bytes = encoded();
  bytes[16] = 0;  // channels 0
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
  bytes = encoded();
  bytes[16] = 200;  // channels too many
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
  bytes = encoded();
  bytes[3] = 0xFF;  // width 65280 > 8192
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
}

TEST(FrameCodecMalformed, NoStreamsAtAll) {
  auto bytes = encoded();
  bytes[2] = 0;   // no video
  bytes[11] = 0;  // no audio
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadHeader);
}

TEST(FrameCodecMalformed, FrameCountTooLarge) {
  auto bytes = encoded();
  bytes[kCountOffset] = 0xFF;
  bytes[kCountOffset + 1] = 0xFF;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::TooManyFrames);
}

TEST(FrameCodecMalformed, FrameCountBeyondInput) {
  auto bytes = encoded();
  bytes[kCountOffset] = 0;
  bytes[kCountOffset + 1] = 200;  // allowed count but the input cannot hold 200 frames
  EXPECT_EQ(parse_error(bytes), FrameCodecError::Truncated);
}

TEST(FrameCodecMalformed, FrameCountTooSmallLeavesTrailingBytes) {
  auto bytes = encoded();
  bytes[kCountOffset + 1] = 3;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::TrailingBytes);
  bytes = encoded();
  bytes.push_back(0);
  EXPECT_EQ(parse_error(bytes), FrameCodecError::TrailingBytes);
}

TEST(FrameCodecMalformed, BadFrameKind) {
  auto bytes = encoded();
  bytes[kFirstFrame] = 3;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadKind);
  bytes[kFirstFrame] = 0;
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadKind);
}

TEST(FrameCodecMalformed, VideoFrameInAudioOnlyStream) {
  auto bytes = encoded();
  bytes[2] = 0;  // header says no video, first frame is video
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadKind);
}

TEST(FrameCodecMalformed, FrameSizeOverLimit) {
  auto bytes = encoded();
  const size_t size_at = kFirstFrame + 14;
  bytes[size_at] = 0x7F;  // 2 GiB
  EXPECT_EQ(parse_error(bytes), FrameCodecError::FrameTooLarge);
}

TEST(FrameCodecMalformed, FrameSizeBeyondInput) {
  auto bytes = encoded();
  const size_t size_at = kFirstFrame + 14;
  bytes[size_at + 2] = 0x01;  // 256 + 5 bytes: within limit, beyond input
  EXPECT_EQ(parse_error(bytes), FrameCodecError::Truncated);
}

TEST(FrameCodecMalformed, NegativeOrHugeTimestamp) {
  auto bytes = encoded();
  bytes[kFirstFrame + 2] = 0x80;  // pts with the sign bit set
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadTimestamp);
  bytes = encoded();
  bytes[kFirstFrame + 10] = 0x7F;  // duration ~2e9 us
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadTimestamp);
}

TEST(FrameCodecMalformed, TimestampGoingBackwardsWithinAKind) {
  FrameBatch b = sample_batch();
  b.frames[3].pts_us = 500'000;  // second video frame before the first
  auto written = serialize_frame_batch(b);
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error(), FrameCodecError::BadTimestamp);
  // Same batch forged on the wire.
  auto bytes = encoded();
  const size_t second_video = kFirstFrame + 3 * FrameCodecLimits::kFrameHeaderBytes + 5 + 2 + 0;
  ASSERT_EQ(bytes[second_video], 2);
  std::memset(&bytes[second_video + 2], 0, 8);
  EXPECT_EQ(parse_error(bytes), FrameCodecError::BadTimestamp);
}

TEST(FrameCodecMalformed, OversizedInput) {
  std::vector<uint8_t> big(FrameCodecLimits::kMaxTotalBytes + 1, 0);
  big[0] = 1;
  EXPECT_EQ(parse_error(big), FrameCodecError::TooLarge);
}

TEST(FrameCodecMalformed, SerializerRejectsWhatParserWould) {
  FrameBatch b = sample_batch();
  b.frames[0].data.resize(FrameCodecLimits::kMaxFrameBytes + 1);
  auto serialize_error = [](const FrameBatch& batch) -> std::optional<FrameCodecError> {
    auto r = serialize_frame_batch(batch);
    if (r) return std::nullopt;
    return r.error();
  };
  EXPECT_EQ(serialize_error(b), FrameCodecError::FrameTooLarge);
  b = sample_batch();
  b.header.width = 0;
  EXPECT_EQ(serialize_error(b), FrameCodecError::BadHeader);
  b = sample_batch();
  b.frames.resize(FrameCodecLimits::kMaxFrames + 1, b.frames[1]);
  EXPECT_EQ(serialize_error(b), FrameCodecError::TooManyFrames);
}

TEST(FrameCodecMalformed, RandomBitFlipsNeverCrash) {
  const auto good = encoded();
  uint32_t seed = 12345;
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    auto bytes = good;
    seed = seed * 1664525u + 1013904223u;
    const size_t pos = seed % bytes.size();
    bytes[pos] ^= static_cast<uint8_t>(1u << ((seed >> 16) % 8));
    auto r = parse_frame_batch(bytes);
    if (r) {
      ++accepted;
      // Anything accepted re-encodes to exactly the same bytes.
      EXPECT_EQ(*serialize_frame_batch(*r), bytes);
    } else {
      EXPECT_STRNE(to_string(r.error()), "unknown error");
    }
  }
  EXPECT_GT(accepted, 0u);  // flips inside payload bytes stay valid
}

}  // namespace
}  // namespace meshcast::media
