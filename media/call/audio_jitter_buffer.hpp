// Sans-IO audio jitter buffer and playout decision logic for the call receiver. No GStreamer,
// no Opus: it takes packets with their arrival time and, once per frame period, says what to
// play at `now`: a packet (Normal), the in-band FEC of the next packet (Fec), loss concealment
// (Plc), a stretch because the buffer ran dry (Expand), or silence before/after the stream.
//
// Timing model: d = arrival - rtp_ts/rate is a packet's relative transit; d_min over a
// sliding window is the fastest path. The frame with timestamp ts is due at
// d_min + ts/rate + target, target = clamp(frame + p90(d - d_min) + margin). Because the
// playout clock calls pop() once per frame, the actual playout lag L = now - d_min - ts/rate
// stays constant except where pop() deliberately stretches (Expand: lag +1 frame) or drops a
// frame (lag -1 frame) to follow the target.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace meshcast::media {

enum class PlayoutKind {
  Silence,  // not started yet, or the stream went quiet: play nothing / zeros, not counted
  Normal,   // decode `payload`
  Fec,      // decode `payload` (the NEXT packet) with decode_fec=1 for `samples`
  Plc,      // a packet is known lost (later ones are here) and no FEC: conceal
  Expand,   // buffer empty at playout time (late packet / jitter): conceal, do not advance
  Dtx,      // sender in discontinuous transmission: comfort noise via PLC, not a loss
};

const char* to_string(PlayoutKind k);

struct PlayoutDecision {
  PlayoutKind kind = PlayoutKind::Silence;
  std::vector<uint8_t> payload;
  uint32_t rtp_timestamp = 0;  // timestamp of the audio this decision produces
  uint32_t samples = 0;        // how much audio to produce (clock-rate units)
};

struct JitterBufferConfig {
  uint32_t clock_rate = 48000;
  // Lowest target: one frame + fec_margin_us, so the next packet (carrying FEC) is in hand when
  // a frame is missing (30 ms for 20 ms frames, 20 ms for 10 ms frames); never below
  // min_target_us.
  int64_t fec_margin_us = 10'000;
  int64_t min_target_us = 20'000;
  int64_t max_target_us = 300'000;
  int64_t margin_us = 5'000;
  size_t window_packets = 100;      // ~2 s of 20 ms packets for d_min and the jitter percentile
  int jitter_percentile = 90;       // isolated stalls above it are absorbed by Expand + drop
  int drop_streak = 10;             // pops in a row too late before dropping a frame (200 ms)
  int expand_streak = 5;            // pops in a row too early before stretching
  int64_t idle_after_us = 500'000;  // no packets for this long: the stream is quiet
  size_t max_packets = 500;
};

struct JitterBufferStats {
  uint64_t packets_received = 0;
  uint64_t packets_late = 0;  // arrived after their playout time, discarded
  uint64_t packets_duplicate = 0;
  uint64_t frames_normal = 0;
  uint64_t frames_fec = 0;
  uint64_t frames_plc = 0;
  uint64_t frames_expand = 0;
  uint64_t frames_dtx = 0;
  uint64_t frames_dropped = 0;  // packets skipped to reduce delay (accelerate)
  uint64_t frames_skipped = 0;  // missing frames skipped to catch up after stretching
  uint64_t resets = 0;
  int64_t target_us = 0;
  int64_t lag_us = 0;         // last playout lag L (buffering delay incl. jitter)
  int64_t jitter_pct_us = 0;  // the configured percentile of d - d_min
};

class AudioJitterBuffer {
 public:
  explicit AudioJitterBuffer(JitterBufferConfig cfg = {});

  // duration: the packet's audio length in clock-rate units (from the Opus TOC).
  void insert(uint16_t seq, uint32_t rtp_ts, std::vector<uint8_t> payload, uint32_t duration,
              int64_t arrival_us);

  // When the first frame is due; nullopt until the first packet.
  std::optional<int64_t> first_playout_us() const;

  // Decision for the next frame period. Call once per produced frame, at its playout time.
  PlayoutDecision pop(int64_t now_us);

  int64_t target_us() const { return target_us_; }
  size_t buffered_packets() const { return packets_.size(); }
  JitterBufferStats stats() const;
  void reset();

 private:
  struct Packet {
    uint16_t seq;
    uint32_t duration;
    std::vector<uint8_t> payload;
  };
  int64_t unwrap(uint32_t ts);
  int64_t ts_to_us(int64_t ext) const;
  void update_target();
  PlayoutDecision play(std::map<int64_t, Packet>::iterator it);
  PlayoutDecision conceal(PlayoutKind kind, uint32_t samples);

  JitterBufferConfig cfg_;
  std::map<int64_t, Packet> packets_;  // key: unwrapped (extended) RTP timestamp
  bool started_ = false;
  int64_t ref_ext_ = 0;
  uint32_t ref_ts_ = 0;
  int64_t next_ext_ = 0;
  int64_t first_playout_us_ = 0;
  uint32_t frame_ = 960;
  uint16_t last_seq_ = 0;
  bool have_last_seq_ = false;
  int64_t last_arrival_us_ = 0;
  std::deque<int64_t> transit_;  // d = arrival - ts/rate, µs
  int64_t d_min_ = 0;
  int64_t target_us_;
  int64_t jitter_pct_us_ = 0;
  int64_t lag_us_ = 0;
  int high_streak_ = 0, low_streak_ = 0;
  uint64_t expands_since_play_ = 0;  // reclassified as DTX if the gap turns out to be one
  int64_t last_end_ext_ = 0;         // end timestamp of the last packet played
  JitterBufferStats st_;
};

}  // namespace meshcast::media
