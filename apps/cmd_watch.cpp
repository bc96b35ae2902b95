// meshcast watch: join a stream, relay it to partners, play or record it.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "apps/cli/args.hpp"
#include "apps/cli/identity_option.hpp"
#include "apps/cli/link_options.hpp"
#include "apps/cli/loop.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "apps/session/session_common.hpp"
#include "apps/session/viewer_session.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast watch --tracker URL --stream NAME [options]\n\n"
    "Joins a stream, connects to the neighbours the tracker suggests (ICE + DTLS-SRTP),\n"
    "verifies every segment's signature, relays to partners within its upload budget and\n"
    "plays (a window when a display exists), records a file, or only counts.\n\n"
    "Options:\n"
    "  --tracker URL        tracker WebSocket (default ws://127.0.0.1:8700/ws)\n"
    "                       URL1,URL2,...: instances of one tracker cluster, tried in a\n"
    "                       random order (the next one on every reconnect)\n"
    "  --stream NAME        stream to watch (required)\n"
    "  --view-key KEY       key of a private stream\n"
    "  --id ID              peer id at the tracker (default: assigned)\n"
    "  --out OUT            auto | display | null | FILE (default auto). The file's\n"
    "                       extension picks the container: .webm (VP8), .mkv (VP8 or\n"
    "                       H.264), .mp4 (H.264), all with Opus; any other extension is\n"
    "                       written as WebM. A video codec the container cannot hold\n"
    "                       (H.264 into WebM, VP8 into MP4) fails at the first segment,\n"
    "                       when the stream's codec is known. auto and\n"
    "                       display open a window (OpenGL, XVideo or X11 sink) titled with\n"
    "                       the stream name and play the sound; with no usable display they\n"
    "                       stop at once with exit code 6 (use --out null or a file there).\n"
    "                       Closing the window ends watch (exit 0)\n"
    "  --max-upload KBPS    uplink for relaying: the upper bound of the upload budget, and\n"
    "                       sends are paced to it (pushes and control before pull\n"
    "                       answers); default 4x the stream rate, unpaced\n"
    "  --upload-estimate on|off  on (default): the budget starts from a probe of the\n"
    "                       uplink and follows what the links see (RTT growth, partners'\n"
    "                       NACKs), so children beyond it go elsewhere; off: the budget\n"
    "                       is --max-upload (or 4x the stream rate) whatever the uplink\n"
    "  --whep-listen ADDR:PORT  also serve what this viewer plays to browsers: open\n"
    "                       http://ADDR:PORT/ (player page) or point a WHEP client at\n"
    "                       http://ADDR:PORT/whep; --out then defaults to null\n"
    "  --whep-token TOKEN   the bearer token WHEP clients must send (?token= on the page)\n"
    "  --whep-max N         most browser legs served at once, 1..64 (default 8)\n"
    "  --duration S         stop after S seconds (default: until Ctrl-C)\n"
    "  --stats FILE.jsonl   one JSON status line per second\n"
    "  --quiet              no live status line\n"
    "  --log-level L        error | warn | info | debug (default warn)\n"
    "%s%s\n"
    "Examples:\n"
    "  meshcast watch --stream demo\n"
    "  meshcast watch --stream team --view-key s3cret --out team.webm --duration 30\n"
    "  meshcast watch --stream obs --out obs.mkv    (any codec; .mp4 for H.264 streams)\n"
    "  meshcast watch --stream live --whep-listen 127.0.0.1:8081\n"
    "\nExit codes: 0 ok (also: window closed), 1 failure, 2 usage, 3 refused (private\n"
    "stream, wrong/missing key), 4 tracker unreachable or no such stream, 6 no display for\n"
    "--out auto|display.\n";

