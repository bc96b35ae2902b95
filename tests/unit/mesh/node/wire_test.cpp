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

TEST(Wire, ProbeRoundTripPaddingAndMalformed) {
  ProbePacket pr{0x01020304, 5, 20, true};
  auto p = wrap_probe(pr, 1086, 9);
  EXPECT_EQ(p.size(), 1088u);  // padded to whole words
  auto got = unwrap_probe(p);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->train, pr.train);
  EXPECT_EQ(got->index, 5);
  EXPECT_EQ(got->count, 20);
  EXPECT_TRUE(got->echo);
  EXPECT_EQ(wrap_probe(pr, 1, 9).size(), kProbeHeaderBytes);  // never below its fields
  EXPECT_EQ(wrap_probe(pr, 100'000, 9).size(), kMaxWirePacket);
  // not a control message, a NACK or a reply
  expect_rejected(unwrap_control(p), "rtcp: APP name is not MESH");
  EXPECT_FALSE(unwrap_nack(p));
  auto probe_error = [](const std::vector<uint8_t>& bytes) {
    auto r = unwrap_probe(bytes);
    return r ? std::string("accepted") : r.error();
  };
  EXPECT_EQ(probe_error(wrap_probe_reply({1, 2, 3, 4}, 9)), "probe: APP name is not MPRB");
  auto cut = p;
  cut.resize(20);
  EXPECT_EQ(probe_error(cut), "probe: too short");
  auto longlen = p;
  longlen[2] = 0xff;
  EXPECT_EQ(probe_error(longlen), "probe: length beyond packet");
  auto shortlen = p;
  shortlen[2] = 0;
  shortlen[3] = 2;  // 12 bytes: the header alone
  EXPECT_EQ(probe_error(shortlen), "probe: length shorter than its fields");
  auto sr = p;
  sr[1] = 200;
  EXPECT_EQ(probe_error(sr), "probe: not an RTCP APP packet");
  auto outside = wrap_probe({1, 20, 20, false}, 64, 9);
  EXPECT_EQ(probe_error(outside), "probe: index outside the train");
  auto empty = wrap_probe({1, 0, 0, false}, 64, 9);
  EXPECT_EQ(probe_error(empty), "probe: index outside the train");
}

TEST(Wire, ProbeReplyRoundTripAndMalformed) {
  ProbeReply r{7, 19, 18, 0x0102030405060708ull};
  auto p = wrap_probe_reply(r, 3);
  EXPECT_EQ(p.size() % 4, 0u);
  auto got = unwrap_probe_reply(p);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->train, 7u);
  EXPECT_EQ(got->index, 19);
  EXPECT_EQ(got->received, 18);
  EXPECT_EQ(got->arrival_us, r.arrival_us);
  auto reply_error = [](const std::vector<uint8_t>& bytes) {
    auto x = unwrap_probe_reply(bytes);
    return x ? std::string("accepted") : x.error();
  };
  auto cut = p;
  cut.pop_back();
  EXPECT_EQ(reply_error(cut), "probe reply: too short");
  EXPECT_EQ(reply_error(wrap_probe({1, 0, 2, true}, 64, 9)), "probe reply: APP name is not MPRR");
  auto ver = p;
  ver[0] = 0x40;
  EXPECT_EQ(reply_error(ver), "probe reply: not an RTCP APP packet");
}

TEST(Wire, AppPacketKindIsTheNameOfOurApps) {
  EXPECT_EQ(app_packet_kind(wrap_control(std::vector<uint8_t>{1, 2}, 1)), AppPacket::kControl);
  EXPECT_EQ(app_packet_kind(wrap_nack({1, {2}}, 1)), AppPacket::kNack);
  EXPECT_EQ(app_packet_kind(wrap_probe({1, 0, 2, true}, 64, 1)), AppPacket::kProbe);
  EXPECT_EQ(app_packet_kind(wrap_probe_reply({1, 1, 2, 3}, 1)), AppPacket::kProbeReply);
  auto other = wrap_nack({1, {2}}, 1);
  other[11] = 'X';  // an APP packet of someone else's
  EXPECT_EQ(app_packet_kind(other), AppPacket::kOther);
  auto sr = wrap_nack({1, {2}}, 1);
  sr[1] = 200;  // not APP at all
  EXPECT_EQ(app_packet_kind(sr), AppPacket::kOther);
  EXPECT_EQ(app_packet_kind(std::vector<uint8_t>(11, 0x80)), AppPacket::kOther);  // too short
  EXPECT_EQ(app_packet_kind(std::vector<uint8_t>{}), AppPacket::kOther);
}
