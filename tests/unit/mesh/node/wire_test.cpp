#include "mesh/node/wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace meshcast::node;

TEST(Wire, ChunkRoundTrip) {
  RtpWriter w{0x11223344, 65535};
  std::vector<uint8_t> chunk{1, 2, 3, 4, 5};
  auto p1 = w.wrap(chunk, 77);
  auto p2 = w.wrap(chunk, 78);
  ASSERT_EQ(p1.size(), kRtpHeaderSize + chunk.size());
  EXPECT_EQ(p1[2], 0xff);  // seq 65535 then wraps to 0
  EXPECT_EQ(p2[2], 0x00);
  EXPECT_EQ(p2[3], 0x00);
  auto got = unwrap_chunk(p1);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::vector<uint8_t>(got->begin(), got->end()), chunk);
}

TEST(Wire, ControlRoundTripAndPadding) {
  for (size_t n : {0u, 1u, 2u, 3u, 4u, 5u, 100u, 1300u}) {
    std::vector<uint8_t> msg(n);
    for (size_t i = 0; i < n; ++i) msg[i] = uint8_t(i * 7);
    auto p = wrap_control(msg, 42);
    ASSERT_FALSE(p.empty()) << n;
    EXPECT_EQ(p.size() % 4, 0u);
    auto got = unwrap_control(p);
    ASSERT_TRUE(got) << n;
    EXPECT_EQ(std::vector<uint8_t>(got->begin(), got->end()), msg);
  }
  EXPECT_TRUE(wrap_control(std::vector<uint8_t>(kMaxWirePacket), 1).empty());
}

namespace {
// Each malformed packet is rejected with the reason of its own defect.
void expect_rejected(const meshcast::Expected<std::span<const uint8_t>, std::string>& r,
                     const std::string& why) {
  ASSERT_FALSE(r.has_value()) << why;
  EXPECT_EQ(r.error(), why);
}
}  // namespace

TEST(Wire, MalformedChunksAreRejected) {
  RtpWriter w{1, 0};
  auto good = w.wrap(std::vector<uint8_t>{9, 9, 9}, 1);
  expect_rejected(unwrap_chunk(std::vector<uint8_t>{}), "rtp: shorter than header");
  expect_rejected(unwrap_chunk(std::vector<uint8_t>(11, 0x80)), "rtp: shorter than header");
  auto v1 = good;
  v1[0] = 0x40;  // version 1
  expect_rejected(unwrap_chunk(v1), "rtp: version is not 2");
  auto pt = good;
  pt[1] = 96;  // someone else's payload type
  expect_rejected(unwrap_chunk(pt), "rtp: not a mesh chunk payload type");
  auto csrc = good;
  csrc[0] = 0x8f;  // 15 CSRCs claimed, none present
  expect_rejected(unwrap_chunk(csrc), "rtp: header longer than packet");
  auto ext = good;
  ext[0] = 0x90;  // extension bit without the extension
  ext.resize(13);
  expect_rejected(unwrap_chunk(ext), "rtp: truncated extension");
  auto pad = good;
  pad[0] = 0xa0;
  pad.back() = 200;  // padding longer than packet
  expect_rejected(unwrap_chunk(pad), "rtp: padding too long");
  auto zero_pad = good;
  zero_pad[0] = 0xa0;
  zero_pad.back() = 0;
  expect_rejected(unwrap_chunk(zero_pad), "rtp: bad padding");
}

TEST(Wire, MalformedControlIsRejected) {
  auto good = wrap_control(std::vector<uint8_t>{1, 2, 3}, 5);
  expect_rejected(unwrap_control(std::vector<uint8_t>(13, 0)), "rtcp: too short");
  auto sr = good;
  sr[1] = 200;  // a sender report, not APP
  expect_rejected(unwrap_control(sr), "rtcp: not an APP packet");
  auto name = good;
  name[8] = 'X';
  expect_rejected(unwrap_control(name), "rtcp: APP name is not MESH");
  auto longlen = good;
  longlen[3] = 0xff;  // RTCP length beyond the buffer
  expect_rejected(unwrap_control(longlen), "rtcp: length beyond packet");
  auto biglen = good;
  biglen[12] = 0x10;  // inner length beyond the packet
  expect_rejected(unwrap_control(biglen), "rtcp: message longer than packet");
  auto ver = good;
  ver[0] = 0x00;
  expect_rejected(unwrap_control(ver), "rtcp: version is not 2");
}

TEST(Wire, NackRoundTripAndMalformed) {
  ChunkNack n{0xdeadbeef, {0, 3, 7, 65535}};
  auto p = wrap_nack(n, 9);
  EXPECT_EQ(p.size() % 4, 0u);
  auto got = unwrap_nack(p);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->msg_id, n.msg_id);
  EXPECT_EQ(got->indices, n.indices);
  // a NACK is not a mesh control message
  expect_rejected(unwrap_control(p), "rtcp: APP name is not MESH");
  auto nack_error = [](const std::vector<uint8_t>& bytes) {
    auto r = unwrap_nack(bytes);
    return r ? std::string("accepted") : r.error();
  };
  auto ctrl = wrap_control(std::vector<uint8_t>{1, 2, 3, 4, 5, 6}, 1);
  EXPECT_EQ(nack_error(ctrl), "nack: APP name is not MNAK");
  auto cut = p;
  cut.resize(14);
  EXPECT_EQ(nack_error(cut), "nack: too short");
  auto many = p;
  many[16] = 0x7f;  // count beyond the limit
  EXPECT_EQ(nack_error(many), "nack: too many indices");
  auto beyond = p;
  beyond[17] = 40;  // within the limit but past the packet
  EXPECT_EQ(nack_error(beyond), "nack: indices beyond packet");
  auto sr = p;
  sr[1] = 200;
  EXPECT_EQ(nack_error(sr), "nack: not an RTCP APP packet");
  auto longlen = p;
  longlen[3] = 0xff;
  EXPECT_EQ(nack_error(longlen), "nack: length beyond packet");
  ChunkNack big{1, std::vector<uint16_t>(200, 1)};
  auto capped = unwrap_nack(wrap_nack(big, 1));
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->indices.size(), kMaxNackIndices);
}
