// A/V offset at the viewer's sinks (docs/BENCHMARKS.md). Needs a display (e.g. run under
// xvfb-run). Usage: av_sync_bench [seconds=30] [WxH=1280x720] [fps=30] [kbps=1500]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "apps/session/session_common.hpp"
#include "media/broadcast/BroadcastSource.hpp"
#include "media/common/gst_util.hpp"
#include "tests/integration/viewer_window/av_sync.hpp"

int main(int argc, char** argv) {
  meshcast::media::ensure_gst_init();
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 30;
  auto size = meshcast::media::parse_video_size(argc > 2 ? argv[2] : "1280x720");
  const int fps = argc > 3 ? std::atoi(argv[3]) : 30;
  const int kbps = argc > 4 ? std::atoi(argv[4]) : 1500;
  if (seconds < 3 || seconds > 3600 || !size || fps < 1 || fps > 120 || kbps < 64 || kbps > 20000) {
    std::fprintf(stderr, "usage: av_sync_bench [seconds 3..3600] [WxH] [fps 1..120] [kbps]\n");
    return 2;
  }
  auto r = meshcast::testing::measure_av_sync(seconds, size->first, size->second, fps, kbps);
  if (!r.error.empty()) {
    std::fprintf(stderr, "av_sync_bench: %s\n", r.error.c_str());
    return 1;
  }
  std::vector<double> abs_ms;
  for (double o : r.offsets_ms) abs_ms.push_back(std::abs(o));
  using meshcast::app::percentile;
  std::printf(
      "av_sync_bench: %ds %dx%d@%d %d kbps, sink %s: %zu flashes, %zu beeps, %zu pairs; "
      "offset (audio - video) p50 %.1f ms, p95 %.1f ms, min %.1f, max %.1f; |offset| p50 %.1f "
      "ms, p95 %.1f ms\n",
      seconds, size->first, size->second, fps, kbps, r.video_sink.c_str(), r.flashes, r.beeps,
      r.offsets_ms.size(), percentile(r.offsets_ms, 0.5), percentile(r.offsets_ms, 0.95),
      percentile(r.offsets_ms, 0.0), percentile(r.offsets_ms, 1.0), percentile(abs_ms, 0.5),
      percentile(abs_ms, 0.95));
  if (std::getenv("AV_SYNC_VERBOSE")) {
    std::printf("flashes (ms):");
    for (auto t : r.flash_us) std::printf(" %.1f", double(t) / 1000.0);
    std::printf("\nbeeps (ms):");
    for (auto t : r.beep_us) std::printf(" %.1f", double(t) / 1000.0);
    std::printf("\n");
  }
  return r.offsets_ms.empty() ? 1 : 0;
}