int run(int argc, char** argv) {
  Args a(argc, argv, {"quiet"},
         {"tracker", "stream", "view-key", "id", "identity", "out", "max-upload", "duration",
          "stats", "log-level", "local-address", "stun", "turn", "turn-ca", "upload-estimate",
          "whep-listen", "whep-token", "whep-max"});
  if (a.help()) {
    std::printf(kHelp, kIdentityOptionsHelp, kLinkOptionsHelp);
    return kExitOk;
  }
  ViewerOptions o;
  o.stream = a.get("stream");
  o.view_key = a.get("view-key");
  o.peer_id = a.get("id");
  o.max_upload_kbps = a.get_int("max-upload", 0, 0, 1'000'000);
  double duration = a.get_double("duration", 0, 0, 86400 * 7);
  std::string err = apply_log_level_option(a.get("log-level"), a.has("log-level"));
  const std::string estimate = a.get("upload-estimate", "on");
  if (err.empty() && estimate != "on" && estimate != "off")
    err = "--upload-estimate must be on or off";
  o.estimate_upload = estimate == "on";
  if (err.empty() && !a.ok()) err = a.error();
  if (err.empty() && o.stream.empty()) err = "--stream NAME is required";
  if (err.empty()) {
    if (auto url = parse_tracker_and_link_options(a, &o.link))
      o.tracker_url = *url;
    else
      err = url.error();
  }
  if (err.empty() && (a.has("whep-token") || a.has("whep-max")) && !a.has("whep-listen"))
    err = "--whep-token and --whep-max need --whep-listen";
  const int whep_max = int(a.get_int("whep-max", 8, 1, 64));
  if (err.empty() && !a.ok()) err = a.error();
  if (err.empty() && a.has("whep-listen")) {
    auto listen = parse_listen_address(a.get("whep-listen"));
    if (!listen) {
      err =
          "--whep-listen must be IP:PORT, [IPv6]:PORT or PORT, got '" + a.get("whep-listen") + "'";
    } else {
      WhepHubOptions w;
      w.http.host = listen->first;
      w.http.port = listen->second;
      w.http.path = "/whep";
      w.http.token = a.get("whep-token");
      w.max_legs = size_t(whep_max);
      w.leg = leg_config_from(o.link);
      o.whep = w;
    }
  }
  // A viewer that serves browsers usually runs headless: record or show only when asked.
  auto out = media::parse_output_spec(a.get("out", o.whep ? "null" : "auto"));
  if (err.empty() && !out)
    err = "--out must be auto, display, null or a file path (.webm, .mkv or .mp4)";
  if (err.empty() && out->type == media::OutputSpec::Type::File) {
    // Say so now, not when the recording is finalised at the end of the run.
    const auto dir = std::filesystem::absolute(out->path).parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      err = "--out: the folder " + dir.string() + " does not exist";
    else if (access(dir.c_str(), W_OK) != 0)
      err = "--out: cannot write into " + dir.string();
    else if (!media::file_extension_known(out->path))
      log_msg(LogLevel::Warn, "--out %s: not .webm, .mkv or .mp4: writing WebM (VP8 only)",
              out->path.c_str());
  }
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast watch: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  media::PlayerConfig pc;
  pc.output = *out;
  if (out->type == media::OutputSpec::Type::Auto || out->type == media::OutputSpec::Type::Display) {
    // Decided before joining: a window that cannot open is said at once, not after the
    // first segment (and a framebuffer sink is never tried).
    auto sink = media::choose_video_sink();
    if (!sink) {
      std::fprintf(stderr,
                   "meshcast watch: cannot open a video window: %s.\n"
                   "Use --out null (relay and count only) or --out FILE.mkv (record).\n",
                   sink.error().c_str());
      return kExitNoDisplay;
    }
    pc.video_sink = std::move(*sink);
    pc.output.type = media::OutputSpec::Type::Display;
    pc.title = "meshcast: " + o.stream;
    log_msg(LogLevel::Info, "window: %s", pc.video_sink.c_str());
  }
  o.player = pc;
  StatsWriter stats;
  auto identity = open_stats_and_identity(a, "watch", stats);
  if (!identity) {
    std::fprintf(stderr, "meshcast watch: %s\n", identity.error().c_str());
    return kExitUsage;
  }
  o.client.identity = std::move(*identity);

  MainLoop loop;
  ViewerSession session(nullptr, o, link::Certificate::process_default());
  int exit_code = kExitOk;
  session.set_on_fatal([&](const std::string& msg, int code) {
    std::fprintf(stderr, "\nmeshcast watch: %s\n", msg.c_str());
    exit_code = code;
    loop.quit();
  });
  session.set_on_window_closed([&] {
    log_msg(LogLevel::Info, "window closed");
    loop.quit();
  });
  StatusLine status(a.has("quiet"));
  loop.every(1000, [&] {
    auto s = session.status_json();
    stats.write(s);
    char line[256];
    const auto& m = session.metrics();
    std::snprintf(line, sizeof line,
                  "watch %s | %s | played %llu | lag %.0f ms | continuity %.1f%% | partners %d | "
                  "up %.0f kbps",
                  o.stream.c_str(),
                  session.joined() ? (m.played ? "playing" : "buffering") : "joining",
                  (unsigned long long)m.played, s["lag_ms"].get<double>(), 100 * m.continuity(),
                  int(s["partners"].get<size_t>()), s["upload_kbps"].get<double>());
    std::string text = line;
    if (s.contains("whep_legs"))
      text += " | browsers " + std::to_string(s["whep_legs"].get<size_t>());
    if (int r = s["tracker_retries"].get<int>(); r > 0)
      text += " | tracker lost, retry " + std::to_string(r);
    status.update(text);
    return true;
  });
  session.start();
  const bool interrupted = loop.run(duration);
  status.finish();
  session.stop(true);
  if (auto r = session.finish_output(); !r) {
    std::fprintf(stderr, "meshcast watch: output: %s\n", r.error().c_str());
    if (exit_code == kExitOk) exit_code = kExitFailure;
  }
  loop.run_until([] { return false; }, 200);
  const auto& m = session.metrics();
  if (exit_code == kExitOk && m.played == 0) {
    // Ending "fine" without a single segment would hide a broken network from scripts.
    exit_code = interrupted ? kExitInterrupted : kExitNoMedia;
    if (!interrupted)
      std::fprintf(stderr, "meshcast watch: nothing played from '%s' in %.0f s\n", o.stream.c_str(),
                   duration);
  }
  if (!a.has("quiet"))
    std::fprintf(stderr,
                 "watched %s: played %llu, missed %llu, continuity %.2f%%, start-up %.0f ms, "
                 "lag p50 %.0f ms\n",
                 o.stream.c_str(), (unsigned long long)m.played, (unsigned long long)m.missed,
                 100 * m.continuity(), m.startup_ms(), percentile(m.lag_ms.values(), 0.5));
  return exit_code;
}

RegisterCommand reg("watch", "join a stream, relay it, play or record it", run);

}  // namespace
}  // namespace meshcast::app
