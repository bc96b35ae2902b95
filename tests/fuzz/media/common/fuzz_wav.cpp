#include <cstddef>
#include <cstdint>

#include "media/common/audio_analysis.hpp"

using namespace meshcast::media;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto w = parse_wav({data, size});
  if (!w) {
    if (w.error().empty()) __builtin_trap();  // every rejection says why
    return 0;
  }
  if (w->samples.size() * 2 > size) __builtin_trap();
  auto m = w->mono();
  // Keep analysis cheap: only short inputs reach the (O(n * bins)) frequency scan.
  if (m.size() < 4096) (void)dominant_frequency(m, w->sample_rate, 100, 400);
  (void)audible_fraction(m, w->sample_rate);
  (void)detect_clicks(m, w->sample_rate);
  return 0;
}
