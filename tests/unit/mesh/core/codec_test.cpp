// Codec: round trip of every message type and strict rejection of malformed input.
#include "mesh/core/codec.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>

using namespace meshcast::mesh;

namespace {

std::vector<Message> samples() {
  BufferMap bm;
  bm.base = 1000;
  bm.count = 70;
  bm.spare_slots = 3;
  bm.substreams = 4;
  bm.home = 2;
  bm.depth = {0, 1, 2, kNoDepth};
  bm.set(1000);
  bm.set(1063);
  bm.set(1069);
  Reject rj;
  rj.kind = RejectKind::kSubscribe;
  rj.reason = RejectReason::kBusy;
  rj.substream = 2;
  rj.base = 7;
  rj.mask = 0x81;
  rj.redirect_count = 2;
  rj.redirect = {11, 22, 0, 0};
  Segment seg;
  seg.header = {0x1122334455667788ull, 42, 123456789, 5, 3};
  seg.signature.fill(0xEE);
  seg.payload = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>{1, 2, 3, 4, 5});
  return {Hello{77, 2000, 4, 1}, bm, Request{99, 0x5}, Subscribe{3, 2}, SubscribeAck{3, 1},
          Unsubscribe{1},        rj, SegmentMsg{seg},  Bye{5},          Subscribe{1, 2, 4242}};
}

bool same(const Message& a, const Message& b) { return encode(a) == encode(b); }

// Why the decoder rejected `bytes`, or nullopt when it accepted them.
std::optional<DecodeError> decode_error(std::span<const uint8_t> bytes) {
  auto m = decode(bytes);
  if (m) return std::nullopt;
  return m.error();
}

}  // namespace

TEST(Codec, RoundTripEveryType) {
  for (const auto& m : samples()) {
    const auto bytes = encode(m);
    EXPECT_EQ(bytes.size(), encoded_size(m)) << "type " << m.index();
    auto out = decode(bytes);
    ASSERT_TRUE(out) << "type " << m.index() << ": " << to_string(out.error());
    EXPECT_EQ(out->index(), m.index());
    EXPECT_TRUE(same(m, *out)) << "type " << m.index();
  }
}

TEST(Codec, BufferMapBitsSurvive) {
  const BufferMap bm = std::get<BufferMap>(samples()[1]);
  auto out = decode(encode(bm));
  ASSERT_TRUE(out);
  const auto& d = std::get<BufferMap>(*out);
  for (uint32_t n = 990; n < 1080; ++n) EXPECT_EQ(d.has(n), bm.has(n)) << n;
  EXPECT_EQ(d.depth[3], kNoDepth);
  EXPECT_EQ(d.home, 2);
  EXPECT_EQ(encoded_size(bm), 1u + 4 + 2 + 1 + 1 + 1 + 4 + 9);  // 70 bits -> 9 bytes
}

TEST(Codec, SegmentWithoutPayloadEncodesZeros) {
  Segment seg;
  seg.header.size = 1000;
  const auto bytes = encode(SegmentMsg{seg});
  EXPECT_EQ(bytes.size(), encoded_size(SegmentMsg{seg}));
  auto out = decode(bytes);
  ASSERT_TRUE(out);
  EXPECT_EQ(std::get<SegmentMsg>(*out).segment.payload->size(), 1000u);
}

TEST(Codec, EveryTruncationIsRejected) {
  for (const auto& m : samples()) {
    const auto bytes = encode(m);
    for (size_t len = 0; len < bytes.size(); ++len) {
      EXPECT_FALSE(decode(std::span<const uint8_t>(bytes.data(), len)))
          << "type " << m.index() << " len " << len;
    }
  }
}

TEST(Codec, TrailingBytesRejected) {
  for (const auto& m : samples()) {
    auto bytes = encode(m);
    bytes.push_back(0);
    EXPECT_EQ(decode_error(bytes), DecodeError::kTrailingBytes) << "type " << m.index();
  }
}

