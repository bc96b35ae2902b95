// RTP fixed header (RFC 3550 section 5.1): bounds-checked parser and builder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mesh/base/expected.hpp"

namespace meshcast::media {

struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  std::vector<uint32_t> csrcs;
  bool has_extension = false;
  uint16_t extension_profile = 0;
  // Filled by parse_rtp: where the payload lies inside the parsed buffer.
  size_t header_size = 0;   // fixed header + CSRCs + extension
  size_t payload_size = 0;  // without padding
  size_t padding_size = 0;
};

// Parses an RTP packet, or says what is malformed (a static string: this runs per packet):
// short buffers, version != 2, CSRC list / extension / padding running past the end.
Expected<RtpHeader, const char*> parse_rtp(std::span<const uint8_t> packet);

// The payload of a packet parse_rtp accepted.
inline std::span<const uint8_t> rtp_payload(std::span<const uint8_t> packet, const RtpHeader& h) {
  return packet.subspan(h.header_size, h.payload_size);
}

// Builds header + CSRCs + payload (no extension, no padding).
std::vector<uint8_t> build_rtp(const RtpHeader& header, std::span<const uint8_t> payload);

// RFC 5761 demultiplexing of RTP and RTCP on one port: RTCP packet types 192..223 in byte 1.
bool looks_like_rtcp(std::span<const uint8_t> packet);

// Signed distance a - b in 16-bit sequence space (handles wrap-around).
inline int16_t seq_diff(uint16_t a, uint16_t b) { return static_cast<int16_t>(a - b); }

}  // namespace meshcast::media
