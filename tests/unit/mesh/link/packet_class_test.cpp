#include "mesh/link/packet_class.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace meshcast::link;

namespace {
PacketClass classify(std::vector<uint8_t> v) { return classify_packet(v.data(), v.size()); }
}  // namespace

TEST(PacketClass, FollowsRfc7983Ranges) {
  std::vector<uint8_t> p(40, 0);
  for (int b = 0; b < 256; ++b) {
    p[0] = static_cast<uint8_t>(b);
    p[1] = 96;
    PacketClass want = b <= 3                   ? PacketClass::kStun
                       : (b >= 20 && b <= 63)   ? PacketClass::kDtls
                       : (b >= 128 && b <= 191) ? PacketClass::kRtp
                                                : PacketClass::kUnknown;
    EXPECT_EQ(classify(p), want) << "first byte " << b;
  }
}

TEST(PacketClass, RtcpByPayloadTypeByte) {
  for (int pt = 0; pt < 256; ++pt) {
    std::vector<uint8_t> p(20, 0);
    p[0] = 0x80;
    p[1] = static_cast<uint8_t>(pt);
    EXPECT_EQ(classify(p), pt >= 192 && pt <= 223 ? PacketClass::kRtcp : PacketClass::kRtp) << pt;
  }
}

TEST(PacketClass, TooShortIsUnknown) {
  EXPECT_EQ(classify_packet(nullptr, 0), PacketClass::kUnknown);
  EXPECT_EQ(classify({0x80}), PacketClass::kUnknown);
  EXPECT_EQ(classify({0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0}), PacketClass::kUnknown);  // 11 B RTP
  EXPECT_EQ(classify({0x80, 200, 0, 0, 0, 0, 0}), PacketClass::kUnknown);             // 7 B RTCP
  EXPECT_EQ(classify({0x80, 200, 0, 0, 0, 0, 0, 0}), PacketClass::kRtcp);
  EXPECT_EQ(classify({22, 254, 253}), PacketClass::kUnknown);
  EXPECT_EQ(classify({0, 1, 0}), PacketClass::kUnknown);
}
