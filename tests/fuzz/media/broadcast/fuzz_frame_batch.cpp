// libFuzzer target for the segment payload parser (FrameCodec).
// Anything the parser accepts must re-serialize to exactly the input bytes.
#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "media/broadcast/frame_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshcast::media;
  auto batch = parse_frame_batch(std::span<const uint8_t>(data, size));
  if (!batch) {
    // Every rejection names one of the listed defects.
    if (std::string_view(to_string(batch.error())) == "unknown error") std::abort();
    return 0;
  }
  (void)batch->start_pts_us();
  (void)batch->end_pts_us();
  auto again = serialize_frame_batch(*batch);
  if (!again || again->size() != size || !std::equal(again->begin(), again->end(), data))
    std::abort();
  return 0;
}
