#include "media/common/rtp.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace meshcast::media;

TEST(Rtp, BuildParseRoundTrip) {
  RtpHeader h;
  h.marker = true;
  h.payload_type = 111;
  h.sequence = 0xBEEF;
  h.timestamp = 0x01020304;
  h.ssrc = 0xCAFEBABE;
  h.csrcs = {1, 2};
  const std::vector<uint8_t> payload{9, 8, 7};
  auto pkt = build_rtp(h, payload);
  ASSERT_EQ(pkt.size(), 12u + 8 + 3);
  auto p = parse_rtp(pkt);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->marker);
  EXPECT_EQ(p->payload_type, 111);
  EXPECT_EQ(p->sequence, 0xBEEF);
  EXPECT_EQ(p->timestamp, 0x01020304u);
  EXPECT_EQ(p->ssrc, 0xCAFEBABEu);
  EXPECT_EQ(p->csrcs, (std::vector<uint32_t>{1, 2}));
  auto pl = rtp_payload(pkt, *p);
  EXPECT_EQ(std::vector<uint8_t>(pl.begin(), pl.end()), payload);
  EXPECT_FALSE(looks_like_rtcp(pkt));
}

TEST(Rtp, ExtensionAndPaddingAreSkipped) {
  std::vector<uint8_t> pkt{0xB0, 96,   0, 1, 0, 0, 0, 2, 0, 0, 0, 3,  // V=2 P=1 X=1
                           0xBE, 0xDE, 0, 1, 1, 2, 3, 4,              // one-byte ext, 1 word
                           0xAA, 0xBB, 0, 0, 3};                      // payload + 3 padding
  auto p = parse_rtp(pkt);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has_extension);
  EXPECT_EQ(p->extension_profile, 0xBEDE);
  EXPECT_EQ(p->header_size, 20u);
  EXPECT_EQ(p->payload_size, 2u);
  EXPECT_EQ(p->padding_size, 3u);
}

TEST(Rtp, MalformedInputIsRejected) {
  const std::vector<std::vector<uint8_t>> bad = {
      {},                                                  // empty
      {0x80, 111, 0, 1},                                   // shorter than fixed header
      {0x40, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},           // version 1
      {0x81, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},           // CSRC count past end
      {0x8F, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3},  // 15 CSRCs, 3 bytes
      {0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE},     // extension header truncated
      {0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0xFF, 0xFF},  // ext length huge
      {0xA0, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},                       // padding count 0
      {0xA0, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9},  // padding past the payload
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    auto r = parse_rtp(bad[i]);
    ASSERT_FALSE(r) << "case " << i;
    EXPECT_NE(std::string(r.error()), "") << "case " << i;  // says why
  }
}

TEST(Rtp, SequenceDistanceWraps) {
  EXPECT_EQ(seq_diff(2, 65534), 4);
  EXPECT_EQ(seq_diff(65534, 2), -4);
  EXPECT_EQ(seq_diff(10, 10), 0);
}

TEST(Rtp, RtcpDemux) {
  std::vector<uint8_t> rr{0x80, 201, 0, 1, 0, 0, 0, 1};
  EXPECT_TRUE(looks_like_rtcp(rr));
  std::vector<uint8_t> rtp{0x80, 96, 0, 1};
  EXPECT_FALSE(looks_like_rtcp(rtp));
}
