#pragma once
// Wire format of a segment payload: a FrameBatch as bytes, and back.
// The bytes arrive from untrusted relays (the mesh checks the signature before, but a
// signed-but-buggy or hostile broadcaster must not crash a viewer either), so the parser
// checks every length against the remaining input and enforces hard limits.
//
// Layout v1 (all integers big-endian):
//   u8 version (=1) | u8 flags (bit0 keyframe_start, others 0)
//   header: u8 video_codec (0 none, 1 VP8, 2 H.264) | u16 width | u16 height | u16 fps_num | u16
//   fps_den |
//           u8 audio_codec | u32 audio_rate | u8 audio_channels       (15 bytes)
//   u16 frame_count
//   frame_count x { u8 kind | u8 flags (bit0 keyframe) | u64 pts_us | u32 duration_us |
//                   u32 size | size bytes }
//
// H.264 (video_codec 2) was added without a version bump: the layout is unchanged, only a
// new codec value. Viewers built before it reject such a batch as BadHeader (unknown codec)
// and so cannot watch an H.264 broadcast; VP8 broadcasts are unaffected in both directions.
// An H.264 frame is one Annex-B access unit (see MediaFrame).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "media/broadcast/media_frame.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct FrameCodecLimits {
  static constexpr uint8_t kVersion = 1;
  static constexpr size_t kMaxFrames = 2048;
  static constexpr size_t kMaxFrameBytes = 1u << 20;      // 1 MiB: a huge key frame
  static constexpr size_t kMaxTotalBytes = 8u << 20;      // whole payload
  static constexpr int64_t kMaxPtsUs = int64_t{1} << 50;  // ~35 years
  static constexpr int64_t kMaxDurationUs = 10'000'000;   // 10 s per frame
  static constexpr uint16_t kMaxDimension = 8192;
  static constexpr uint32_t kMaxAudioRate = 192000;
  static constexpr uint8_t kMaxAudioChannels = 8;
  static constexpr size_t kHeaderBytes = 2 + 15 + 2;
  static constexpr size_t kFrameHeaderBytes = 1 + 1 + 8 + 4 + 4;
};

enum class FrameCodecError {
  Truncated,  // input ends inside a field
  TooLarge,   // input (or what would be written) exceeds kMaxTotalBytes
  BadVersion,
  BadFlags,   // reserved flag bits set
  BadHeader,  // unknown codec (> H.264 / > Opus), zero/oversized dimensions, bad rate/channels
  TooManyFrames,
  BadKind,  // unknown frame kind, or a kind the header says is absent
  FrameTooLarge,
  BadTimestamp,  // pts/duration out of range, or pts going backwards within a kind
  TrailingBytes,
};

const char* to_string(FrameCodecError e);

// Serializes a batch. Fails only when the batch breaks the same limits the parser
// enforces, so anything written can be read back.
Expected<std::vector<uint8_t>, FrameCodecError> serialize_frame_batch(const FrameBatch& batch);

// Parses bytes produced by serialize_frame_batch. Never throws on malformed input (only
// std::bad_alloc can escape); returns the first defect found instead.
Expected<FrameBatch, FrameCodecError> parse_frame_batch(std::span<const uint8_t> bytes);

// Checks a header alone (used by both directions).
bool stream_header_valid(const StreamHeader& h);

}  // namespace meshcast::media
