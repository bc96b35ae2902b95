// The VP8 + Opus stream header the broadcast unit tests build segments and frames for.
#pragma once
#include "media/broadcast/media_frame.hpp"

namespace meshcast::media::testing {

inline StreamHeader av_header(int width = 320, int height = 180) {
  StreamHeader h;
  h.video_codec = StreamHeader::VideoCodec::VP8;
  h.width = width;
  h.height = height;
  h.fps_num = 25;
  h.fps_den = 1;
  h.audio_codec = StreamHeader::AudioCodec::Opus;
  h.audio_rate = 48000;
  h.audio_channels = 2;
  return h;
}

}  // namespace meshcast::media::testing
