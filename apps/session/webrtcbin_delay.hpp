// Reference for the call delay benchmark: GStreamer's webrtcbin with default settings, two
// instances in this process connected directly (SDP offer/answer and ICE candidates handed
// over in-process), ICE restricted to 127.0.0.1, DTLS-SRTP, Opus. Sender: audiotestsrc
// clicks -> opusenc -> rtpopuspay -> webrtcbin; receiver: webrtcbin (its rtpjitterbuffer at
// the default latency) -> rtpopusdepay -> opusdec -> fakesink sync=true. The same
// ClickDetector taps capture (identity after the source) and render (fakesink handoff).
#pragma once

#include <string>

#include "media/call/delay_meter.hpp"

namespace meshcast::app {

struct WebrtcbinDelayResult {
  media::DelayStats stats;
  bool connected = false;
  double first_media_ms = 0;  // PLAYING -> first RTP out of the receiver (ICE + DTLS done)
  std::string error;          // why nothing was measured, if so
};

// Runs for `warmup_s` + `seconds` after media flows (+ up to 10 s to connect); clicks
// captured during the warm-up are not counted.
WebrtcbinDelayResult measure_webrtcbin_delay(double seconds, int tick_interval_ms = 500,
                                             double warmup_s = 1.0);

}  // namespace meshcast::app
