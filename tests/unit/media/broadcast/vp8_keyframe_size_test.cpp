// The size WHIP ingest reads from a VP8 key frame (RFC 6386 9.1), and what it refuses.
#include <gtest/gtest.h>

#include "media/broadcast/whip_source.hpp"

namespace meshcast::media {
namespace {

// Frame tag with the key-frame bit clear, start code, then 14-bit width/height (little
// endian, 2 bits of scaling on top).
std::vector<uint8_t> keyframe(int w, int h, uint8_t scale_bits = 0) {
  return {0x50,
          0x42,
          0x00,
          0x9d,
          0x01,
          0x2a,
          uint8_t(w & 0xff),
          uint8_t(((w >> 8) & 0x3f) | (scale_bits << 6)),
          uint8_t(h & 0xff),
          uint8_t(((h >> 8) & 0x3f) | (scale_bits << 6)),
          0x00};
}

TEST(Vp8KeyframeSize, ReadsWidthAndHeight) {
  EXPECT_EQ(vp8_keyframe_size(keyframe(320, 240)), (std::pair{320, 240}));
  EXPECT_EQ(vp8_keyframe_size(keyframe(1920, 1080, 3)), (std::pair{1920, 1080}));
  EXPECT_EQ(vp8_keyframe_size(keyframe(16383, 1)), (std::pair{16383, 1}));
}

TEST(Vp8KeyframeSize, RefusesDeltaFramesShortDataAndBadStartCodes) {
  auto delta = keyframe(320, 240);
  delta[0] |= 1;
  EXPECT_FALSE(vp8_keyframe_size(delta));
  auto bad = keyframe(320, 240);
  bad[4] = 0x02;
  EXPECT_FALSE(vp8_keyframe_size(bad));
  auto shorter = keyframe(320, 240);
  shorter.resize(9);
  EXPECT_FALSE(vp8_keyframe_size(shorter));
  EXPECT_FALSE(vp8_keyframe_size({}));
  EXPECT_FALSE(vp8_keyframe_size(keyframe(0, 240)));
}

}  // namespace
}  // namespace meshcast::media
