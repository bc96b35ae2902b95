// Receiver-side RTP statistics as in RFC 3550 appendix A.1 (sequence tracking), A.3 (loss)
// and A.8 (interarrival jitter). Sans-IO: callers pass arrival times.
#pragma once

#include <cstdint>

#include "media/common/rtcp.hpp"

namespace meshcast::media {

struct ReceptionStats {
  uint64_t packets_received = 0;
  int64_t cumulative_lost = 0;    // expected - received (may go negative with duplicates)
  double fraction_lost = 0.0;     // over the last report interval, 0..1
  double total_loss_ratio = 0.0;  // cumulative_lost / expected since the start
  double jitter_ms = 0.0;         // RFC 3550 interarrival jitter
  uint32_t extended_highest_seq = 0;
};

class ReceiveStatistics {
 public:
  explicit ReceiveStatistics(uint32_t clock_rate) : clock_rate_(clock_rate) {}

  // One received packet: its sequence number, RTP timestamp, and arrival time (µs).
  void on_packet(uint16_t seq, uint32_t rtp_ts, int64_t arrival_us);

  // Numbers for a report; closes the current loss interval (fraction_lost is per interval).
  ReportBlock make_report_block(uint32_t media_ssrc, uint32_t lsr = 0, uint32_t dlsr = 0);

  // Current totals without closing the interval.
  ReceptionStats stats() const;

 private:
  uint32_t clock_rate_;
  bool started_ = false;
  uint16_t max_seq_ = 0;
  uint32_t cycles_ = 0;
  uint32_t base_seq_ = 0;
  uint64_t received_ = 0;
  uint64_t expected_prior_ = 0, received_prior_ = 0;
  uint8_t last_fraction_ = 0;
  double jitter_ = 0;  // RTP units
  int64_t last_transit_ = 0;
  bool have_transit_ = false;
};

}  // namespace meshcast::media
