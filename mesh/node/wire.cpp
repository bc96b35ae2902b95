#include "mesh/node/wire.hpp"

#include <algorithm>
#include <cstring>

namespace meshcast::node {
namespace {
constexpr uint8_t kRtcpApp = 204;
constexpr size_t kAppHeader = 12;  // V/P/subtype, PT, length, SSRC, name
// The APP names of our packets.
constexpr char kControlName[5] = "MESH";
constexpr char kNackName[5] = "MNAK";
constexpr char kProbeName[5] = "MPRB";
constexpr char kProbeReplyName[5] = "MPRR";
void put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(uint8_t(x >> 8));
  v.push_back(uint8_t(x));
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  put16(v, uint16_t(x >> 16));
  put16(v, uint16_t(x));
}
void put_app_header(std::vector<uint8_t>& p, size_t total, uint32_t ssrc, const char (&name)[5]) {
  p.push_back(0x80);
  p.push_back(kRtcpApp);
  put16(p, uint16_t(total / 4 - 1));
  put32(p, ssrc);
  p.insert(p.end(), name, name + 4);
}
uint32_t get32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
         b[at + 3];
}
uint16_t get16(std::span<const uint8_t> b, size_t at) { return uint16_t((b[at] << 8) | b[at + 1]); }
// The APP packet's length when it is one named `name` that holds `body` bytes, else why not.
Expected<size_t, std::string> app_length(std::span<const uint8_t> rtcp, const char (&name)[5],
                                         size_t body, const char* what) {
  const std::string w(what);
  if (rtcp.size() < kAppHeader + body) return unexpected(w + ": too short");
  if ((rtcp[0] >> 6) != 2 || rtcp[1] != kRtcpApp) return unexpected(w + ": not an RTCP APP packet");
  const size_t len = (size_t((size_t(rtcp[2]) << 8) | rtcp[3]) + 1) * 4;
  if (len > rtcp.size()) return unexpected(w + ": length beyond packet");
  if (len < kAppHeader + body) return unexpected(w + ": length shorter than its fields");
  if (std::memcmp(rtcp.data() + 8, name, 4) != 0)
    return unexpected(w + ": APP name is not " + std::string(name));
  return len;
}
constexpr size_t kProbeReplyBytes = kAppHeader + 16;
}  // namespace

AppPacket app_packet_kind(std::span<const uint8_t> rtcp) {
  if (rtcp.size() < kAppHeader || rtcp[1] != kRtcpApp) return AppPacket::kOther;
  const auto named = [&](const char(&name)[5]) {
    return std::memcmp(rtcp.data() + 8, name, 4) == 0;
  };
  if (named(kControlName)) return AppPacket::kControl;
  if (named(kNackName)) return AppPacket::kNack;
  if (named(kProbeName)) return AppPacket::kProbe;
  if (named(kProbeReplyName)) return AppPacket::kProbeReply;
  return AppPacket::kOther;
}

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

Expected<std::span<const uint8_t>, std::string> unwrap_chunk(std::span<const uint8_t> rtp) {
  if (rtp.size() < kRtpHeaderSize) return unexpected("rtp: shorter than header");
  if ((rtp[0] >> 6) != 2) return unexpected("rtp: version is not 2");
  if ((rtp[1] & 0x7f) != kMeshChunkPayloadType)
    return unexpected("rtp: not a mesh chunk payload type");
  size_t header = kRtpHeaderSize + 4u * (rtp[0] & 0x0f);  // CSRCs
  size_t end = rtp.size();
  if (rtp[0] & 0x10) {  // header extension
    if (rtp.size() < header + 4) return unexpected("rtp: truncated extension");
    size_t words = (size_t(rtp[header + 2]) << 8) | rtp[header + 3];
    header += 4 + 4 * words;
  }
  if (rtp[0] & 0x20) {  // padding: last byte counts it
    if (end == 0 || rtp[end - 1] == 0) return unexpected("rtp: bad padding");
    if (rtp[end - 1] > end) return unexpected("rtp: padding too long");
    end -= rtp[end - 1];
  }
  if (header > end) return unexpected("rtp: header longer than packet");
  return rtp.subspan(header, end - header);
}

std::vector<uint8_t> wrap_control(std::span<const uint8_t> msg, uint32_t ssrc) {
  size_t body = 2 + msg.size();
  size_t padded = (body + 3) & ~size_t(3);
  size_t total = kAppHeader + padded;
  if (total > kMaxWirePacket) return {};
  std::vector<uint8_t> p;
  p.reserve(total);
  // No padding bit: our own length field says where the message ends.
  put_app_header(p, total, ssrc, kControlName);
  put16(p, uint16_t(msg.size()));
  p.insert(p.end(), msg.begin(), msg.end());
  p.resize(total, 0);
  return p;
}

