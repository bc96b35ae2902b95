#include "mesh/core/codec.hpp"

#include <algorithm>
#include <type_traits>

namespace meshcast::mesh {

namespace {

struct Writer {
  std::vector<uint8_t>& out;
  void u8(uint8_t v) { out.push_back(v); }
  void u16(uint16_t v) {
    u8(uint8_t(v >> 8));
    u8(uint8_t(v));
  }
  void u32(uint32_t v) {
    u16(uint16_t(v >> 16));
    u16(uint16_t(v));
  }
  void u64(uint64_t v) {
    u32(uint32_t(v >> 32));
    u32(uint32_t(v));
  }
};

struct Reader {
  std::span<const uint8_t> in;
  size_t pos = 0;
  bool ok = true;
  bool need(size_t n) {
    if (!ok || in.size() - pos < n) ok = false;
    return ok;
  }
  uint8_t u8() { return need(1) ? in[pos++] : 0; }
  uint16_t u16() {
    if (!need(2)) return 0;
    uint16_t v = uint16_t(in[pos] << 8 | in[pos + 1]);
    pos += 2;
    return v;
  }
  uint32_t u32() {
    uint32_t hi = u16();
    return hi << 16 | u16();
  }
  uint64_t u64() {
    uint64_t hi = u32();
    return hi << 32 | u32();
  }
  size_t left() const { return in.size() - pos; }
};

uint32_t bm_bytes(const BufferMap& b) { return (uint32_t(b.count) + 7) / 8; }

size_t body_size(const Hello&) { return 8 + 4 + 1 + 1; }
size_t body_size(const BufferMap& b) { return 4 + 2 + 1 + 1 + 1 + b.substreams + bm_bytes(b); }
size_t body_size(const Request&) { return 4 + 4; }
size_t body_size(const Subscribe&) { return 6; }
size_t body_size(const SubscribeAck&) { return 2; }
size_t body_size(const Unsubscribe&) { return 1; }
size_t body_size(const Reject& r) { return 1 + 1 + 1 + 4 + 4 + 1 + 4 * size_t(r.redirect_count); }
size_t body_size(const SegmentMsg& s) {
  return segment_head_bytes(s.segment.header.size) - 1 + s.segment.header.size;
}
size_t body_size(const Bye&) { return 1; }

template <class T>
constexpr MsgType type_of() {
  if constexpr (std::is_same_v<T, Hello>) return MsgType::kHello;
  if constexpr (std::is_same_v<T, BufferMap>) return MsgType::kBufferMap;
  if constexpr (std::is_same_v<T, Request>) return MsgType::kRequest;
  if constexpr (std::is_same_v<T, Subscribe>) return MsgType::kSubscribe;
  if constexpr (std::is_same_v<T, SubscribeAck>) return MsgType::kSubscribeAck;
  if constexpr (std::is_same_v<T, Unsubscribe>) return MsgType::kUnsubscribe;
  if constexpr (std::is_same_v<T, Reject>) return MsgType::kReject;
  if constexpr (std::is_same_v<T, SegmentMsg>) return MsgType::kSegment;
  if constexpr (std::is_same_v<T, Bye>) return MsgType::kBye;
}

void put(Writer& w, const Hello& m) {
  w.u64(m.stream_id);
  w.u32(m.upload_kbps);
  w.u8(m.substreams);
  w.u8(m.is_source);
}
void put(Writer& w, const BufferMap& m) {
  w.u32(m.base);
  w.u16(m.count);
  w.u8(m.spare_slots);
  w.u8(m.substreams);
  w.u8(m.home);
  for (uint32_t i = 0; i < m.substreams && i < kMaxSubstreams; ++i) w.u8(m.depth[i]);
  const uint32_t nbytes = bm_bytes(m);
  for (uint32_t i = 0; i < nbytes; ++i) w.u8(uint8_t(m.bits[i / 8] >> (8 * (i % 8))));
}
void put(Writer& w, const Request& m) {
  w.u32(m.base);
  w.u32(m.mask);
}
void put(Writer& w, const Subscribe& m) {
  w.u8(m.substream);
  w.u8(m.depth);
  w.u32(m.silent_parent);
}
void put(Writer& w, const SubscribeAck& m) {
  w.u8(m.substream);
  w.u8(m.depth);
}
void put(Writer& w, const Unsubscribe& m) { w.u8(m.substream); }
void put(Writer& w, const Reject& m) {
  w.u8(uint8_t(m.kind));
  w.u8(uint8_t(m.reason));
  w.u8(m.substream);
  w.u32(m.base);
  w.u32(m.mask);
  w.u8(m.redirect_count);
  for (uint32_t i = 0; i < m.redirect_count && i < kMaxRedirects; ++i) w.u32(m.redirect[i]);
}
void put(Writer& w, const SegmentMsg& m) {
  const auto& h = m.segment.header;
  w.u64(h.stream_id);
  w.u32(h.number);
  w.u64(uint64_t(h.created_us));
  w.u32(h.size);
  w.u8(h.hops);
  w.out.insert(w.out.end(), m.segment.signature.begin(), m.segment.signature.end());
  auto p = m.segment.payload_bytes();
  // Piece digests (for relays that pass pieces on as they arrive). Without a payload the
  // message carries zeros, and the digests are those of zeros.
  static const std::vector<uint8_t> zeros(kPieceBytes, 0);
  const size_t pieces = piece_count(h.size);
  w.u16(uint16_t(pieces));
  for (size_t k = 0; k < pieces; ++k) {
    const size_t len = std::min(kPieceBytes, size_t(h.size) - k * kPieceBytes);
    const Digest d = p.size() == h.size ? sha256(p.subspan(k * kPieceBytes, len))
                                        : sha256(std::span(zeros).first(len));
    w.out.insert(w.out.end(), d.begin(), d.end());
  }
  if (p.size() == h.size) {
    w.out.insert(w.out.end(), p.begin(), p.end());
  } else {
    w.out.resize(w.out.size() + h.size, 0);
  }
}
void put(Writer& w, const Bye& m) { w.u8(m.reason); }

bool get(Reader& r, Hello& m) {
  m.stream_id = r.u64();
  m.upload_kbps = r.u32();
  m.substreams = r.u8();
  m.is_source = r.u8();
  return r.ok && m.substreams >= 1 && m.substreams <= kMaxSubstreams && m.is_source <= 1;
}
bool get(Reader& r, BufferMap& m) {
  m.base = r.u32();
  m.count = r.u16();
  m.spare_slots = r.u8();
  m.substreams = r.u8();
  m.home = r.u8();
  if (!r.ok || m.count > kMaxBufferMapBits || m.substreams > kMaxSubstreams ||
      (m.home != kNoHome && m.home >= m.substreams))
    return false;
  for (uint32_t i = 0; i < m.substreams; ++i) m.depth[i] = r.u8();
  const uint32_t nbytes = bm_bytes(m);
  if (!r.need(nbytes)) return false;
  for (uint32_t i = 0; i < nbytes; ++i) m.bits[i / 8] |= uint64_t(r.u8()) << (8 * (i % 8));
  // Bits beyond count must be zero: one canonical encoding per map.
  if (m.count % 8 != 0) {
    const uint32_t last = m.count - 1;
    const uint64_t word = m.bits[last / 64];
    const uint32_t used = last % 64 + 1;
    if (used < 64 && (word >> used) != 0) return false;
  }
  return r.ok;
}
bool get(Reader& r, Request& m) {
  m.base = r.u32();
  m.mask = r.u32();
  return r.ok && m.mask != 0;
}
bool get(Reader& r, Subscribe& m) {
  m.substream = r.u8();
  m.depth = r.u8();
  m.silent_parent = r.u32();
  return r.ok && m.substream < kMaxSubstreams;
}
bool get(Reader& r, SubscribeAck& m) {
  m.substream = r.u8();
  m.depth = r.u8();
  return r.ok && m.substream < kMaxSubstreams && m.depth != kNoDepth;
}
bool get(Reader& r, Unsubscribe& m) {
  m.substream = r.u8();
  return r.ok && m.substream < kMaxSubstreams;
}
bool get(Reader& r, Reject& m) {
  const uint8_t kind = r.u8(), reason = r.u8();
  m.substream = r.u8();
  m.base = r.u32();
  m.mask = r.u32();
  m.redirect_count = r.u8();
  if (!r.ok || kind < 1 || kind > 3 || reason < 1 || reason > 5 ||
      m.redirect_count > kMaxRedirects || m.substream >= kMaxSubstreams)
    return false;
  m.kind = RejectKind(kind);
  m.reason = RejectReason(reason);
  for (uint32_t i = 0; i < m.redirect_count; ++i) m.redirect[i] = r.u32();
  return r.ok;
}
// The segment prefix after the type byte: header, signature, piece count.
bool get_segment_prefix(Reader& r, SegmentHeader& h, Signature& sig, DecodeError& err) {
  h.stream_id = r.u64();
  h.number = r.u32();
  h.created_us = TimeUs(r.u64());
  h.size = r.u32();
  h.hops = r.u8();
  if (!r.need(64)) return false;
  for (auto& b : sig) b = r.u8();
  if (!r.ok) return false;
  if (h.size > kMaxPayload) {
    err = DecodeError::kTooLarge;
    return false;
  }
  const uint16_t pieces = r.u16();
  return r.ok && pieces == piece_count(h.size);
}
bool get(Reader& r, SegmentMsg& m, DecodeError& err) {
  auto& h = m.segment.header;
  if (!get_segment_prefix(r, h, m.segment.signature, err)) return false;
  // The digests let cut-through relays check pieces early; they must match the payload
  // (one encoding per segment; the signature check recomputes them anyway).
  const size_t pieces = piece_count(h.size);
  if (!r.need(pieces * sizeof(Digest))) return false;
  const size_t digests_at = r.pos;
  r.pos += pieces * sizeof(Digest);
  if (!r.need(h.size)) return false;
  const std::span<const uint8_t> payload = r.in.subspan(r.pos, h.size);
  const auto digests = piece_digests(payload);
  if (!std::equal(reinterpret_cast<const uint8_t*>(digests.data()),
                  reinterpret_cast<const uint8_t*>(digests.data() + digests.size()),
                  r.in.begin() + long(digests_at))) {
    err = DecodeError::kBadValue;
    return false;
  }
  m.segment.payload = std::make_shared<const std::vector<uint8_t>>(payload.begin(), payload.end());
  r.pos += h.size;
  return true;
}
bool get(Reader& r, Bye& m) {
  m.reason = r.u8();
  return r.ok;
}

}  // namespace

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::kEmpty:
      return "empty";
    case DecodeError::kUnknownType:
      return "unknown message type";
    case DecodeError::kTruncated:
      return "truncated";
    case DecodeError::kBadValue:
      return "field out of range";
    case DecodeError::kTrailingBytes:
      return "trailing bytes";
    case DecodeError::kTooLarge:
      return "payload too large";
  }
  return "?";
}

