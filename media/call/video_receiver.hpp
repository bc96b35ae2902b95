// RTP VP8 -> rtpjitterbuffer (low latency) -> rtpvp8depay -> vp8dec -> display / null, and
// optionally the VP8 stream muxed into WebM (no re-encode; finalized on stop). Detects gaps
// itself and asks for retransmission with generic NACKs; asks for a keyframe with PLI when the
// depayloader reports an undecodable frame or while no frame decodes. Feedback packets go out
// through on_rtcp_feedback for the call to send.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "media/common/main_context_queue.hpp"
#include "media/common/nack_tracker.hpp"
#include "media/common/pipeline_runner.hpp"
#include "media/common/receive_stats.hpp"
#include "media/common/rtcp.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct VideoReceiverConfig {
  std::string sink = "null";  // device | null | file:PATH.webm
  int latency_ms = 50;        // rtpjitterbuffer latency (webrtcbin's default is 200)
  uint8_t payload_type = 96;
  uint32_t local_ssrc = 0;  // sender SSRC in our feedback packets; 0: random
  bool nack = true;
  int64_t pli_min_interval_us = 500'000;
  int64_t stall_pli_after_us = 1'000'000;  // packets arrive but nothing decodes: PLI
};

struct VideoReceiverStats {
  uint64_t packets_received = 0;
  uint64_t packets_invalid = 0;
  uint64_t frames_decoded = 0;
  uint64_t nack_packets_sent = 0;
  uint64_t nack_seqs_requested = 0;
  uint64_t plis_sent = 0;
  uint64_t keyframe_requests_from_depay = 0;
  ReceptionStats reception;
};

class VideoReceiver {
 public:
  explicit VideoReceiver(VideoReceiverConfig cfg, GMainContext* ctx = nullptr);
  ~VideoReceiver();
  VideoReceiver(const VideoReceiver&) = delete;
  VideoReceiver& operator=(const VideoReceiver&) = delete;

  // The reason when the config is invalid or the pipeline cannot be built or started.
  Expected<void, std::string> start();
  void stop();  // EOS through the pipeline (finalizes WebM), bounded to 3 s

  void push_rtp(std::span<const uint8_t> packet);  // main context

  void set_on_rtcp_feedback(std::function<void(std::vector<uint8_t>)> cb) {
    on_rtcp_feedback_ = std::move(cb);
  }  // NACK / PLI, main context
  void set_on_error(std::function<void(const std::string&)> cb) { on_error_ = std::move(cb); }

  VideoReceiverStats stats() const;
  uint32_t local_ssrc() const { return local_ssrc_; }
  uint32_t remote_ssrc() const { return remote_ssrc_; }
  // RFC 3550 report block about the video stream (closes the loss interval); nullopt before
  // the first packet. Retransmissions count as received.
  std::optional<ReportBlock> make_report_block();

 private:
  std::function<void(const std::string&)> on_error_;
  std::function<void(std::vector<uint8_t>)> on_rtcp_feedback_;
  static gboolean on_timer(gpointer self);
  void send_nacks(int64_t now);
  void send_pli(int64_t now);

  VideoReceiverConfig cfg_;
  MainContextQueue queue_;
  PipelineRunner runner_;
  GstElementPtr appsrc_;
  SourceGuard timer_;
  uint32_t local_ssrc_;
  bool running_ = false;
  bool have_ssrc_ = false;
  uint32_t remote_ssrc_ = 0;
  NackTracker nacks_;
  ReceiveStatistics rx_{90000};
  std::shared_ptr<std::atomic<uint64_t>> frames_ = std::make_shared<std::atomic<uint64_t>>(0);
  uint64_t frames_at_last_check_ = 0;
  int64_t last_frame_progress_us_ = 0;
  int64_t last_pli_us_ = 0;
  int64_t last_packet_us_ = 0;
  VideoReceiverStats st_;
};

}  // namespace meshcast::media