Expected<std::span<const uint8_t>, std::string> unwrap_control(std::span<const uint8_t> rtcp) {
  if (rtcp.size() < kAppHeader + 2) return unexpected("rtcp: too short");
  if ((rtcp[0] >> 6) != 2) return unexpected("rtcp: version is not 2");
  if (rtcp[1] != kRtcpApp) return unexpected("rtcp: not an APP packet");
  size_t len = (size_t((size_t(rtcp[2]) << 8) | rtcp[3]) + 1) * 4;
  if (len > rtcp.size()) return unexpected("rtcp: length beyond packet");
  if (std::memcmp(rtcp.data() + 8, kControlName, 4) != 0)
    return unexpected("rtcp: APP name is not MESH");
  size_t n = (size_t(rtcp[12]) << 8) | rtcp[13];
  if (kAppHeader + 2 + n > len) return unexpected("rtcp: message longer than packet");
  return rtcp.subspan(kAppHeader + 2, n);
}

std::vector<uint8_t> wrap_nack(const ChunkNack& nack, uint32_t ssrc) {
  size_t n = std::min(nack.indices.size(), kMaxNackIndices);
  size_t body = 4 + 2 + 2 * n;
  size_t total = kAppHeader + ((body + 3) & ~size_t(3));
  std::vector<uint8_t> p;
  p.reserve(total);
  put_app_header(p, total, ssrc, kNackName);
  put32(p, nack.msg_id);
  put16(p, uint16_t(n));
  for (size_t i = 0; i < n; ++i) put16(p, nack.indices[i]);
  p.resize(total, 0);
  return p;
}

Expected<ChunkNack, std::string> unwrap_nack(std::span<const uint8_t> rtcp) {
  auto len = app_length(rtcp, kNackName, 6, "nack");
  if (!len) return unexpected(len.error());
  ChunkNack n;
  n.msg_id = get32(rtcp, 12);
  size_t count = get16(rtcp, 16);
  if (count > kMaxNackIndices) return unexpected("nack: too many indices");
  if (kAppHeader + 6 + 2 * count > *len) return unexpected("nack: indices beyond packet");
  for (size_t i = 0; i < count; ++i) n.indices.push_back(get16(rtcp, 18 + 2 * i));
  return n;
}

std::vector<uint8_t> wrap_probe(const ProbePacket& pr, size_t wire_bytes, uint32_t ssrc) {
  const size_t total = (std::clamp(wire_bytes, kProbeHeaderBytes, kMaxWirePacket) + 3) & ~size_t(3);
  std::vector<uint8_t> p;
  p.reserve(total);
  put_app_header(p, total, ssrc, kProbeName);
  put32(p, pr.train);
  put16(p, pr.index);
  put16(p, pr.count);
  p.push_back(pr.echo ? 1 : 0);
  p.resize(total, 0);
  return p;
}

Expected<ProbePacket, std::string> unwrap_probe(std::span<const uint8_t> rtcp) {
  auto len = app_length(rtcp, kProbeName, kProbeHeaderBytes - kAppHeader, "probe");
  if (!len) return unexpected(len.error());
  ProbePacket p;
  p.train = get32(rtcp, 12);
  p.index = get16(rtcp, 16);
  p.count = get16(rtcp, 18);
  p.echo = (rtcp[20] & 1) != 0;
  if (p.count == 0 || p.index >= p.count) return unexpected("probe: index outside the train");
  return p;
}

std::vector<uint8_t> wrap_probe_reply(const ProbeReply& r, uint32_t ssrc) {
  std::vector<uint8_t> p;
  p.reserve(kProbeReplyBytes);
  put_app_header(p, kProbeReplyBytes, ssrc, kProbeReplyName);
  put32(p, r.train);
  put16(p, r.index);
  put16(p, r.received);
  put32(p, uint32_t(r.arrival_us >> 32));
  put32(p, uint32_t(r.arrival_us));
  return p;
}

Expected<ProbeReply, std::string> unwrap_probe_reply(std::span<const uint8_t> rtcp) {
  auto len = app_length(rtcp, kProbeReplyName, kProbeReplyBytes - kAppHeader, "probe reply");
  if (!len) return unexpected(len.error());
  ProbeReply r;
  r.train = get32(rtcp, 12);
  r.index = get16(rtcp, 16);
  r.received = get16(rtcp, 18);
  r.arrival_us = (uint64_t(get32(rtcp, 20)) << 32) | get32(rtcp, 24);
  return r;  // whether it fits the train is for the prober to judge
}

}  // namespace meshcast::node
