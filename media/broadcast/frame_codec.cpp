#include "media/broadcast/frame_codec.hpp"

#include <cstring>

namespace meshcast::media {

namespace {

using L = FrameCodecLimits;

constexpr uint8_t kBatchFlagKeyframeStart = 0x01;
constexpr uint8_t kFrameFlagKeyframe = 0x01;

class Writer {
 public:
  explicit Writer(size_t reserve) { out_.reserve(reserve); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(const std::vector<uint8_t>& b) { out_.insert(out_.end(), b.begin(), b.end()); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// Every read checks the remaining length first; a failed read leaves ok() false and all
// later reads return zero, so the caller checks once per logical step.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }
  uint8_t u8() {
    if (!need(1)) return 0;
    return in_[pos_++];
  }
  uint16_t u16() {
    if (!need(2)) return 0;
    uint16_t v = static_cast<uint16_t>((in_[pos_] << 8) | in_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | in_[pos_ + i];
    pos_ += 4;
    return v;
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | in_[pos_ + i];
    pos_ += 8;
    return v;
  }
  std::span<const uint8_t> bytes(size_t n) {
    if (!need(n)) return {};
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  bool need(size_t n) {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

bool kind_allowed(uint8_t kind, const StreamHeader& h) {
  if (kind == static_cast<uint8_t>(MediaFrame::Kind::Audio)) return h.has_audio();
  if (kind == static_cast<uint8_t>(MediaFrame::Kind::Video)) return h.has_video();
  return false;
}

}  // namespace

const char* to_string(FrameCodecError e) {
  switch (e) {
    case FrameCodecError::Truncated:
      return "truncated input";
    case FrameCodecError::TooLarge:
      return "payload exceeds size limit";
    case FrameCodecError::BadVersion:
      return "unsupported frame batch version";
    case FrameCodecError::BadFlags:
      return "reserved flag bits set";
    case FrameCodecError::BadHeader:
      return "invalid stream header";
    case FrameCodecError::TooManyFrames:
      return "too many frames";
    case FrameCodecError::BadKind:
      return "invalid frame kind";
    case FrameCodecError::FrameTooLarge:
      return "frame exceeds size limit";
    case FrameCodecError::BadTimestamp:
      return "invalid timestamp";
    case FrameCodecError::TrailingBytes:
      return "trailing bytes after last frame";
  }
  return "unknown error";
}

bool stream_header_valid(const StreamHeader& h) {
  switch (h.video_codec) {
    case StreamHeader::VideoCodec::None:
      break;
    case StreamHeader::VideoCodec::VP8:
    case StreamHeader::VideoCodec::H264:
      // Any size within the limit (odd sizes too: H.264 crops, VP8 stores them as is).
      if (h.width == 0 || h.height == 0 || h.width > L::kMaxDimension ||
          h.height > L::kMaxDimension || h.fps_num == 0 || h.fps_den == 0)
        return false;
      break;
    default:
      return false;
  }
  switch (h.audio_codec) {
    case StreamHeader::AudioCodec::None:
      break;
    case StreamHeader::AudioCodec::Opus:
      if (h.audio_rate == 0 || h.audio_rate > L::kMaxAudioRate || h.audio_channels == 0 ||
          h.audio_channels > L::kMaxAudioChannels)
        return false;
      break;
    default:
      return false;
  }
  return h.has_video() || h.has_audio();
}

Expected<std::vector<uint8_t>, FrameCodecError> serialize_frame_batch(const FrameBatch& batch) {
  const StreamHeader& h = batch.header;
  if (!stream_header_valid(h)) return unexpected(FrameCodecError::BadHeader);
  if (batch.frames.size() > L::kMaxFrames) return unexpected(FrameCodecError::TooManyFrames);
  size_t total = L::kHeaderBytes;
  int64_t last_pts[3] = {-1, -1, -1};
  for (const auto& f : batch.frames) {
    const auto kind = static_cast<uint8_t>(f.kind);
    if (!kind_allowed(kind, h)) return unexpected(FrameCodecError::BadKind);
    if (f.data.size() > L::kMaxFrameBytes) return unexpected(FrameCodecError::FrameTooLarge);
    if (f.pts_us < 0 || f.pts_us > L::kMaxPtsUs || f.duration_us < 0 ||
        f.duration_us > L::kMaxDurationUs || f.pts_us < last_pts[kind])
      return unexpected(FrameCodecError::BadTimestamp);
    last_pts[kind] = f.pts_us;
    total += L::kFrameHeaderBytes + f.data.size();
    if (total > L::kMaxTotalBytes) return unexpected(FrameCodecError::TooLarge);
  }

  Writer w(total);
  w.u8(L::kVersion);
  w.u8(batch.keyframe_start ? kBatchFlagKeyframeStart : 0);
  w.u8(static_cast<uint8_t>(h.video_codec));
  w.u16(h.width);
  w.u16(h.height);
  w.u16(h.fps_num);
  w.u16(h.fps_den);
  w.u8(static_cast<uint8_t>(h.audio_codec));
  w.u32(h.audio_rate);
  w.u8(h.audio_channels);
  w.u16(static_cast<uint16_t>(batch.frames.size()));
  for (const auto& f : batch.frames) {
    w.u8(static_cast<uint8_t>(f.kind));
    w.u8(f.keyframe ? kFrameFlagKeyframe : 0);
    w.u64(static_cast<uint64_t>(f.pts_us));
    w.u32(static_cast<uint32_t>(f.duration_us));
    w.u32(static_cast<uint32_t>(f.data.size()));
    w.bytes(f.data);
  }
  return w.take();
}

Expected<FrameBatch, FrameCodecError> parse_frame_batch(std::span<const uint8_t> bytes) {
  if (bytes.size() > L::kMaxTotalBytes) return unexpected(FrameCodecError::TooLarge);
  Reader r(bytes);
  const uint8_t version = r.u8();
  const uint8_t flags = r.u8();
  if (!r.ok()) return unexpected(FrameCodecError::Truncated);
  if (version != L::kVersion) return unexpected(FrameCodecError::BadVersion);
  if (flags & ~kBatchFlagKeyframeStart) return unexpected(FrameCodecError::BadFlags);

  FrameBatch batch;
  batch.keyframe_start = (flags & kBatchFlagKeyframeStart) != 0;
  StreamHeader& h = batch.header;
  const uint8_t vcodec = r.u8();
  h.width = r.u16();
  h.height = r.u16();
  h.fps_num = r.u16();
  h.fps_den = r.u16();
  const uint8_t acodec = r.u8();
  h.audio_rate = r.u32();
  h.audio_channels = r.u8();
  const uint16_t count = r.u16();
  if (!r.ok()) return unexpected(FrameCodecError::Truncated);
  // Range-check the raw codec bytes before casting them into the enums.
  if (vcodec > static_cast<uint8_t>(StreamHeader::VideoCodec::H264) ||
      acodec > static_cast<uint8_t>(StreamHeader::AudioCodec::Opus))
    return unexpected(FrameCodecError::BadHeader);
  h.video_codec = static_cast<StreamHeader::VideoCodec>(vcodec);
  h.audio_codec = static_cast<StreamHeader::AudioCodec>(acodec);
  if (!stream_header_valid(h)) return unexpected(FrameCodecError::BadHeader);
  if (count > L::kMaxFrames) return unexpected(FrameCodecError::TooManyFrames);
  // Each frame needs at least its fixed header: reject impossible counts before allocating.
  if (r.remaining() / L::kFrameHeaderBytes < count) return unexpected(FrameCodecError::Truncated);

  batch.frames.reserve(count);
  int64_t last_pts[3] = {-1, -1, -1};
  for (uint16_t i = 0; i < count; ++i) {
    const uint8_t kind = r.u8();
    const uint8_t fflags = r.u8();
    const uint64_t pts = r.u64();
    const uint32_t duration = r.u32();
    const uint32_t size = r.u32();
    if (!r.ok()) return unexpected(FrameCodecError::Truncated);
    if (!kind_allowed(kind, h)) return unexpected(FrameCodecError::BadKind);
    if (fflags & ~kFrameFlagKeyframe) return unexpected(FrameCodecError::BadFlags);
    if (pts > static_cast<uint64_t>(L::kMaxPtsUs) || duration > L::kMaxDurationUs ||
        static_cast<int64_t>(pts) < last_pts[kind])
      return unexpected(FrameCodecError::BadTimestamp);
    if (size > L::kMaxFrameBytes) return unexpected(FrameCodecError::FrameTooLarge);
    auto data = r.bytes(size);
    if (!r.ok()) return unexpected(FrameCodecError::Truncated);
    last_pts[kind] = static_cast<int64_t>(pts);
    MediaFrame f;
    f.kind = static_cast<MediaFrame::Kind>(kind);
    f.keyframe = (fflags & kFrameFlagKeyframe) != 0;
    f.pts_us = static_cast<int64_t>(pts);
    f.duration_us = duration;
    f.data.assign(data.begin(), data.end());
    batch.frames.push_back(std::move(f));
  }
  if (r.remaining() != 0) return unexpected(FrameCodecError::TrailingBytes);
  return batch;
}

}  // namespace meshcast::media
