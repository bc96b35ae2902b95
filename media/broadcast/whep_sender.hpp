// Viewer side, WHEP playback: one browser's WebRTC leg fed with the frames the viewer plays,
// sent as they are (no re-encoding).
//
//   appsrc (VP8)  ! clocksync ! rtpvp8pay                                 ! webrtcbin (sendonly)
//   appsrc (H264) ! h264parse ! clocksync ! rtph264pay config-interval=-1 ! webrtcbin
//   appsrc (Opus) ! clocksync ! rtpopuspay                                ! webrtcbin
//
// Segments arrive a batch at a time; the frames get one timeline for audio and video
// (arrival of the first key frame + a small lead) and clocksync paces them out, so the
// browser sees a steady stream. The leg starts at a video key frame; its queues are bounded
// and drop the oldest data, so a stalled browser costs memory only up to that bound.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "media/broadcast/media_frame.hpp"
#include "media/common/webrtc_leg.hpp"

namespace meshcast::media {

// The payload types the browser's offer uses for the stream's codecs.
struct WhepCodecs {
  int video_pt = -1;  // -1: the stream has no video, or the offer cannot take it
  int audio_pt = -1;
};

class WhepSender {
 public:
  struct Stats {
    uint64_t video_frames = 0;
    uint64_t audio_frames = 0;
    uint64_t dropped_before_keyframe = 0;
    uint64_t rebases = 0;  // the timeline was reset after frames came far too late
  };

  WhepSender(GMainContext* context, WebrtcLegConfig config, StreamHeader header, WhepCodecs codecs);
  ~WhepSender();
  WhepSender(const WhepSender&) = delete;
  WhepSender& operator=(const WhepSender&) = delete;

  // The leg ended by itself (ICE/DTLS failed or closed, pipeline error).
  void set_on_closed(std::function<void(const std::string&)> cb) { on_closed_ = std::move(cb); }
  void start(const std::string& offer, WebrtcLeg::AnswerFn done);
  void add_remote_candidate(unsigned mline, const std::string& candidate) {
    leg_.add_remote_candidate(mline, candidate);
  }
  // A frame the viewer plays (main context). Frames of another stream header are ignored.
  void push(const StreamHeader& header, const MediaFrame& frame);
  void stop();

  const std::string& ice_state() const { return leg_.state(); }
  // Monotonic time of the last RTCP from the browser (its receiver reports), -1 if none yet:
  // a browser that vanished without closing its leg stops sending them.
  int64_t last_feedback_us() const { return last_feedback_us_.load(); }
  Stats stats() const { return stats_; }

 private:
  Expected<void, std::string> link_branch(const char* payloader, const std::string& caps);
  static void on_ssrc_active(GstElement* rtpbin, guint session, guint ssrc, gpointer self);
  int64_t running_time_ns() const;

  GMainContext* context_;
  StreamHeader header_;
  WhepCodecs codecs_;
  WebrtcLeg leg_;
  GstElementPtr video_src_, audio_src_;
  bool started_ = false;  // the first key frame went out
  int64_t base_in_us_ = 0;
  int64_t base_out_ns_ = 0;
  int64_t last_out_ns_[3] = {-1, -1, -1};
  bool stopped_ = false;
  GstElementPtr rtpbin_;
  std::atomic<int64_t> last_feedback_us_{-1};
  Stats stats_;
  std::function<void(const std::string&)> on_closed_;
};

}  // namespace meshcast::media
