// A/V offset at the viewer's sinks (docs/BENCHMARKS.md). Needs a display (e.g. under
// xvfb-run). Each run is a fresh broadcast (its own capture start); offsets of all runs are
// pooled. Usage: av_sync_bench [seconds=30] [WxH=1280x720] [fps=30] [kbps=1500] [runs=4]
// AV_SYNC_VERBOSE=1 also prints every mark's running time.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "apps/session/session_common.hpp"
#include "media/broadcast/broadcast_source.hpp"
#include "media/common/gst_util.hpp"
#include "tests/integration/viewer_window/av_sync.hpp"

namespace {

void print_summary(const char* what, const std::vector<double>& offsets) {
  using meshcast::app::percentile;
  std::vector<double> abs_ms;
  for (double o : offsets) abs_ms.push_back(std::abs(o));
  std::printf(
      "%s: %zu pairs; offset (audio - video) p50 %.1f ms, p95 %.1f ms, min %.1f, max %.1f; "
      "|offset| p50 %.1f ms, p95 %.1f ms\n",
      what, offsets.size(), percentile(offsets, 0.5), percentile(offsets, 0.95),
      percentile(offsets, 0.0), percentile(offsets, 1.0), percentile(abs_ms, 0.5),
      percentile(abs_ms, 0.95));
}

}  // namespace

int main(int argc, char** argv) {
  meshcast::media::ensure_gst_init();
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 30;
  auto size = meshcast::media::parse_video_size(argc > 2 ? argv[2] : "1280x720");
  const int fps = argc > 3 ? std::atoi(argv[3]) : 30;
  const int kbps = argc > 4 ? std::atoi(argv[4]) : 1500;
  const int runs = argc > 5 ? std::atoi(argv[5]) : 4;
  if (seconds < 3 || seconds > 3600 || !size || fps < 1 || fps > 120 || kbps < 64 || kbps > 20000 ||
      runs < 1 || runs > 100) {
    std::fprintf(stderr,
                 "usage: av_sync_bench [seconds 3..3600] [WxH] [fps 1..120] [kbps] [runs]\n");
    return 2;
  }
  const bool verbose = std::getenv("AV_SYNC_VERBOSE") != nullptr;
  std::vector<double> all;
  for (int run = 1; run <= runs; ++run) {
    auto r = meshcast::testing::measure_av_sync(seconds, size->first, size->second, fps, kbps);
    if (!r.error.empty()) {
      std::fprintf(stderr, "av_sync_bench: %s\n", r.error.c_str());
      return 1;
    }
    char what[200];
    std::snprintf(what, sizeof what,
                  "run %d: %ds %dx%d@%d %d kbps, sink %s, %zu flashes, %zu beeps", run, seconds,
                  size->first, size->second, fps, kbps, r.video_sink.c_str(), r.flashes, r.beeps);
    print_summary(what, r.offsets_ms);
    if (verbose) {
      std::printf("  flashes (ms):");
      for (auto t : r.flash_us) std::printf(" %.1f", double(t) / 1000.0);
      std::printf("\n  beeps (ms):");
      for (auto t : r.beep_us) std::printf(" %.1f", double(t) / 1000.0);
      std::printf("\n");
    }
    all.insert(all.end(), r.offsets_ms.begin(), r.offsets_ms.end());
    std::fflush(stdout);
  }
  print_summary("all runs", all);
  return all.empty() ? 1 : 0;
}
