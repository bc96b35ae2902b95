// Broadcaster side, WHIP ingest: one publisher's WebRTC session (OBS, a browser, GStreamer)
// received with webrtcbin and handed on as MediaFrames without re-encoding.
//
// With a Transcode config, video is decoded and re-encoded to VP8 at a fixed size instead:
//   ... depay ! vp8dec | h264parse ! avdec_h264 ! videoconvert ! videoscale ! videorate !
//   I420 WxH@fps ! vp8enc (CBR, a key frame a second) -> appsink
//
//   webrtcbin (recvonly) -> rtpvp8depay                                  -> appsink  (VP8)
//                        -> rtph264depay ! h264parse (SPS/PPS per IDR,
//                           byte-stream, one access unit per buffer)   -> appsink  (H.264)
//                        -> rtpopusdepay                                -> appsink  (Opus)
//
// Frames start at the first video key frame (a segment must open on one), timestamps are
// microseconds since it, per kind never decreasing (the frame codec refuses a step back).
// The publisher makes key frames when asked: a PLI on join of the video, whenever none came
// for keyframe_interval_ms (browsers send VP8 key frames only on request) and on
// request_keyframe().
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "media/broadcast/media_frame.hpp"
#include "media/common/source_guard.hpp"
#include "media/common/webrtc_leg.hpp"

namespace meshcast::media {

// The codecs chosen from the publisher's offer (payload types as the offer numbers them).
struct WhipCodecs {
  StreamHeader::VideoCodec video = StreamHeader::VideoCodec::None;
  int video_pt = -1;
  int audio_pt = -1;  // Opus; -1 = no audio
  int audio_channels = 2;
};

struct WhipSourceConfig {
  WebrtcLegConfig leg;
  // Re-encode the publisher's video to VP8 at a fixed size and rate (the audio stays Opus as
  // sent). Unset: pass through unchanged.
  struct Transcode {
    int width = 640, height = 360, fps = 30;
    int video_kbps = 700;
    int cpu_used = 8;  // vp8enc speed/quality trade-off, as for capture
  };
  std::optional<Transcode> transcode;
  int latency_ms = 100;  // webrtcbin's jitter buffer
  int keyframe_interval_ms = 1000;
  int min_forced_keyframe_gap_ms = 500;
};

class WhipSource {
 public:
  using FrameCallback = std::function<void(const MediaFrame&)>;
  using HeaderCallback = std::function<void(const StreamHeader&)>;
  using MessageCallback = std::function<void(const std::string&)>;

  struct Stats {
    uint64_t video_frames = 0;
    uint64_t audio_frames = 0;
    uint64_t keyframes = 0;
    uint64_t video_bytes = 0;
    uint64_t audio_bytes = 0;
    uint64_t dropped_before_keyframe = 0;
    uint64_t keyframe_requests = 0;  // PLIs asked of the publisher
  };

  WhipSource(GMainContext* context, WhipSourceConfig config, WhipCodecs codecs);
  ~WhipSource();
  WhipSource(const WhipSource&) = delete;
  WhipSource& operator=(const WhipSource&) = delete;

  // The header is known at the first video key frame (the size comes from the stream) and
  // reported again when the publisher changes its size; it precedes the frames it covers.
  void set_on_header(HeaderCallback cb) { on_header_ = std::move(cb); }
  void set_on_frame(FrameCallback cb) { on_frame_ = std::move(cb); }
  // The session ended by itself: ICE/DTLS failed, the pipeline failed, or no media came.
  void set_on_closed(MessageCallback cb) { on_closed_ = std::move(cb); }

  // Builds the pipeline and answers the offer (done: the SDP answer or the reason).
  void start(const std::string& offer, WebrtcLeg::AnswerFn done);
  void add_remote_candidate(unsigned mline, const std::string& candidate) {
    leg_.add_remote_candidate(mline, candidate);
  }
  void stop();
  // Asks the publisher for a key frame (PLI), at most once per min_forced_keyframe_gap_ms.
  bool request_keyframe();

  const std::optional<StreamHeader>& header() const { return header_; }
  const WhipCodecs& codecs() const { return codecs_; }
  const std::string& ice_state() const { return leg_.state(); }
  Stats stats() const { return stats_; }

 private:
  struct Raw {  // a depayloaded unit, copied off the streaming thread
    bool video = false;
    int64_t pts_ns = 0;
    int64_t duration_ns = -1;
    bool delta = false;
    int width = 0, height = 0;
    std::vector<uint8_t> data;
  };
  static GstFlowReturn on_sample(GstElement* appsink, gpointer self);
  static void on_pad_added(GstElement* webrtc, GstPad* pad, gpointer self);
  static gboolean on_keyframe_check(gpointer self);
  void deliver(Raw& raw);
  void add_transceivers();
  void closed(const std::string& why);

  GMainContext* context_;
  WhipSourceConfig config_;
  WhipCodecs codecs_;
  StreamHeader::VideoCodec output_codec_;  // what goes out: the publisher's, or VP8 transcoded
  WebrtcLeg leg_;
  GstElementPtr video_sink_;
  std::optional<StreamHeader> header_;
  int64_t base_ns_ = -1;
  int64_t last_pts_us_[3] = {-1, -1, -1};
  int64_t last_video_ns_ = -1;
  int64_t video_spacing_ns_ = 33'333'333;
  int64_t last_keyframe_at_us_ = -1;  // monotonic
  int64_t last_request_at_us_ = -1;   // monotonic
  int64_t last_media_at_us_ = -1;     // monotonic
  int64_t started_at_us_ = -1;
  SourceGuard keyframe_timer_;
  Stats stats_;
  bool stopped_ = false;
  HeaderCallback on_header_;
  FrameCallback on_frame_;
  MessageCallback on_closed_;
};

// A VP8 key frame's size from its uncompressed header (RFC 6386 9.1); nullopt if the data
// is not a key frame or too short.
std::optional<std::pair<int, int>> vp8_keyframe_size(const std::vector<uint8_t>& frame);

}  // namespace meshcast::media
