// Microphone (or test tone / WAV file) -> 48 kHz mono PCM (GStreamer appsink) -> libopus
// (20 or 10 ms frames, in-band FEC, optional DTX, runtime loss hint) -> RFC 7587 RTP packets.
// libopus is driven directly rather than through opusenc so the loss hint, FEC and DTX can be
// changed per packet and every packet's capture time is known exactly.
//
// Threading: encoding runs on the GStreamer streaming thread; packets are handed to the main
// context through a MainContextQueue, and every callback fires on that context.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "media/common/main_context_queue.hpp"
#include "media/common/pipeline_runner.hpp"
#include "media/common/rtcp.hpp"
#include "mesh/base/expected.hpp"

struct OpusEncoder;

namespace meshcast::media {

struct AudioSenderConfig {
  // device | test[:HZ] | ticks[:INTERVAL_MS] | file:PATH.wav
  std::string source = "test:440";
  int frame_ms = 20;  // 20 or 10
  int bitrate_bps = 32000;
  bool fec = true;
  bool dtx = false;
  int expected_loss_pct = 10;  // encoder hint; FEC is only produced when this is > 0
  uint8_t payload_type = 111;
  uint32_t ssrc = 0;  // 0: random
};

struct AudioSenderStats {
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;  // RTP bytes
  uint64_t frames_encoded = 0;
  uint64_t frames_dtx = 0;  // not sent: the encoder signalled silence (DTX)
  int expected_loss_pct = 0;
  int bitrate_bps = 0;
};

class AudioSender {
 public:
  explicit AudioSender(AudioSenderConfig cfg, GMainContext* ctx = nullptr);
  ~AudioSender();
  AudioSender(const AudioSender&) = delete;
  AudioSender& operator=(const AudioSender&) = delete;

  // The reason when the config is invalid or the pipeline cannot be built or started.
  Expected<void, std::string> start();
  void stop();

  // Runtime controls (any thread); applied before the next encoded frame.
  void set_expected_loss(int pct);
  void set_bitrate(int bps);

  // Callbacks, all on the main context. Set them before start().
  void set_on_rtp(std::function<void(std::vector<uint8_t>)> cb) { on_rtp_ = std::move(cb); }
  // Tap on the captured PCM (48 kHz mono) with the capture time of its first sample.
  void set_on_captured(std::function<void(std::span<const int16_t>, int64_t capture_us)> cb) {
    on_captured_ = std::move(cb);
  }
  void set_on_eos(std::function<void()> cb) { on_eos_ = std::move(cb); }  // file source finished
  void set_on_error(std::function<void(const std::string&)> cb) { on_error_ = std::move(cb); }

  uint32_t ssrc() const { return ssrc_; }
  AudioSenderStats stats() const;
  // Monotonic capture time (µs) of the first sample of the packet with this RTP timestamp,
  // for the recent ~10 s of packets.
  std::optional<int64_t> capture_time_us(uint32_t rtp_ts) const;

  // RTCP: a sender report for now (NTP from wall clock, RTP time extrapolated from the last
  // packet), and the RTT from a receiver's report block about us.
  SenderReport make_sender_report() const;
  std::optional<double> rtt_ms(const ReportBlock& block) const;

 private:
  std::function<void(const std::string&)> on_error_;
  std::function<void()> on_eos_;
  std::function<void(std::span<const int16_t>, int64_t capture_us)> on_captured_;
  std::function<void(std::vector<uint8_t>)> on_rtp_;
  struct Encoded {
    std::vector<uint8_t> packet;
    uint32_t rtp_ts;
    int64_t capture_us;
    bool dtx;
  };
  static GstFlowReturn on_new_sample(GstElement* sink, gpointer self);
  void handle_pcm(const int16_t* pcm, size_t n, int64_t first_sample_us);  // streaming thread
  void deliver(Encoded e);                                                 // main context

  AudioSenderConfig cfg_;
  MainContextQueue queue_;
  PipelineRunner runner_;
  OpusEncoder* enc_ = nullptr;
  uint32_t ssrc_;
  bool running_ = false;

  // Streaming-thread state.
  std::vector<int16_t> pending_;
  int64_t pending_start_us_ = 0;
  uint16_t seq_;
  uint32_t ts_;
  bool after_dtx_ = true;  // RFC 7587: marker on the first packet of a talkspurt
  std::atomic<int> want_loss_, want_bitrate_;
  int cur_loss_ = -1, cur_bitrate_ = -1;
  std::atomic<bool> tap_ = false;

  // Main-context state.
  AudioSenderStats stats_;
  std::unordered_map<uint32_t, int64_t> capture_times_;
  std::deque<uint32_t> capture_order_;
  uint32_t last_rtp_ts_ = 0;
  int64_t last_capture_us_ = 0;
};

}  // namespace meshcast::media
