// meshcast demo: a local broadcast with viewers and a live status table.
#include <unistd.h>

#include <cstdio>

#include "apps/cli/args.hpp"
#include "apps/cli/loop.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "apps/session/session_common.hpp"
#include "apps/session/swarm.hpp"
#include "media/broadcast/frame_player.hpp"
#include "media/common/gst_util.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast demo [options]\n\n"
    "Starts a tracker, a broadcaster (test pattern + tone, VP8 + Opus) and a handful of\n"
    "viewers on this machine, all on 127.0.0.1 with real ICE + DTLS-SRTP links, and shows a\n"
    "live status: each viewer's lag and continuity, the broadcaster's upload in stream\n"
    "copies, the bit rate. The tracker's dashboard shows the overlay as a graph.\n\n"
    "Options:\n"
    "  --viewers N        viewers (default 6)\n"
    "  --duration S       stop after S seconds (default: until Ctrl-C on a terminal, 30 s\n"
    "                     otherwise)\n"
    "  --bitrate KBPS     stream bit rate (default 500)\n"
    "  --port PORT        tracker port (default 8700; 0 = any free port)\n"
    "  --open             show the first viewer's video and sound in a window titled\n"
    "                     'meshcast: demo' (needs a display; without one the demo\n"
    "                     says so and runs headless)\n"
    "  --quiet            no live status\n"
    "  --stats FILE.jsonl one JSON status line per second\n"
    "  --log-level L      error | warn | info | debug (default warn)\n\n"
    "Examples:\n"
    "  meshcast demo\n"
    "  meshcast demo --viewers 12 --duration 60\n";

std::string table(Swarm& s, int bitrate) {
  std::string out;
  char buf[256];
  auto* b = s.broadcaster();
  auto bj = b ? b->status_json() : nlohmann::json::object();
  std::snprintf(buf, sizeof buf,
                "meshcast demo  %5.0f s   broadcaster: %s, %4.0f kbps produced, upload %.2f "
                "stream copies (%0.0f kbps)\n",
                s.elapsed_s(), b && b->live() ? "live" : "starting", bj.value("bitrate_kbps", 0.0),
                bj.value("upload_copies", 0.0), bj.value("upload_kbps", 0.0));
  out += buf;
  out += "  viewer  state      played  lag ms  continuity  partners  up kbps\n";
  for (auto& v : s.viewers()) {
    if (!v.alive) continue;
    const auto& m = v.session->metrics();
    auto j = v.session->status_json();
    std::snprintf(buf, sizeof buf, "  %-7s %-10s %6llu  %6.0f  %9.2f%%  %8d  %7.0f\n",
                  v.session->id().c_str(),
                  !v.session->joined() ? "joining" : (m.played ? "playing" : "buffering"),
                  (unsigned long long)m.played, j.value("lag_ms", 0.0), 100 * m.continuity(),
                  int(j.value("partners", size_t(0))), j.value("upload_kbps", 0.0));
    out += buf;
  }
  (void)bitrate;
  return out;
}

int run(int argc, char** argv) {
  Args a(argc, argv, {"open", "quiet"},
         {"viewers", "duration", "bitrate", "port", "stats", "log-level"});
  if (a.help()) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  SwarmOptions o;
  o.viewers = int(a.get_int("viewers", 6, 1, 100));
  o.bitrate_kbps = int(a.get_int("bitrate", 500, 64, 5000));
  o.tracker_port = uint16_t(a.get_int("port", 8700, 0, 65535));
  o.real_media = true;
  o.join_spread_s = 3;
  o.stream = "demo";
  bool tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
  double duration = a.get_double("duration", tty ? 0 : 30, 0, 86400);
  std::string err = a.ok() ? "" : a.error();
  if (err.empty()) err = apply_log_level_option(a.get("log-level"), a.has("log-level"));
  StatsWriter stats;
  if (err.empty() && a.has("stats")) {
    if (auto opened = stats.open(a.get("stats")); !opened) err = opened.error();
  }
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast demo: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  media::ensure_gst_init();
  if (a.has("open")) {
    // The same window sinks as watch (never a framebuffer sink); without a display the
    // demo runs headless, as documented.
    media::PlayerConfig pc;
    auto sink = media::choose_video_sink();
    if (!sink) {
      std::fprintf(stderr,
                   "meshcast demo: --open: cannot open a video window: %s; running "
                   "headless\n",
                   sink.error().c_str());
    } else {
      pc.video_sink = std::move(*sink);
      pc.output = *media::parse_output_spec("display");
      pc.title = "meshcast: " + o.stream;
      o.recorders.push_back({0, pc});
    }
  }
  MainLoop loop;
  Swarm swarm(o);
  if (auto started = swarm.start(); !started) {
    std::fprintf(stderr, "meshcast demo: cannot start the tracker: %s%s\n", started.error().c_str(),
                 o.tracker_port ? " (is another tracker running? try --port 0)" : "");
    return kExitFailure;
  }
  std::printf("meshcast demo: tracker %s, dashboard %s/?stream=%s\n",
              swarm.tracker()->ws_url().c_str(), swarm.tracker()->http_url().c_str(),
              o.stream.c_str());
  std::printf("  %d viewers join over %.0f s; %s\n", o.viewers, o.join_spread_s,
              duration > 0 ? ("stopping after " + std::to_string(int(duration)) + " s").c_str()
                           : "Ctrl-C stops everything");
  std::fflush(stdout);
  bool quiet = a.has("quiet");
  int lines_drawn = 0;
  int ticks = 0;
  loop.every(1000, [&] {
    if (!swarm.fatal_error().empty()) {
      loop.quit();
      return false;
    }
    stats.write(swarm.status_json());
    if (quiet) return true;
    if (tty) {
      std::string t = table(swarm, o.bitrate_kbps);
      if (lines_drawn) std::printf("\033[%dA", lines_drawn);  // redraw in place
      lines_drawn = 0;
      for (char c : t) lines_drawn += c == '\n';
      std::string cleared;
      for (size_t i = 0, start = 0; i < t.size(); ++i)
        if (t[i] == '\n') {
          cleared += "\033[K" + t.substr(start, i - start + 1);
          start = i + 1;
        }
      std::fputs(cleared.c_str(), stdout);
    } else if (++ticks % 5 == 0) {
      std::printf("%s\n", swarm.status_line().c_str());
    }
    std::fflush(stdout);
    return true;
  });
  bool interrupted = loop.run(duration);
  if (!swarm.fatal_error().empty()) {
    std::fprintf(stderr, "meshcast demo: %s\n", swarm.fatal_error().c_str());
    return kExitFailure;
  }
  auto j = swarm.summary();
  swarm.stop();
  loop.run_until([] { return false; }, 300);
  std::printf(
      "\nmeshcast demo %s: %d viewers, start-up p50 %.0f ms, lag p50 %.0f ms / p95 %.0f ms, "
      "continuity %.2f%%, broadcaster upload %.2f copies\n",
      interrupted ? "stopped" : "done", o.viewers, j["startup_ms"]["p50"].get<double>(),
      j["lag_ms"]["p50"].get<double>(), j["lag_ms"]["p95"].get<double>(),
      100 * j["continuity"].get<double>(), j["source_upload_copies"].get<double>());
  return kExitOk;
}

RegisterCommand reg("demo", "a local broadcast with viewers and a live status (headless)", run);

}  // namespace
}  // namespace meshcast::app
