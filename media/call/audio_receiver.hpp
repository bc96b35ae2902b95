// RTP (RFC 7587 Opus) -> AudioJitterBuffer -> libopus decode (normal / FEC / PLC) -> appsrc ->
// device, null (fakesink sync=true) or WAV file. A playout clock on the main context pops one
// frame per frame period from the jitter buffer, so playout timing is real time.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "media/call/audio_jitter_buffer.hpp"
#include "media/common/main_context_queue.hpp"
#include "media/common/pipeline_runner.hpp"
#include "media/common/receive_stats.hpp"
#include "media/common/rtcp.hpp"
#include "mesh/base/expected.hpp"

struct OpusDecoder;

namespace meshcast::media {

struct AudioReceiverConfig {
  std::string sink = "null";  // device | null | file:PATH.wav
  JitterBufferConfig jitter;
  uint8_t payload_type = 111;
  // Time between handing a frame to the sink pipeline and its playout; covers appsrc ->
  // sink hand-over (device sinks add their own buffer on top).
  int64_t output_latency_us = 10'000;
};

struct AudioReceiverStats {
  JitterBufferStats jitter;      // frames_normal / frames_fec / frames_plc / frames_expand ...
  ReceptionStats reception;      // RFC 3550 loss and interarrival jitter
  uint64_t packets_invalid = 0;  // not RTP, wrong PT, foreign SSRC, bad Opus TOC
  uint64_t decode_errors = 0;
  uint64_t frames_played = 0;  // frames handed to the sink (all kinds but silence)
  // Frames from real or FEC data / all frames played (the "audio survives loss" figure).
  double data_fraction() const {
    const uint64_t all = jitter.frames_normal + jitter.frames_fec + jitter.frames_plc +
                         jitter.frames_expand + jitter.frames_dtx;
    return all ? double(jitter.frames_normal + jitter.frames_fec) / all : 0.0;
  }
};

class AudioReceiver {
 public:
  explicit AudioReceiver(AudioReceiverConfig cfg, GMainContext* ctx = nullptr);
  ~AudioReceiver();
  AudioReceiver(const AudioReceiver&) = delete;
  AudioReceiver& operator=(const AudioReceiver&) = delete;

  // The reason when the config is invalid or the pipeline cannot be built or started.
  Expected<void, std::string> start();
  // Sends EOS through the sink pipeline (finalizes a WAV file) and stops. Blocks <= 3 s.
  void stop();

  // One RTP packet (main context).
  void push_rtp(std::span<const uint8_t> packet);

  // Tap on the decoded audio with its playout time (monotonic µs) of the first sample: for
  // the null sink the moment fakesink renders it, otherwise the scheduled playout time.
  void set_on_played(std::function<void(std::span<const int16_t>, int64_t play_us)> cb) {
    on_played_ = std::move(cb);
  }
  // Every decision of the playout clock (RTP timestamp, playout time, kind).
  void set_on_frame(std::function<void(uint32_t rtp_ts, int64_t play_us, PlayoutKind)> cb) {
    on_frame_ = std::move(cb);
  }
  void set_on_error(std::function<void(const std::string&)> cb) { on_error_ = std::move(cb); }

  AudioReceiverStats stats() const;
  uint32_t remote_ssrc() const { return remote_ssrc_; }

  // RTCP: remember an incoming SR (for LSR/DLSR) and build our receiver report.
  void on_sender_report(const SenderReport& sr);
  ReceiverReport make_receiver_report(uint32_t local_ssrc);

 private:
  std::function<void(const std::string&)> on_error_;
  std::function<void(uint32_t rtp_ts, int64_t play_us, PlayoutKind)> on_frame_;
  std::function<void(std::span<const int16_t>, int64_t play_us)> on_played_;
  static gboolean on_tick(gpointer self);
  static void on_handoff(GstElement*, GstBuffer* buf, GstPad*, gpointer self);
  void schedule_tick();
  void play_one(int64_t due_us);

  AudioReceiverConfig cfg_;
  MainContextQueue queue_;
  PipelineRunner runner_;
  GstElementPtr appsrc_;
  OpusDecoder* dec_ = nullptr;
  AudioJitterBuffer jb_;
  ReceiveStatistics rx_{48000};
  bool running_ = false;
  bool null_sink_ = false;
  std::atomic<bool> tap_ = false;
  bool have_ssrc_ = false;
  uint32_t remote_ssrc_ = 0;
  int64_t last_packet_us_ = 0;
  SourceGuard tick_;         // one-shot, re-armed for every frame
  int64_t next_due_us_ = 0;  // monotonic time of the next frame's playout
  bool clock_running_ = false;
  AudioReceiverStats st_;
  uint32_t lsr_ = 0;
  int64_t lsr_arrival_us_ = 0;
};

}  // namespace meshcast::media
