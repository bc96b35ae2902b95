#include "media/common/receive_stats.hpp"

#include <cstdlib>

namespace meshcast::media {

void ReceiveStatistics::on_packet(uint16_t seq, uint32_t rtp_ts, int64_t arrival_us) {
  if (!started_) {
    started_ = true;
    max_seq_ = seq;
    base_seq_ = seq;
  } else {
    const uint16_t delta = static_cast<uint16_t>(seq - max_seq_);
    if (delta < 0x8000) {  // in order (possibly with a gap)
      if (seq < max_seq_) ++cycles_;
      max_seq_ = seq;
    }
    // Older packets (reordered/duplicates) count as received but do not move max_seq.
  }
  ++received_;
  // A.8: transit time in RTP units; only differences matter.
  const int64_t arrival_rtp = arrival_us * static_cast<int64_t>(clock_rate_) / 1000000;
  const int64_t transit = arrival_rtp - static_cast<int64_t>(rtp_ts);
  if (have_transit_) {
    int64_t d = transit - last_transit_;
    // Timestamp wrap between two packets shows up as a huge d; ignore such a sample.
    if (std::llabs(d) < (1ll << 31))
      jitter_ += (static_cast<double>(std::llabs(d)) - jitter_) / 16.0;
  }
  last_transit_ = transit;
  have_transit_ = true;
}

ReportBlock ReceiveStatistics::make_report_block(uint32_t media_ssrc, uint32_t lsr, uint32_t dlsr) {
  ReportBlock b;
  b.ssrc = media_ssrc;
  const ReceptionStats s = stats();
  b.cumulative_lost = static_cast<int32_t>(s.cumulative_lost);
  b.highest_seq = s.extended_highest_seq;
  b.jitter = static_cast<uint32_t>(jitter_);
  b.lsr = lsr;
  b.dlsr = dlsr;
  const uint64_t expected =
      started_ ? (static_cast<uint64_t>(cycles_) << 16) + max_seq_ - base_seq_ + 1 : 0;
  const int64_t expected_interval = static_cast<int64_t>(expected - expected_prior_);
  const int64_t received_interval = static_cast<int64_t>(received_ - received_prior_);
  const int64_t lost_interval = expected_interval - received_interval;
  expected_prior_ = expected;
  received_prior_ = received_;
  last_fraction_ = (expected_interval <= 0 || lost_interval <= 0)
                       ? 0
                       : static_cast<uint8_t>((lost_interval << 8) / expected_interval);
  b.fraction_lost = last_fraction_;
  return b;
}

ReceptionStats ReceiveStatistics::stats() const {
  ReceptionStats s;
  if (!started_) return s;
  const uint64_t expected = (static_cast<uint64_t>(cycles_) << 16) + max_seq_ - base_seq_ + 1;
  s.packets_received = received_;
  s.cumulative_lost = static_cast<int64_t>(expected) - static_cast<int64_t>(received_);
  s.fraction_lost = last_fraction_ / 256.0;
  s.total_loss_ratio =
      s.cumulative_lost > 0 ? static_cast<double>(s.cumulative_lost) / expected : 0.0;
  s.jitter_ms = jitter_ * 1000.0 / clock_rate_;
  s.extended_highest_seq = (cycles_ << 16) | max_seq_;
  return s;
}

}  // namespace meshcast::media
