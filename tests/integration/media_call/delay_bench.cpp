// Mouth-to-ear delay of the call media path in one process (no network), and of GStreamer's
// stock rtpjitterbuffer receive path for comparison.
//   media_call_delay_bench [seconds] [loss]
#include <cstdio>
#include <cstdlib>

#include "media/call/delay_meter.hpp"

using namespace meshcast::media;

static void report(const char* name, const DelayStats& d) {
  std::printf(
      "%-44s clicks sent=%zu received=%zu matched=%zu  p50=%.1f ms  p95=%.1f ms  "
      "min=%.1f  max=%.1f\n",
      name, d.clicks_sent, d.clicks_received, d.delays_ms.size(), d.p50_ms, d.p95_ms, d.min_ms,
      d.max_ms);
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 20.0;
  const double loss = argc > 2 ? std::atof(argv[2]) : 0.0;
  DelayBenchOptions o;
  o.seconds = seconds;
  o.loss = loss;
  report("meshcast AudioSender->AudioReceiver 20ms", measure_delay(o));
  o.frame_ms = 10;
  report("meshcast AudioSender->AudioReceiver 10ms", measure_delay(o));
  report("gst rtpjitterbuffer latency=200 (default)", measure_gst_reference_delay(seconds, 200));
  return 0;
}
