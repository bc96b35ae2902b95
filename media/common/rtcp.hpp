// RTCP (RFC 3550 SR/RR, RFC 4585 generic NACK and PLI): builders and a bounds-checked parser
// for compound packets, plus NTP time helpers and the RTT computation from LSR/DLSR.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct ReportBlock {
  uint32_t ssrc = 0;            // source this block reports on
  uint8_t fraction_lost = 0;    // fixed point /256 since the previous report
  int32_t cumulative_lost = 0;  // 24-bit signed on the wire
  uint32_t highest_seq = 0;     // extended highest sequence number received
  uint32_t jitter = 0;          // interarrival jitter, RTP timestamp units
  uint32_t lsr = 0;             // middle 32 bits of the last SR's NTP time
  uint32_t dlsr = 0;            // delay since that SR, 1/65536 s
  bool operator==(const ReportBlock&) const = default;
};

struct SenderReport {
  uint32_t ssrc = 0;
  uint64_t ntp = 0;  // 32.32 fixed point NTP time
  uint32_t rtp_timestamp = 0;
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
  std::vector<ReportBlock> reports;
  bool operator==(const SenderReport&) const = default;
};

struct ReceiverReport {
  uint32_t ssrc = 0;
  std::vector<ReportBlock> reports;
  bool operator==(const ReceiverReport&) const = default;
};

// RFC 4585 6.2.1 generic NACK (RTPFB, FMT 1). seqs are the lost sequence numbers.
struct Nack {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  std::vector<uint16_t> seqs;
  bool operator==(const Nack&) const = default;
};

// RFC 4585 6.3.1 Picture Loss Indication (PSFB, FMT 1).
struct Pli {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  bool operator==(const Pli&) const = default;
};

// Any other well-formed RTCP packet (SDES, BYE, APP, ...): kept by type only.
struct OtherRtcp {
  uint8_t packet_type = 0;
  uint8_t count_or_format = 0;
  bool operator==(const OtherRtcp&) const = default;
};

using RtcpPacket = std::variant<SenderReport, ReceiverReport, Nack, Pli, OtherRtcp>;

std::vector<uint8_t> build_sr(const SenderReport& sr);
std::vector<uint8_t> build_rr(const ReceiverReport& rr);
std::vector<uint8_t> build_nack(const Nack& nack);  // packs seqs into PID/BLP pairs
std::vector<uint8_t> build_pli(const Pli& pli);

// Parses a compound RTCP packet. nullopt if any part is malformed (bad version, length past
// the end, report count larger than the packet, truncated FCI, ...).
Expected<std::vector<RtcpPacket>, const char*> parse_rtcp(std::span<const uint8_t> data);

// NTP helpers. unix_us: microseconds since 1970 (g_get_real_time()).
uint64_t ntp_from_unix_us(int64_t unix_us);
inline uint32_t ntp_mid32(uint64_t ntp) { return static_cast<uint32_t>(ntp >> 16); }

// RTT from a report block's LSR/DLSR and the arrival time of that report (middle 32 bits of
// NTP). Returns nullopt if no SR was seen yet (lsr == 0) or the result is negative.
std::optional<double> rtt_ms_from_report(uint32_t lsr, uint32_t dlsr, uint32_t arrival_mid32);

}  // namespace meshcast::media
