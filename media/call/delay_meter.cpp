#include "media/call/delay_meter.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "media/call/audio_receiver.hpp"
#include "media/call/audio_sender.hpp"
#include "media/common/gst_util.hpp"
#include "media/common/pipeline_runner.hpp"
#include "mesh/stats/stats.hpp"

namespace meshcast::media {

DelayStats summarize_delays(std::vector<double> d, size_t sent, size_t received) {
  DelayStats s;
  s.clicks_sent = sent;
  s.clicks_received = received;
  if (!d.empty()) {
    s.p50_ms = stats::percentile(d, 0.5);
    s.p95_ms = stats::percentile(d, 0.95);
    s.min_ms = *std::min_element(d.begin(), d.end());
    s.max_ms = *std::max_element(d.begin(), d.end());
  }
  s.delays_ms = std::move(d);
  return s;
}

std::vector<double> match_clicks(const std::vector<int64_t>& sent,
                                 const std::vector<int64_t>& received, int64_t max_delay_us) {
  std::vector<double> out;
  for (int64_t r : received) {
    auto it = std::upper_bound(sent.begin(), sent.end(), r);
    if (it == sent.begin()) continue;
    const int64_t d = r - *std::prev(it);
    if (d >= 0 && d < max_delay_us) out.push_back(d / 1000.0);
  }
  return out;
}

void DelayProbe::attach_sender(AudioSender& s) {
  s.set_on_captured([this](std::span<const int16_t> pcm, int64_t t) {
    for (int64_t on : tx_.feed(pcm, t)) sent_.push_back(on);
  });
}

void DelayProbe::attach_receiver(AudioReceiver& r) {
  r.set_on_played([this](std::span<const int16_t> pcm, int64_t t) {
    for (int64_t on : rx_.feed(pcm, t)) received_.push_back(on);
  });
}

DelayStats DelayProbe::result(int64_t max_delay_us) const {
  return summarize_delays(match_clicks(sent_, received_, max_delay_us), sent_.size(),
                          received_.size());
}

namespace {
void run_context(GMainContext* ctx, double seconds) {
  GMainLoopPtr loop(g_main_loop_new(ctx, FALSE));
  SourceGuard quit = SourceGuard::timeout(
      static_cast<guint>(seconds * 1000),
      [](gpointer l) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop*>(l));
        return G_SOURCE_REMOVE;
      },
      loop.get(), ctx);
  g_main_loop_run(loop.get());
}
}  // namespace

DelayStats measure_delay(const DelayBenchOptions& o) {
  GMainContextPtr ctx(g_main_context_new());
  g_main_context_push_thread_default(ctx.get());
  DelayStats result;
  {
    AudioSenderConfig sc;
    sc.source = "ticks:" + std::to_string(o.tick_interval_ms);
    sc.frame_ms = o.frame_ms;
    AudioSender tx(sc, ctx.get());
    AudioReceiverConfig rc;
    rc.sink = "null";
    AudioReceiver rx(rc, ctx.get());
    DelayProbe probe;
    probe.attach_sender(tx);
    probe.attach_receiver(rx);
    std::mt19937 rng(o.seed);
    std::bernoulli_distribution drop(o.loss);
    tx.set_on_rtp([&](std::vector<uint8_t> p) {
      if (o.loss > 0 && drop(rng)) return;
      rx.push_rtp(p);
    });
    if (rx.start() && tx.start()) run_context(ctx.get(), o.seconds);
    tx.stop();
    rx.stop();
    result = probe.result(static_cast<int64_t>(o.tick_interval_ms) * 900);
  }
  g_main_context_pop_thread_default(ctx.get());
  return result;
}

namespace {
struct RefTaps {
  ClickDetector tx{48000}, rx{48000};
  std::vector<int64_t> sent, received;
  GstElement* pipeline = nullptr;
  std::mutex m;
};

GstPadProbeReturn on_capture_probe(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* taps = static_cast<RefTaps*>(data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstMapInfo map;
  if (buf && GST_BUFFER_PTS_IS_VALID(buf) && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    const int64_t t = running_time_to_monotonic_us(taps->pipeline, GST_BUFFER_PTS(buf));
    std::lock_guard<std::mutex> l(taps->m);
    for (int64_t on : taps->tx.feed({reinterpret_cast<const int16_t*>(map.data), map.size / 2}, t))
      taps->sent.push_back(on);
    gst_buffer_unmap(buf, &map);
  }
  return GST_PAD_PROBE_OK;
}

void on_ref_handoff(GstElement*, GstBuffer* buf, GstPad*, gpointer data) {
  auto* taps = static_cast<RefTaps*>(data);
  const int64_t now = monotonic_us();
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
  std::lock_guard<std::mutex> l(taps->m);
  for (int64_t on : taps->rx.feed({reinterpret_cast<const int16_t*>(map.data), map.size / 2}, now))
    taps->received.push_back(on);
  gst_buffer_unmap(buf, &map);
}
}  // namespace

DelayStats measure_gst_reference_delay(double seconds, int latency_ms) {
  const std::string desc =
      "audiotestsrc is-live=true wave=ticks freq=2000 sine-periods-per-tick=10 volume=0.8 "
      "samplesperbuffer=480 tick-interval=500000000 ! "
      "audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! "
      "identity name=cap ! opusenc frame-size=20 inband-fec=true packet-loss-percentage=10 ! "
      "rtpopuspay ! rtpjitterbuffer latency=" +
      std::to_string(latency_ms) +
      " ! rtpopusdepay ! opusdec ! "
      "audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
      "fakesink name=out sync=true signal-handoffs=true";
  RefTaps taps;
  PipelineRunner runner;
  if (!runner.build(desc)) return {};
  taps.pipeline = runner.pipeline();
  add_src_buffer_probe(runner.pipeline(), "cap", &on_capture_probe, &taps);
  g_signal_connect(runner.element("out").get(), "handoff", G_CALLBACK(&on_ref_handoff), &taps);
  GMainContextPtr ctx(g_main_context_new());
  gst_element_set_state(runner.pipeline(), GST_STATE_PLAYING);
  run_context(ctx.get(), seconds);
  runner.stop();
  std::lock_guard<std::mutex> l(taps.m);
  return summarize_delays(match_clicks(taps.sent, taps.received, 450'000), taps.sent.size(),
                          taps.received.size());
}

}  // namespace meshcast::media
