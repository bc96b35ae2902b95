#pragma once
// Encoded media units of a live broadcast and the stream-level codec description.
// Pure data: no GStreamer here, so the mesh and the frame codec can use it freely.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshcast::media {

// One encoded unit: an Opus packet (20 ms), a VP8 frame or an H.264 access unit. pts_us is
// the running time since the broadcast started (never negative). There is no separate DTS:
// video must have no B-frames (decode order = presentation order).
//
// H.264: one access unit in Annex-B byte-stream form (start codes, alignment=au). A key frame
// is an IDR access unit that carries its SPS and PPS in-band before the slice (the producer
// runs h264parse config-interval=-1), so a segment starting at a key frame is
// self-contained and a viewer can join there.
struct MediaFrame {
  enum class Kind : uint8_t { Audio = 1, Video = 2 };
  Kind kind = Kind::Audio;
  int64_t pts_us = 0;
  int64_t duration_us = 0;
  bool keyframe = false;  // always true for audio; VP8 key frames / H.264 IDR for video
  std::vector<uint8_t> data;

  bool is_video_keyframe() const { return kind == Kind::Video && keyframe; }
  bool operator==(const MediaFrame&) const = default;
};

// Codec parameters of the whole stream. Carried in every batch so that a viewer joining
// mid-stream can set up its decoder / muxer from any segment. width/height are the
// publisher's current picture size and may change mid-stream (a later batch carries the
// new size; the codec and audio parameters stay the same for the whole stream).
struct StreamHeader {
  // Values are wire bytes (frame_codec): never renumber.
  enum class VideoCodec : uint8_t { None = 0, VP8 = 1, H264 = 2 };
  enum class AudioCodec : uint8_t { None = 0, Opus = 1 };
  VideoCodec video_codec = VideoCodec::None;
  uint16_t width = 0;
  uint16_t height = 0;
  uint16_t fps_num = 0;
  uint16_t fps_den = 1;
  AudioCodec audio_codec = AudioCodec::None;
  uint32_t audio_rate = 0;
  uint8_t audio_channels = 0;

  bool has_video() const { return video_codec != VideoCodec::None; }
  bool has_audio() const { return audio_codec != AudioCodec::None; }
  bool operator==(const StreamHeader&) const = default;
};

// A run of consecutive frames: one segment's payload (typically 200-500 ms).
struct FrameBatch {
  StreamHeader header;
  // True when a viewer may start playing here: the batch's first video frame is a key
  // frame (or the stream has no video).
  bool keyframe_start = false;
  std::vector<MediaFrame> frames;

  // Earliest pts and latest pts+duration over all frames (0 when empty).
  int64_t start_pts_us() const;
  int64_t end_pts_us() const;
  int64_t duration_us() const { return end_pts_us() - start_pts_us(); }
  size_t media_bytes() const;
  bool operator==(const FrameBatch&) const = default;
};

}  // namespace meshcast::media