size_t encoded_size(const Message& m) {
  return 1 + std::visit([](const auto& v) { return body_size(v); }, m);
}

void encode(const Message& m, std::vector<uint8_t>& out) {
  out.reserve(out.size() + encoded_size(m));
  Writer w{out};
  std::visit(
      [&](const auto& v) {
        w.u8(uint8_t(type_of<std::decay_t<decltype(v)>>()));
        put(w, v);
      },
      m);
}

std::vector<uint8_t> encode(const Message& m) {
  std::vector<uint8_t> out;
  encode(m, out);
  return out;
}

namespace {

// Decodes into `out`, or sets `err` (then `out` is unspecified).
bool decode_into(std::span<const uint8_t> in, Message& out, DecodeError& err) {
  if (in.empty()) return err = DecodeError::kEmpty, false;
  Reader r{in.subspan(1)};
  bool ok = false;
  err = DecodeError::kBadValue;
  auto run = [&](auto v) {
    ok = get(r, v);
    if (ok) out = std::move(v);
  };
  switch (MsgType(in[0])) {
    case MsgType::kHello:
      run(Hello{});
      break;
    case MsgType::kBufferMap:
      run(BufferMap{});
      break;
    case MsgType::kRequest:
      run(Request{});
      break;
    case MsgType::kSubscribe:
      run(Subscribe{});
      break;
    case MsgType::kSubscribeAck:
      run(SubscribeAck{});
      break;
    case MsgType::kUnsubscribe:
      run(Unsubscribe{});
      break;
    case MsgType::kReject:
      run(Reject{});
      break;
    case MsgType::kSegment: {
      SegmentMsg s;
      ok = get(r, s, err);
      if (ok) out = std::move(s);
      break;
    }
    case MsgType::kBye:
      run(Bye{});
      break;
    default:
      return err = DecodeError::kUnknownType, false;
  }
  if (!r.ok) return err = DecodeError::kTruncated, false;
  if (!ok) return false;
  if (r.left() != 0) return err = DecodeError::kTrailingBytes, false;
  return true;
}

}  // namespace

Expected<Message, DecodeError> decode(std::span<const uint8_t> in) {
  Message out;
  DecodeError err{};
  if (!decode_into(in, out, err)) return unexpected(err);
  return out;
}

Expected<SegmentPrefix, DecodeError> decode_segment_prefix(std::span<const uint8_t> prefix) {
  if (prefix.size() < kSegmentPrefixBytes) return unexpected(DecodeError::kTruncated);
  if (MsgType(prefix[0]) != MsgType::kSegment) return unexpected(DecodeError::kUnknownType);
  Reader r{prefix.subspan(1, kSegmentPrefixBytes - 1)};
  DecodeError err = DecodeError::kBadValue;
  SegmentPrefix p;
  if (!get_segment_prefix(r, p.header, p.signature, err)) return unexpected(err);
  return p;
}

}  // namespace meshcast::mesh