TEST(Codec, MalformedValuesRejected) {
  EXPECT_EQ(decode_error({}), DecodeError::kEmpty);
  const std::vector<uint8_t> unknown{0x00}, unknown2{0xFF, 1, 2};
  EXPECT_EQ(decode_error(unknown), DecodeError::kUnknownType);
  EXPECT_EQ(decode_error(unknown2), DecodeError::kUnknownType);

  // Buffer map longer than 256 bits.
  auto bm = encode(samples()[1]);
  bm[5] = 0x01;  // count high byte -> 256 + 70
  EXPECT_EQ(decode_error(bm), DecodeError::kBadValue);
  // Too many sub-streams.
  bm = encode(samples()[1]);
  bm[8] = 17;
  EXPECT_FALSE(decode(bm));
  // Home sub-stream: one of the K, or none (255).
  bm = encode(samples()[1]);
  ASSERT_EQ(bm[9], 2);
  bm[9] = 4;
  EXPECT_EQ(decode_error(bm), DecodeError::kBadValue);
  bm[9] = 200;
  EXPECT_EQ(decode_error(bm), DecodeError::kBadValue);
  bm[9] = kNoHome;
  EXPECT_TRUE(decode(bm));
  // Non-canonical: a bit set beyond count.
  bm = encode(samples()[1]);
  bm.back() |= 0x80;  // bit 71 of a 70-bit map
  EXPECT_EQ(decode_error(bm), DecodeError::kBadValue);
  // Empty request mask.
  EXPECT_EQ(decode_error(encode(Request{5, 0})), DecodeError::kBadValue);
  // Sub-stream out of range.
  EXPECT_EQ(decode_error(encode(Subscribe{16, 0})), DecodeError::kBadValue);
  // Subscribe: the complaint field is always there (none = kNoPeer), one encoding each.
  auto sub = encode(Subscribe{1, 2, 4242});
  EXPECT_EQ(sub.size(), 1u + 2 + 4);
  auto out = decode(sub);
  ASSERT_TRUE(out);
  EXPECT_EQ(std::get<Subscribe>(*out).silent_parent, 4242u);
  out = decode(encode(Subscribe{1, 2}));
  ASSERT_TRUE(out);
  EXPECT_EQ(std::get<Subscribe>(*out).silent_parent, kNoPeer);
  EXPECT_EQ(decode_error(std::span(sub).first(3)), DecodeError::kTruncated);  // old layout
  // Reject with bad kind / reason / too many redirects.
  auto rj = encode(samples()[6]);
  rj[1] = 9;
  EXPECT_EQ(decode_error(rj), DecodeError::kBadValue);
  rj = encode(samples()[6]);
  rj[2] = 0;
  EXPECT_EQ(decode_error(rj), DecodeError::kBadValue);
  rj = encode(samples()[6]);
  rj[12] = 5;
  EXPECT_FALSE(decode(rj));
  // Hello with K = 0.
  EXPECT_EQ(decode_error(encode(Hello{1, 1, 0, 0})), DecodeError::kBadValue);
  // Segment whose piece count does not match its size (bytes 90-91).
  auto seg = encode(samples()[7]);
  ASSERT_EQ(seg[90], 0);
  ASSERT_EQ(seg[91], 1);  // 5 bytes: one piece
  seg[91] = 2;
  EXPECT_FALSE(decode(seg));
  seg[91] = 0;
  EXPECT_FALSE(decode(seg));
}

TEST(Codec, SegmentCarriesItsPieceDigests) {
  Segment seg;
  seg.header = {1, 2, 3, 9000, 0};
  auto p = std::make_shared<std::vector<uint8_t>>(9000, uint8_t(0xAB));
  seg.payload = p;
  const auto bytes = encode(SegmentMsg{seg});
  const auto digests = piece_digests(*p);
  ASSERT_EQ(digests.size(), 3u);
  ASSERT_EQ(bytes.size(), 1 + 25 + 64 + 2 + 3 * 32 + 9000u);
  for (size_t k = 0; k < 3; ++k)
    EXPECT_TRUE(
        std::equal(digests[k].begin(), digests[k].end(), bytes.begin() + 92 + 32 * long(k)));
  EXPECT_TRUE(decode(bytes));
  // Digests that do not match the payload: rejected (a relay checked pieces against them).
  auto bad = bytes;
  bad[92 + 40] ^= 1;
  EXPECT_EQ(decode_error(bad), DecodeError::kBadValue);
  bad = bytes;
  bad.back() ^= 1;  // or a payload that does not match its digests
  EXPECT_EQ(decode_error(bad), DecodeError::kBadValue);
}

TEST(Codec, HugeSegmentSizeRejectedWithoutAllocation) {
  Segment seg;
  seg.header.size = 10;
  auto bytes = encode(SegmentMsg{seg});
  // Patch size field (offset 1 + 8 + 4 + 8) to 0xFFFFFFFF.
  for (int i = 0; i < 4; ++i) bytes[21 + i] = 0xFF;
  EXPECT_EQ(decode_error(bytes), DecodeError::kTooLarge);
  bytes[21] = 0;  // 16 MiB - still above kMaxPayload
  EXPECT_EQ(decode_error(bytes), DecodeError::kTooLarge);
}

TEST(Codec, RandomGarbageNeverCrashes) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf;
  for (int i = 0; i < 20000; ++i) {
    buf.resize(rng() % 200);
    for (auto& b : buf) b = uint8_t(rng());
    if (!buf.empty()) buf[0] = uint8_t(1 + rng() % 9);
    if (auto out = decode(buf)) {
      EXPECT_EQ(encode(*out), buf);  // canonical encoding
    }
  }
}
