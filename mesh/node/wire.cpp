#include "mesh/node/wire.hpp"

#include <algorithm>

namespace meshcast::node {
namespace {
constexpr uint8_t kRtcpApp = 204;
constexpr char kAppName[4] = {'M', 'E', 'S', 'H'};
constexpr size_t kAppHeader = 12;  // V/P/subtype, PT, length, SSRC, name
void put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(uint8_t(x >> 8));
  v.push_back(uint8_t(x));
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  put16(v, uint16_t(x >> 16));
  put16(v, uint16_t(x));
}
bool fail(std::string* e, const char* why) {
  if (e) *e = why;
  return false;
}
}  // namespace

std::vector<uint8_t> RtpWriter::wrap(std::span<const uint8_t> chunk, uint32_t timestamp) {
  std::vector<uint8_t> p;
  p.reserve(kRtpHeaderSize + chunk.size());
  p.push_back(0x80);
  p.push_back(kMeshChunkPayloadType);
  put16(p, next_seq++);
  put32(p, timestamp);
  put32(p, ssrc);
  p.insert(p.end(), chunk.begin(), chunk.end());
  return p;
}

std::optional<std::span<const uint8_t>> unwrap_chunk(std::span<const uint8_t> rtp,
                                                     std::string* error) {
  if (rtp.size() < kRtpHeaderSize) return fail(error, "rtp: shorter than header"), std::nullopt;
  if ((rtp[0] >> 6) != 2) return fail(error, "rtp: version is not 2"), std::nullopt;
  if ((rtp[1] & 0x7f) != kMeshChunkPayloadType)
    return fail(error, "rtp: not a mesh chunk payload type"), std::nullopt;
  size_t header = kRtpHeaderSize + 4u * (rtp[0] & 0x0f);  // CSRCs
  size_t end = rtp.size();
  if (rtp[0] & 0x10) {  // header extension
    if (rtp.size() < header + 4) return fail(error, "rtp: truncated extension"), std::nullopt;
    size_t words = (size_t(rtp[header + 2]) << 8) | rtp[header + 3];
    header += 4 + 4 * words;
  }
  if (rtp[0] & 0x20) {  // padding: last byte counts it
    if (end == 0 || rtp[end - 1] == 0) return fail(error, "rtp: bad padding"), std::nullopt;
    if (rtp[end - 1] > end) return fail(error, "rtp: padding too long"), std::nullopt;
    end -= rtp[end - 1];
  }
  if (header > end) return fail(error, "rtp: header longer than packet"), std::nullopt;
  return rtp.subspan(header, end - header);
}

std::vector<uint8_t> wrap_control(std::span<const uint8_t> msg, uint32_t ssrc) {
  size_t body = 2 + msg.size();
  size_t padded = (body + 3) & ~size_t(3);
  size_t total = kAppHeader + padded;
  if (total > kMaxWirePacket) return {};
  std::vector<uint8_t> p;
  p.reserve(total);
  p.push_back(0x80);  // V=2, no padding bit: our own length field says where data ends
  p.push_back(kRtcpApp);
  put16(p, uint16_t(total / 4 - 1));
  put32(p, ssrc);
  p.insert(p.end(), kAppName, kAppName + 4);
  put16(p, uint16_t(msg.size()));
  p.insert(p.end(), msg.begin(), msg.end());
  p.resize(total, 0);
  return p;
}

std::optional<std::span<const uint8_t>> unwrap_control(std::span<const uint8_t> rtcp,
                                                       std::string* error) {
  if (rtcp.size() < kAppHeader + 2) return fail(error, "rtcp: too short"), std::nullopt;
  if ((rtcp[0] >> 6) != 2) return fail(error, "rtcp: version is not 2"), std::nullopt;
  if (rtcp[1] != kRtcpApp) return fail(error, "rtcp: not an APP packet"), std::nullopt;
  size_t len = (size_t((size_t(rtcp[2]) << 8) | rtcp[3]) + 1) * 4;
  if (len > rtcp.size()) return fail(error, "rtcp: length beyond packet"), std::nullopt;
  for (int i = 0; i < 4; ++i)
    if (rtcp[8 + i] != uint8_t(kAppName[i]))
      return fail(error, "rtcp: APP name is not MESH"), std::nullopt;
  size_t n = (size_t(rtcp[12]) << 8) | rtcp[13];
  if (kAppHeader + 2 + n > len)
    return fail(error, "rtcp: message longer than packet"), std::nullopt;
  return rtcp.subspan(kAppHeader + 2, n);
}

std::vector<uint8_t> wrap_nack(const ChunkNack& nack, uint32_t ssrc) {
  size_t n = std::min(nack.indices.size(), kMaxNackIndices);
  size_t body = 4 + 2 + 2 * n;
  size_t total = kAppHeader + ((body + 3) & ~size_t(3));
  std::vector<uint8_t> p;
  p.reserve(total);
  p.push_back(0x80);
  p.push_back(kRtcpApp);
  put16(p, uint16_t(total / 4 - 1));
  put32(p, ssrc);
  for (char c : {'M', 'N', 'A', 'K'}) p.push_back(uint8_t(c));
  put32(p, nack.msg_id);
  put16(p, uint16_t(n));
  for (size_t i = 0; i < n; ++i) put16(p, nack.indices[i]);
  p.resize(total, 0);
  return p;
}

std::optional<ChunkNack> unwrap_nack(std::span<const uint8_t> rtcp, std::string* error) {
  if (rtcp.size() < kAppHeader + 6) return fail(error, "nack: too short"), std::nullopt;
  if ((rtcp[0] >> 6) != 2 || rtcp[1] != kRtcpApp)
    return fail(error, "nack: not an RTCP APP packet"), std::nullopt;
  size_t len = (size_t((size_t(rtcp[2]) << 8) | rtcp[3]) + 1) * 4;
  if (len > rtcp.size()) return fail(error, "nack: length beyond packet"), std::nullopt;
  if (rtcp[8] != 'M' || rtcp[9] != 'N' || rtcp[10] != 'A' || rtcp[11] != 'K')
    return fail(error, "nack: APP name is not MNAK"), std::nullopt;
  ChunkNack n;
  n.msg_id = (uint32_t(rtcp[12]) << 24) | (uint32_t(rtcp[13]) << 16) | (uint32_t(rtcp[14]) << 8) |
             rtcp[15];
  size_t count = (size_t(rtcp[16]) << 8) | rtcp[17];
  if (count > kMaxNackIndices) return fail(error, "nack: too many indices"), std::nullopt;
  if (kAppHeader + 6 + 2 * count > len)
    return fail(error, "nack: indices beyond packet"), std::nullopt;
  for (size_t i = 0; i < count; ++i)
    n.indices.push_back(uint16_t((rtcp[18 + 2 * i] << 8) | rtcp[19 + 2 * i]));
  return n;
}

}  // namespace meshcast::node
