// Mouth-to-ear delay measurement with clicks: the sender's capture tap and the receiver's
// playout tap run a ClickDetector each on the shared monotonic clock; every received click is
// paired with the latest sent click before it. Works in one process or across processes on
// one machine (CLOCK_MONOTONIC is system-wide): collect sent/received onsets and call
// match_clicks().
#pragma once

#include <cstdint>
#include <vector>

#include "media/common/audio_analysis.hpp"

namespace meshcast::media {

class AudioSender;
class AudioReceiver;

struct DelayStats {
  std::vector<double> delays_ms;
  size_t clicks_sent = 0;
  size_t clicks_received = 0;
  double p50_ms = 0, p95_ms = 0, min_ms = 0, max_ms = 0;
};

// p50/p95 by nearest rank (stats::percentile), min and max of the delays.
DelayStats summarize_delays(std::vector<double> delays_ms, size_t sent, size_t received);

// Delay of each received onset from the latest sent onset before it (if < max_delay_us).
std::vector<double> match_clicks(const std::vector<int64_t>& sent_us,
                                 const std::vector<int64_t>& received_us,
                                 int64_t max_delay_us = 450'000);

// Attaches click detectors to a sender's on_captured and a receiver's on_played callbacks
// (replacing them). Use either side alone when sender and receiver live in different
// processes, then exchange sent_onsets()/received_onsets().
class DelayProbe {
 public:
  void attach_sender(AudioSender& s);
  void attach_receiver(AudioReceiver& r);
  const std::vector<int64_t>& sent_onsets() const { return sent_; }
  const std::vector<int64_t>& received_onsets() const { return received_; }
  DelayStats result(int64_t max_delay_us = 450'000) const;

 private:
  ClickDetector tx_{48000}, rx_{48000};
  std::vector<int64_t> sent_, received_;
};

struct DelayBenchOptions {
  double seconds = 10.0;
  int tick_interval_ms = 500;
  int frame_ms = 20;
  double loss = 0.0;  // in-process random loss between sender and receiver
  uint32_t seed = 1;
};

// Our media path in one process: AudioSender(ticks) -> [loss] -> AudioReceiver(null sink).
// Runs its own GLib main context for opts.seconds.
DelayStats measure_delay(const DelayBenchOptions& opts);

// Reference: GStreamer's stock receive path (rtpjitterbuffer, as used inside webrtcbin,
// default latency 200 ms) with opusenc/rtpopuspay/rtpopusdepay/opusdec, same clicks, same
// taps, no network.
DelayStats measure_gst_reference_delay(double seconds, int jitterbuffer_latency_ms = 200);

}  // namespace meshcast::media
