// meshcast broadcast: capture, encode, sign and feed a stream into the mesh.
#include <cstdio>
#include <optional>
#include <tuple>

#include "apps/cli/args.hpp"
#include "apps/cli/identity_option.hpp"
#include "apps/cli/link_options.hpp"
#include "apps/cli/loop.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "apps/session/broadcast_session.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast broadcast --tracker URL --stream NAME [options]\n\n"
    "Captures and encodes (VP8 + Opus), cuts the media into signed segments, registers the\n"
    "stream with the tracker and pushes it to only a few viewers, who relay it onwards.\n\n"
    "Options:\n"
    "  --tracker URL        tracker WebSocket (default ws://127.0.0.1:8700/ws)\n"
    "                       URL1,URL2,...: instances of one tracker cluster, tried in a\n"
    "                       random order (the next one on every reconnect)\n"
    "  --stream NAME        stream name (required)\n"
    "  --id ID              peer id at the tracker (default broadcaster-NAME)\n"
    "  --video SRC          test | device | file:PATH | none (default test)\n"
    "  --audio SRC          test | device | file:PATH | none (default test)\n"
    "  --video-size WxH     encoded picture size, 16..4096 each (default: the file's or\n"
    "                       device's own size; 1280x720 for the test pattern)\n"
    "  --fps N              encoded frame rate, 1..120 (default: the source's own rate;\n"
    "                       30 for the test pattern); key frames stay 1 s apart\n"
    "  --av-marks           test pattern + tone only: a white frame and a 100 ms beep at the\n"
    "                       same instant every second (A/V sync measurement)\n"
    "  --synthetic          send a synthetic payload at the bit rate instead of encoding\n"
    "  --whip-listen ADDR:PORT  take the media from a WHIP publisher (OBS, a browser,\n"
    "                       GStreamer) instead of capturing: POST offers to\n"
    "                       http://ADDR:PORT/whip; VP8 or H.264 + Opus pass through\n"
    "                       unchanged at the publisher's size (docs/whip-whep.md)\n"
    "  --whip-token TOKEN   the bearer token WHIP publishers must send\n"
    "  --transcode          with --whip-listen: re-encode the publisher's video to VP8 at\n"
    "                       --video-size (default 640x360) and --fps (default 30) within\n"
    "                       --bitrate, instead of passing it through\n"
    "  --bitrate KBPS       total media bit rate, audio included (default 800)\n"
    "  --segment-ms MS      segment duration (default 200)\n"
    "  --copies N           most stream copies the broadcaster uploads (default 4)\n"
    "  --private            only viewers with the view key may join\n"
    "  --view-key KEY       the view key of a private stream\n"
    "  --duration S         stop after S seconds (default: until Ctrl-C)\n"
    "  --stats FILE.jsonl   one JSON status line per second\n"
    "  --quiet              no live status line\n"
    "  --log-level L        error | warn | info | debug (default warn)\n"
    "%s%s\n"
    "Examples:\n"
    "  meshcast broadcast --stream demo\n"
    "  meshcast broadcast --stream film --video file:film.mp4 --audio file:film.mp4 \\\n"
    "      --video-size 1280x720 --fps 30 --bitrate 1500\n"
    "  meshcast broadcast --stream team --private --view-key s3cret --bitrate 500\n"
    "  meshcast broadcast --stream live --whip-listen 127.0.0.1:8080 --whip-token s3cret\n"
    "\nExit codes: 0 ok, 1 failure, 2 usage (also: unusable identity key file), 3 refused\n"
    "(name taken, or bound to another identity key), 4 tracker unreachable.\n";

