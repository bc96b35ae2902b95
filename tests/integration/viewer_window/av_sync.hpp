// A/V sync through the broadcast media path, in one process: BroadcastSource (test pattern
// with --av-marks: a white frame and a beep at the same instant every second) -> Segmenter
// -> serialize -> parse -> FramePlayer (display: the real window sink and audio sink), whose
// probes time each flash and beep onset where the decoded buffers enter the sinks.
// The mesh carries segments unchanged (timestamps included), so it does not move A/V.
#pragma once

#include <glib.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "media/broadcast/broadcast_source.hpp"
#include "media/broadcast/frame_codec.hpp"
#include "media/broadcast/frame_player.hpp"
#include "media/broadcast/segmenter.hpp"
#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"

namespace meshcast::testing {

struct AvSyncResult {
  std::string error;
  std::string video_sink;
  size_t flashes = 0, beeps = 0;
  std::vector<double> offsets_ms;  // beep onset - flash onset, per paired mark (+ = audio late)
  std::vector<int64_t> flash_us, beep_us;  // running times of every mark
};

inline AvSyncResult measure_av_sync(int seconds, int width, int height, int fps, int bitrate_kbps) {
  AvSyncResult r;
  media::GMainContextPtr own_ctx(g_main_context_new());  // outlives the source and player
  GMainContext* ctx = own_ctx.get();
  {
    media::BroadcastConfig bc;
    bc.width = width;
    bc.height = height;
    bc.fps = fps;
    bc.bitrate_kbps = bitrate_kbps;
    bc.av_marks = true;
    media::BroadcastSource source(ctx, bc);
    media::Segmenter segmenter(source.header());
    media::PlayerConfig pc;
    pc.output.type = media::OutputSpec::Type::Display;
    pc.detect_av_marks = true;
    pc.title = "meshcast: av-sync";
    media::FramePlayer player(ctx, pc);
    source.set_on_frame([&](const media::MediaFrame& f) {
      if (auto batch = segmenter.push(f)) {
        auto bytes = media::serialize_frame_batch(*batch);
        if (!bytes) return;
        if (auto parsed = media::parse_frame_batch(*bytes)) player.push_batch(*parsed);
      }
    });
    source.set_on_error([&](const std::string& e) { r.error = e; });
    if (auto started = source.start(); !started) {
      r.error = std::move(started).error();
    } else {
      media::SourceGuard tick = media::SourceGuard::timeout(
          10, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, ctx);
      const gint64 end = g_get_monotonic_time() + gint64{seconds} * 1'000'000;
      while (g_get_monotonic_time() < end && r.error.empty() && !player.failed())
        g_main_context_iteration(ctx, TRUE);
      tick.reset();
      source.stop();
    }
    if (player.failed() && r.error.empty()) r.error = player.error();
    r.video_sink = player.video_sink();
    // The first second of playout is left out: the start key frame is the flash at the origin,
    // and the first audio can start with a loud transient (off the beep grid; most likely the
    // Opus decoder starting mid-stream) that looks like an onset.
    constexpr int64_t kWarmupUs = 1'000'000;
    std::vector<int64_t> v, a;
    for (const auto& m : player.av_marks())
      if (m.running_time_us >= kWarmupUs)
        (m.kind == media::MediaFrame::Kind::Video ? v : a).push_back(m.running_time_us);
    player.stop();
    r.flashes = v.size();
    r.beeps = a.size();
    r.flash_us = v;
    r.beep_us = a;
    // Pair each flash with the nearest beep within half a mark period.
    for (int64_t fv : v) {
      int64_t best = -1, best_d = 500'000;
      for (int64_t fa : a)
        if (std::llabs(fa - fv) < best_d) {
          best_d = std::llabs(fa - fv);
          best = fa;
        }
      if (best >= 0) r.offsets_ms.push_back(double(best - fv) / 1000.0);
    }
  }
  return r;
}

}  // namespace meshcast::testing
