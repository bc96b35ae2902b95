#include "media/common/rtcp.hpp"

#include <algorithm>

namespace meshcast::media {
namespace {

constexpr uint8_t kSR = 200, kRR = 201, kRTPFB = 205, kPSFB = 206;

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void wr16(std::vector<uint8_t>& o, uint16_t v) {
  o.push_back(static_cast<uint8_t>(v >> 8));
  o.push_back(static_cast<uint8_t>(v));
}
void wr32(std::vector<uint8_t>& o, uint32_t v) {
  wr16(o, static_cast<uint16_t>(v >> 16));
  wr16(o, static_cast<uint16_t>(v));
}

// Common header; the length field is patched by finish().
size_t begin(std::vector<uint8_t>& o, uint8_t count_or_fmt, uint8_t pt) {
  const size_t start = o.size();
  o.push_back(static_cast<uint8_t>(0x80 | (count_or_fmt & 0x1f)));
  o.push_back(pt);
  wr16(o, 0);
  return start;
}
void finish(std::vector<uint8_t>& o, size_t start) {
  const size_t words = (o.size() - start) / 4 - 1;
  o[start + 2] = static_cast<uint8_t>(words >> 8);
  o[start + 3] = static_cast<uint8_t>(words);
}

void write_block(std::vector<uint8_t>& o, const ReportBlock& b) {
  wr32(o, b.ssrc);
  const int32_t lost = std::clamp<int32_t>(b.cumulative_lost, -0x800000, 0x7fffff);
  wr32(o, static_cast<uint32_t>(b.fraction_lost) << 24 | (static_cast<uint32_t>(lost) & 0xffffff));
  wr32(o, b.highest_seq);
  wr32(o, b.jitter);
  wr32(o, b.lsr);
  wr32(o, b.dlsr);
}

ReportBlock read_block(const uint8_t* p) {
  ReportBlock b;
  b.ssrc = rd32(p);
  b.fraction_lost = p[4];
  uint32_t lost = static_cast<uint32_t>(p[5]) << 16 | static_cast<uint32_t>(p[6]) << 8 | p[7];
  if (lost & 0x800000) lost |= 0xff000000u;  // sign-extend 24 bits
  b.cumulative_lost = static_cast<int32_t>(lost);
  b.highest_seq = rd32(p + 8);
  b.jitter = rd32(p + 12);
  b.lsr = rd32(p + 16);
  b.dlsr = rd32(p + 20);
  return b;
}

std::optional<std::vector<ReportBlock>> read_blocks(const uint8_t* p, size_t avail, size_t count) {
  if (avail / 24 < count) return std::nullopt;
  std::vector<ReportBlock> blocks;
  for (size_t i = 0; i < count; ++i) blocks.push_back(read_block(p + 24 * i));
  return blocks;
}

}  // namespace

std::vector<uint8_t> build_sr(const SenderReport& sr) {
  std::vector<uint8_t> o;
  const size_t n = std::min<size_t>(sr.reports.size(), 31);
  const size_t s = begin(o, static_cast<uint8_t>(n), kSR);
  wr32(o, sr.ssrc);
  wr32(o, static_cast<uint32_t>(sr.ntp >> 32));
  wr32(o, static_cast<uint32_t>(sr.ntp));
  wr32(o, sr.rtp_timestamp);
  wr32(o, sr.packet_count);
  wr32(o, sr.octet_count);
  for (size_t i = 0; i < n; ++i) write_block(o, sr.reports[i]);
  finish(o, s);
  return o;
}

std::vector<uint8_t> build_rr(const ReceiverReport& rr) {
  std::vector<uint8_t> o;
  const size_t n = std::min<size_t>(rr.reports.size(), 31);
  const size_t s = begin(o, static_cast<uint8_t>(n), kRR);
  wr32(o, rr.ssrc);
  for (size_t i = 0; i < n; ++i) write_block(o, rr.reports[i]);
  finish(o, s);
  return o;
}

std::vector<uint8_t> build_nack(const Nack& nack) {
  std::vector<uint8_t> o;
  const size_t s = begin(o, 1, kRTPFB);
  wr32(o, nack.sender_ssrc);
  wr32(o, nack.media_ssrc);
  std::vector<uint16_t> seqs = nack.seqs;
  // Sort in wrap-aware order relative to the first entry, then pack PID + 16-bit BLP.
  if (!seqs.empty()) {
    const uint16_t base = seqs.front();
    std::sort(seqs.begin(), seqs.end(), [base](uint16_t a, uint16_t b) {
      return static_cast<uint16_t>(a - base) < static_cast<uint16_t>(b - base);
    });
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  }
  size_t i = 0;
  while (i < seqs.size()) {
    const uint16_t pid = seqs[i++];
    uint16_t blp = 0;
    while (i < seqs.size()) {
      const uint16_t d = static_cast<uint16_t>(seqs[i] - pid);
      if (d == 0 || d > 16) break;
      blp |= static_cast<uint16_t>(1u << (d - 1));
      ++i;
    }
    wr16(o, pid);
    wr16(o, blp);
  }
  finish(o, s);
  return o;
}

std::vector<uint8_t> build_pli(const Pli& pli) {
  std::vector<uint8_t> o;
  const size_t s = begin(o, 1, kPSFB);
  wr32(o, pli.sender_ssrc);
  wr32(o, pli.media_ssrc);
  finish(o, s);
  return o;
}

Expected<std::vector<RtcpPacket>, const char*> parse_rtcp(std::span<const uint8_t> data) {
  std::vector<RtcpPacket> out;
  size_t off = 0;
  if (data.empty()) return unexpected("rtcp: empty");
  while (off < data.size()) {
    if (data.size() - off < 4) return unexpected("rtcp: truncated header");
    const uint8_t* p = data.data() + off;
    if ((p[0] >> 6) != 2) return unexpected("rtcp: version is not 2");
    const bool padding = p[0] & 0x20;
    const uint8_t count = p[0] & 0x1f;
    const uint8_t pt = p[1];
    const size_t len = (static_cast<size_t>(rd16(p + 2)) + 1) * 4;
    if (len > data.size() - off) return unexpected("rtcp: length runs past the end");
    size_t body_len = len - 4;
    if (padding) {
      const size_t pad = p[len - 1];
      if (pad == 0 || pad > body_len) return unexpected("rtcp: bad padding count");
      body_len -= pad;
    }
    const uint8_t* b = p + 4;
    switch (pt) {
      case kSR: {
        if (body_len < 24) return unexpected("rtcp: sender report too short");
        SenderReport sr;
        sr.ssrc = rd32(b);
        sr.ntp = static_cast<uint64_t>(rd32(b + 4)) << 32 | rd32(b + 8);
        sr.rtp_timestamp = rd32(b + 12);
        sr.packet_count = rd32(b + 16);
        sr.octet_count = rd32(b + 20);
        auto blocks = read_blocks(b + 24, body_len - 24, count);
        if (!blocks) return unexpected("rtcp: report blocks run past the end");
        sr.reports = std::move(*blocks);
        out.emplace_back(std::move(sr));
        break;
      }
      case kRR: {
        if (body_len < 4) return unexpected("rtcp: receiver report too short");
        ReceiverReport rr;
        rr.ssrc = rd32(b);
        auto blocks = read_blocks(b + 4, body_len - 4, count);
        if (!blocks) return unexpected("rtcp: report blocks run past the end");
        rr.reports = std::move(*blocks);
        out.emplace_back(std::move(rr));
        break;
      }
      case kRTPFB:
      case kPSFB: {
        if (body_len < 8) return unexpected("rtcp: feedback too short");
        const uint32_t sender = rd32(b), media = rd32(b + 4);
        if (pt == kRTPFB && count == 1) {
          const size_t fci = body_len - 8;
          if (fci % 4 != 0) return unexpected("rtcp: NACK list not whole entries");
          Nack n{sender, media, {}};
          for (size_t i = 0; i < fci; i += 4) {
            const uint16_t pid = rd16(b + 8 + i), blp = rd16(b + 10 + i);
            n.seqs.push_back(pid);
            for (int bit = 0; bit < 16; ++bit)
              if (blp & (1u << bit)) n.seqs.push_back(static_cast<uint16_t>(pid + bit + 1));
          }
          out.emplace_back(std::move(n));
        } else if (pt == kPSFB && count == 1) {
          out.emplace_back(Pli{sender, media});
        } else {
          out.emplace_back(OtherRtcp{pt, count});
        }
        break;
      }
      default:
        if (pt < 192 || pt > 223) return unexpected("rtcp: not an RTCP packet type");
        out.emplace_back(OtherRtcp{pt, count});
    }
    off += len;
  }
  return out;
}

uint64_t ntp_from_unix_us(int64_t unix_us) {
  constexpr uint64_t kEpochOffset = 2208988800ull;  // 1900 -> 1970
  const uint64_t secs = static_cast<uint64_t>(unix_us / 1000000) + kEpochOffset;
  const uint64_t frac = (static_cast<uint64_t>(unix_us % 1000000) << 32) / 1000000;
  return secs << 32 | frac;
}

std::optional<double> rtt_ms_from_report(uint32_t lsr, uint32_t dlsr, uint32_t arrival_mid32) {
  if (lsr == 0) return std::nullopt;
  const uint32_t rtt = arrival_mid32 - lsr - dlsr;  // 16.16 fixed point seconds, wraps safely
  if (static_cast<int32_t>(rtt) < 0) return std::nullopt;
  return rtt * 1000.0 / 65536.0;
}

}  // namespace meshcast::media
