// Camera or test pattern -> VP8 tuned for real time (deadline=1, lag-in-frames=0, error
// resilient, bounded keyframe distance, CBR) -> rtpvp8pay (PT 96) -> RTP packets on the main
// context. Keeps recent packets for NACK retransmission and forces keyframes on PLI.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "media/common/main_context_queue.hpp"
#include "media/common/pipeline_runner.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct VideoSenderConfig {
  std::string source = "test";  // device | test
  int width = 640, height = 480, fps = 30;
  int bitrate_bps = 800'000;
  int keyframe_max_dist = 60;
  uint8_t payload_type = 96;
  uint32_t ssrc = 0;  // 0: random
  int mtu = 1200;
  size_t history_packets = 1024;  // retransmission buffer (~1 s at 800 kbit/s)
};

struct VideoSenderStats {
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t packets_resent = 0;
  uint64_t resend_misses = 0;  // NACKed packets no longer in the history
  uint64_t keyframes_forced = 0;
};

class VideoSender {
 public:
  explicit VideoSender(VideoSenderConfig cfg, GMainContext* ctx = nullptr);
  ~VideoSender();
  VideoSender(const VideoSender&) = delete;
  VideoSender& operator=(const VideoSender&) = delete;

  // The reason when the config is invalid or the pipeline cannot be built or started.
  Expected<void, std::string> start();
  void stop();

  void set_bitrate(int bps);
  void request_keyframe();                         // PLI: GstForceKeyUnit to the encoder
  void resend(const std::vector<uint16_t>& seqs);  // NACK: resend from history via on_rtp
  // Convenience: parse an RTCP compound from the peer and act on NACK / PLI for our SSRC.
  void handle_rtcp(std::span<const uint8_t> rtcp);

  void set_on_rtp(std::function<void(std::vector<uint8_t>)> cb) {
    on_rtp_ = std::move(cb);
  }  // main context
  void set_on_error(std::function<void(const std::string&)> cb) { on_error_ = std::move(cb); }

  uint32_t ssrc() const { return ssrc_; }
  VideoSenderStats stats() const { return st_; }

 private:
  std::function<void(const std::string&)> on_error_;
  std::function<void(std::vector<uint8_t>)> on_rtp_;
  static GstFlowReturn on_new_sample(GstElement* sink, gpointer self);
  void deliver(std::vector<uint8_t> pkt);

  VideoSenderConfig cfg_;
  MainContextQueue queue_;
  PipelineRunner runner_;
  GstElementPtr encoder_;
  uint32_t ssrc_;
  bool running_ = false;
  std::unordered_map<uint16_t, std::vector<uint8_t>> history_;
  std::deque<uint16_t> history_order_;
  VideoSenderStats st_;
};

}  // namespace meshcast::media
