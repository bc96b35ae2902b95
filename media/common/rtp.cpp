#include "media/common/rtp.hpp"

namespace meshcast::media {
namespace {
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void wr32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
}  // namespace

Expected<RtpHeader, const char*> parse_rtp(std::span<const uint8_t> packet) {
  const size_t n = packet.size();
  if (n < 12) return unexpected("rtp: shorter than the fixed header");
  const uint8_t* p = packet.data();
  if ((p[0] >> 6) != 2) return unexpected("rtp: version is not 2");
  RtpHeader h;
  const bool padding = p[0] & 0x20;
  h.has_extension = p[0] & 0x10;
  const size_t cc = p[0] & 0x0f;
  h.marker = p[1] & 0x80;
  h.payload_type = p[1] & 0x7f;
  h.sequence = rd16(p + 2);
  h.timestamp = rd32(p + 4);
  h.ssrc = rd32(p + 8);
  size_t off = 12;
  if (n - off < cc * 4) return unexpected("rtp: CSRC list runs past the end");
  for (size_t i = 0; i < cc; ++i, off += 4) h.csrcs.push_back(rd32(p + off));
  if (h.has_extension) {
    if (n - off < 4) return unexpected("rtp: extension header runs past the end");
    h.extension_profile = rd16(p + off);
    const size_t words = rd16(p + off + 2);
    off += 4;
    if (n - off < words * 4) return unexpected("rtp: extension runs past the end");
    off += words * 4;
  }
  size_t end = n;
  if (padding) {
    const size_t pad = p[n - 1];
    // The padding count includes itself, so it is at least 1 and must fit after the header.
    if (pad == 0 || pad > end - off) return unexpected("rtp: bad padding count");
    end -= pad;
    h.padding_size = pad;
  }
  h.header_size = off;
  h.payload_size = end - off;
  return h;
}

std::vector<uint8_t> build_rtp(const RtpHeader& h, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  const size_t cc = h.csrcs.size() > 15 ? 15 : h.csrcs.size();
  out.reserve(12 + cc * 4 + payload.size());
  out.push_back(static_cast<uint8_t>(0x80 | cc));
  out.push_back(static_cast<uint8_t>((h.marker ? 0x80 : 0) | (h.payload_type & 0x7f)));
  out.push_back(static_cast<uint8_t>(h.sequence >> 8));
  out.push_back(static_cast<uint8_t>(h.sequence));
  wr32(out, h.timestamp);
  wr32(out, h.ssrc);
  for (size_t i = 0; i < cc; ++i) wr32(out, h.csrcs[i]);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

bool looks_like_rtcp(std::span<const uint8_t> packet) {
  if (packet.size() < 2 || (packet[0] >> 6) != 2) return false;
  return packet[1] >= 192 && packet[1] <= 223;
}

}  // namespace meshcast::media