int run(int argc, char** argv) {
  Args a(argc, argv, {"private", "quiet", "synthetic", "av-marks", "transcode"},
         {"tracker",    "stream",      "id",        "identity",      "video",  "audio",
          "video-size", "fps",         "bitrate",   "segment-ms",    "copies", "view-key",
          "duration",   "stats",       "log-level", "local-address", "stun",   "turn",
          "turn-ca",    "whip-listen", "whip-token"});
  if (a.help()) {
    std::printf(kHelp, kIdentityOptionsHelp, kLinkOptionsHelp);
    return kExitOk;
  }
  BroadcastOptions o;
  o.stream = a.get("stream");
  o.peer_id = a.get("id", "broadcaster-" + o.stream);
  o.bitrate_kbps = int(a.get_int("bitrate", 800, 32, 20000));
  o.segment_ms = int(a.get_int("segment-ms", 200, 50, 1000));
  o.source_copies = int(a.get_int("copies", 4, 1, 16));
  o.is_private = a.has("private");
  o.view_key = a.get("view-key");
  double duration = a.get_double("duration", 0, 0, 86400 * 7);
  std::string err = apply_log_level_option(a.get("log-level"), a.has("log-level"));
  if (err.empty() && !a.ok()) err = a.error();
  if (err.empty() && o.stream.empty()) err = "--stream NAME is required";
  if (err.empty() && o.is_private && o.view_key.empty()) err = "--private needs --view-key KEY";
  if (err.empty() && !o.is_private && !o.view_key.empty()) err = "--view-key needs --private";
  if (err.empty()) {
    if (auto url = parse_tracker_and_link_options(a, &o.link))
      o.tracker_url = *url;
    else
      err = url.error();
  }
  std::optional<std::pair<int, int>> size;
  if (err.empty() && a.has("video-size")) {
    size = media::parse_video_size(a.get("video-size"));
    if (!size)
      err = "--video-size must be WxH with W and H in [16, " +
            std::to_string(media::kMaxVideoDimension) + "], got '" + a.get("video-size") + "'";
  }
  const int fps = int(a.get_int("fps", 0, 1, media::kMaxFps));
  if (err.empty() && !a.ok()) err = a.error();
  if (err.empty() && a.has("synthetic") &&
      (a.has("video-size") || a.has("fps") || a.has("av-marks")))
    err = "--synthetic sends no video: --video-size, --fps and --av-marks do not apply";
  if (err.empty() && a.has("whip-token") && !a.has("whip-listen"))
    err = "--whip-token needs --whip-listen";
  if (err.empty() && a.has("transcode") && !a.has("whip-listen"))
    err = "--transcode needs --whip-listen (captured media is always encoded)";
  if (err.empty() && a.has("whip-listen")) {
    const bool transcode = a.has("transcode");
    for (const char* o : {"synthetic", "video", "audio", "video-size", "fps", "av-marks"})
      if (err.empty() && a.has(o) &&
          !(transcode && (std::string_view(o) == "video-size" || std::string_view(o) == "fps")))
        err = std::string("--whip-listen takes the media from the publisher: --") + o +
              " does not apply";
    auto listen = parse_listen_address(a.get("whip-listen"));
    if (err.empty() && !listen)
      err =
          "--whip-listen must be IP:PORT, [IPv6]:PORT or PORT, got '" + a.get("whip-listen") + "'";
    if (err.empty()) {
      WhipIngestOptions w;
      w.http.host = listen->first;
      w.http.port = listen->second;
      w.http.path = "/whip";
      w.http.token = a.get("whip-token");
      w.source.leg = leg_config_from(o.link);
      if (transcode) {
        media::WhipSourceConfig::Transcode t;
        if (size) std::tie(t.width, t.height) = *size;
        if (fps > 0) t.fps = fps;
        t.video_kbps = std::max(16, o.bitrate_kbps - 64);  // Opus passes through at ~64
        w.source.transcode = t;
      }
      o.whip = w;
      if (w.http.token.empty() && listen->first != "127.0.0.1" && listen->first != "::1")
        std::fprintf(stderr,
                     "meshcast broadcast: warning: anyone who reaches %s can publish into this "
                     "stream; set --whip-token\n",
                     a.get("whip-listen").c_str());
    }
  } else if (err.empty() && !a.has("synthetic")) {
    media::BroadcastConfig mc;
    auto v = media::parse_source_spec(a.get("video", "test"));
    auto au = media::parse_source_spec(a.get("audio", "test"));
    if (!v)
      err = "--video must be test, device, file:PATH or none";
    else if (!au)
      err = "--audio must be test, device, file:PATH or none";
    else if (v->type == media::SourceSpec::Type::None && au->type == media::SourceSpec::Type::None)
      err = "--video none and --audio none leave nothing to broadcast";
    else {
      mc.video = *v;
      mc.audio = *au;
      mc.bitrate_kbps = o.bitrate_kbps;
      if (size) std::tie(mc.width, mc.height) = *size;
      mc.fps = fps;  // 0 = the source's own
      mc.av_marks = a.has("av-marks");
      if (mc.av_marks &&
          (v->type != media::SourceSpec::Type::Test || au->type != media::SourceSpec::Type::Test))
        err = "--av-marks needs --video test and --audio test";
      else if (v->type == media::SourceSpec::Type::None && (size || fps))
        err = "--video none: --video-size and --fps do not apply";
      o.media = mc;
    }
  }
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast broadcast: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  StatsWriter stats;
  auto identity = open_stats_and_identity(a, "broadcast", stats);
  if (!identity) {
    std::fprintf(stderr, "meshcast broadcast: %s\n", identity.error().c_str());
    return kExitUsage;
  }
  o.client.identity = std::move(*identity);

  MainLoop loop;
  auto cert = link::Certificate::process_default();
  BroadcastSession session(nullptr, o, cert);
  int exit_code = kExitOk;
  session.set_on_fatal([&](const std::string& msg, int code) {
    std::fprintf(stderr, "\nmeshcast broadcast: %s\n", msg.c_str());
    exit_code = code;
    loop.quit();
  });
  session.set_on_live([&] {
    log_msg(LogLevel::Info, "stream '%s' is live at %s", o.stream.c_str(), o.tracker_url.c_str());
  });
  StatusLine status(a.has("quiet"));
  loop.every(1000, [&] {
    auto s = session.status_json();
    stats.write(s);
    char line[256];
    std::snprintf(
        line, sizeof line,
        "broadcast %s | %s | segments %llu | %.0f kbps | upload %.2f copies | partners %d",
        o.stream.c_str(), session.live() ? "live" : "connecting",
        (unsigned long long)s["segments"].get<uint64_t>(), s["bitrate_kbps"].get<double>(),
        s["upload_copies"].get<double>(), int(s["partners"].get<size_t>()));
    std::string text = line;
    if (s.contains("whip")) {
      const auto& w = s["whip"];
      text += w.value("live", false) ? " | publisher " + w.value("codec", std::string("?")) + " " +
                                           w.value("size", std::string(""))
                                     : " | waiting for a WHIP publisher";
    }
    if (int r = s["tracker_retries"].get<int>(); r > 0)
      text += " | tracker lost, retry " + std::to_string(r);
    status.update(text);
    return true;
  });
  session.start();
  bool interrupted = loop.run(duration);
  status.finish();
  session.stop();
  loop.run_until([] { return false; }, 300);  // let the end-of-stream and byes go out
  if (interrupted && exit_code == kExitOk) exit_code = kExitOk;  // Ctrl-C is a normal stop
  return exit_code;
}

RegisterCommand reg("broadcast", "broadcast a live stream into the mesh", run);

}  // namespace
}  // namespace meshcast::app
