// meshcast call-bench: mouth-to-ear delay over a real call. An in-process tracker and two
// CallSessions (alice rings bob, bob answers) on one GLib loop, one real PeerLink (ICE +
// DTLS-SRTP over 127.0.0.1) between them. Alice sends clicks; a DelayProbe taps alice's
// capture and bob's playout on the process's monotonic clock and pairs the clicks.
#include <glib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/cli/args.hpp"
#include "apps/cli/loop.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "apps/session/call_session.hpp"
#include "apps/session/webrtcbin_delay.hpp"
#include "media/call/delay_meter.hpp"
#include "mesh/base/time.hpp"
#include "signaling/tracker_server.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast call-bench [--seconds S] [--frame-ms 10|20] [--loss P] [--tick-ms MS]\n"
    "                           [--warmup S] [--webrtcbin] [--gst-reference] [--json FILE]\n\n"
    "Mouth-to-ear delay of a real call on this machine: starts a tracker on an ephemeral\n"
    "127.0.0.1 port and two call sessions in this process (alice calls bob, bob answers),\n"
    "connected by one ICE + DTLS-SRTP link over loopback. Alice's audio is a click every\n"
    "--tick-ms; the delay of a click is the time from its capture (first sample) at alice to\n"
    "its playout at bob (null sink, rendered with sync), both on this process's monotonic\n"
    "clock. Prints one JSON object (p50_ms, p95_ms, min_ms, max_ms, clicks_sent,\n"
    "clicks_received, ...) on stdout.\n\n"
    "Options:\n"
    "  --seconds S       measured call time (default 30, 1..600)\n"
    "  --frame-ms 10|20  Opus frame duration on both sides (default 20)\n"
    "  --loss P          drop P of each side's sent packets (0..0.5, default 0)\n"
    "  --tick-ms MS      click interval (default 1000, 200..2000); a click is paired with\n"
    "                    the latest one sent before it, so delays must stay below 0.9 x MS\n"
    "  --warmup S        clicks captured in the first S seconds of media are not counted\n"
    "                    (default 1)\n"
    "  --webrtcbin       also measure GStreamer webrtcbin with default settings: two\n"
    "                    webrtcbin in this process, SDP and ICE candidates handed over\n"
    "                    directly, ICE on 127.0.0.1, DTLS-SRTP, opusenc defaults, same clicks\n"
    "                    and taps, for S seconds\n"
    "  --gst-reference   also measure GStreamer's stock receive path (rtpjitterbuffer at\n"
    "                    webrtcbin's default latency 200 ms, no network) for S seconds\n"
    "  --json FILE       also write the JSON object to FILE\n"
    "  --jb-window N     experiment: bob's jitter-buffer window (packets, default 100)\n"
    "  --jb-percentile P experiment: bob's jitter-buffer jitter percentile (default 90)\n\n"
    "Examples:\n"
    "  meshcast call-bench --seconds 30\n"
    "  meshcast call-bench --seconds 30 --frame-ms 10 --loss 0.1 --json delay.json\n";

nlohmann::json delay_json(const media::DelayStats& s) {
  nlohmann::json j;
  j["p50_ms"] = s.p50_ms;
  j["p95_ms"] = s.p95_ms;
  j["min_ms"] = s.min_ms;
  j["max_ms"] = s.max_ms;
  j["clicks_sent"] = s.clicks_sent;
  j["clicks_received"] = s.clicks_received;
  j["clicks_matched"] = s.delays_ms.size();
  return j;
}

std::vector<int64_t> since(const std::vector<int64_t>& v, int64_t t0) {
  std::vector<int64_t> out;
  std::copy_if(v.begin(), v.end(), std::back_inserter(out), [&](int64_t t) { return t >= t0; });
  return out;
}

int run(int argc, char** argv) {
  Args a(
      argc, argv, {"gst-reference", "webrtcbin"},
      {"seconds", "frame-ms", "loss", "tick-ms", "warmup", "json", "jb-window", "jb-percentile"});
  if (a.help()) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  const double seconds = a.get_double("seconds", 30, 1, 600);
  const int frame_ms = int(a.get_int("frame-ms", 20, 10, 20));
  const double loss = a.get_double("loss", 0, 0, 0.5);
  const int tick_ms = int(a.get_int("tick-ms", 1000, 200, 2000));
  const double warmup = a.get_double("warmup", 1, 0, 60);
  media::JitterBufferConfig jbc;
  jbc.window_packets = size_t(a.get_int("jb-window", long(jbc.window_packets), 10, 5000));
  jbc.jitter_percentile = int(a.get_int("jb-percentile", jbc.jitter_percentile, 50, 100));
  std::string err = a.ok() ? "" : a.error();
  if (err.empty() && frame_ms != 10 && frame_ms != 20) err = "--frame-ms must be 10 or 20";
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast call-bench: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  set_log_level(LogLevel::Error);

  MainLoop loop;
  signaling::TrackerServerOptions to;
  to.port = 0;  // ephemeral, loopback
  to.log_level = signaling::LogLevel::kError;
  signaling::TrackerServer tracker(to);
  if (auto started = tracker.start(); !started) {
    std::fprintf(stderr, "meshcast call-bench: tracker: %s\n", started.error().c_str());
    return kExitFailure;
  }

  media::DelayProbe probe;
  std::string end_msg;
  int end_code = -1;
  auto on_end = [&](const std::string& who) {
    return [&, who](const std::string& m, int c) {
      if (end_code == -1) {
        end_msg = who + ": " + m;
        end_code = c;
      }
    };
  };

  CallOptions b;
  b.tracker_url = tracker.ws_url();
  b.self_id = "bob";
  b.auto_answer = true;
  b.accept_from = {"alice"};
  b.audio_tx.source = "test:880";
  b.audio_tx.frame_ms = frame_ms;
  b.audio_rx.sink = "null";  // fakesink sync=true: its handoff is the "ear" moment
  b.audio_rx.jitter = jbc;
  b.impairment.drop = loss;
  b.impairment.seed = 11;
  CallSession bob(nullptr, b, link::Certificate::process_default());
  bob.set_on_end(on_end("bob"));
  bob.set_on_media_created([&] { probe.attach_receiver(*bob.audio_receiver()); });
  bob.start();
  if (!loop.run_until([&] { return bob.phase() == CallPhase::kWaiting || end_code != -1; }, 5000) ||
      end_code != -1) {
    std::fprintf(stderr, "meshcast call-bench: bob did not register: %s\n", end_msg.c_str());
    return kExitFailure;
  }

  CallOptions al = b;
  al.self_id = "alice";
  al.to = "bob";
  al.auto_answer = false;
  al.accept_from = {};
  al.audio_tx.source = "ticks:" + std::to_string(tick_ms);
  al.impairment.seed = 12;
  al.ring_timeout_ms = 5000;
  CallSession alice(nullptr, al, link::Certificate::process_default());
  alice.set_on_end(on_end("alice"));
  alice.set_on_media_created([&] { probe.attach_sender(*alice.audio_sender()); });
  const int64_t t_call = meshcast::monotonic_us();
  alice.start();
  auto both_in_call = [&] {
    return alice.phase() == CallPhase::kInCall && bob.phase() == CallPhase::kInCall;
  };
  if (!loop.run_until([&] { return both_in_call() || end_code != -1; }, 15000) || end_code != -1) {
    std::fprintf(stderr, "meshcast call-bench: call did not start: %s\n", end_msg.c_str());
    alice.hangup();
    bob.hangup();
    return kExitFailure;
  }
  const int64_t t_in_call = meshcast::monotonic_us();
  std::fprintf(stderr, "meshcast call-bench: in call after %.0f ms; measuring %.0f s\n",
               (t_in_call - t_call) / 1e3, seconds + warmup);
  // Bounded: the loop ends after warmup + seconds, or early if either side ends.
  loop.run_until([&] { return end_code != -1; }, unsigned((warmup + seconds) * 1000));
  auto as = alice.stats_json(), bs = bob.stats_json();
  const std::string ended_early = end_code == -1 ? "" : end_msg;
  nlohmann::json jb;  // bob's jitter buffer in full: where concealed frames come from
  if (auto* rx = bob.audio_receiver()) {
    auto st = rx->stats().jitter;
    jb = {{"packets_received", st.packets_received},
          {"packets_late", st.packets_late},
          {"frames_normal", st.frames_normal},
          {"frames_fec", st.frames_fec},
          {"frames_plc", st.frames_plc},
          {"frames_expand", st.frames_expand},
          {"frames_dropped", st.frames_dropped},
          {"frames_skipped", st.frames_skipped},
          {"resets", st.resets},
          {"target_ms", st.target_us / 1e3},
          {"lag_ms", st.lag_us / 1e3}};
  }
  alice.hangup();
  loop.run_until([&] { return end_code != -1; }, 1000);
  alice.stop_media();
  bob.stop_media();

  const int64_t t0 = t_in_call + int64_t(warmup * 1e6);
  // Counted: clicks captured after the warm-up, and what was played after the first of them.
  auto sent = since(probe.sent_onsets(), t0);
  auto recv = since(probe.received_onsets(), sent.empty() ? t0 : sent.front());
  auto stats = media::summarize_delays(media::match_clicks(sent, recv, int64_t(tick_ms) * 900),
                                       sent.size(), recv.size());

  nlohmann::json j = delay_json(stats);
  j["path"] = "CallSession -> PeerLink (ICE + DTLS-SRTP, 127.0.0.1) -> CallSession";
  j["seconds"] = seconds;
  j["warmup_s"] = warmup;
  j["frame_ms"] = frame_ms;
  j["loss"] = loss;
  j["tick_ms"] = tick_ms;
  j["call_setup_ms"] = (t_in_call - t_call) / 1e3;
  j["ended_early"] = ended_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(ended_early);
  for (const char* k : {"loss", "jitter_ms", "frames_normal", "frames_fec", "frames_concealed",
                        "jitter_target_ms", "data_fraction", "srtp_auth_failures"})
    if (bs.contains(k)) j["bob_rx"][k] = bs[k];
  jb["window_packets"] = jbc.window_packets;
  jb["jitter_percentile"] = jbc.jitter_percentile;
  j["bob_jitter_buffer"] = jb;
  if (as.contains("rtt_ms")) j["rtt_ms"] = as["rtt_ms"];
  j["delays_ms"] = stats.delays_ms;

  if (a.has("webrtcbin")) {
    std::fprintf(stderr, "meshcast call-bench: GStreamer webrtcbin pair, %.0f s\n", seconds);
    auto w = measure_webrtcbin_delay(seconds, tick_ms, warmup);
    auto& wj = j["webrtcbin"];
    wj = delay_json(w.stats);
    wj["path"] =
        "audiotestsrc ! opusenc ! rtpopuspay ! webrtcbin -> ICE+DTLS-SRTP 127.0.0.1 -> "
        "webrtcbin (default latency 200) ! rtpopusdepay ! opusdec ! fakesink sync=true";
    wj["first_media_ms"] = w.first_media_ms;
    wj["error"] = w.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(w.error);
    wj["delays_ms"] = w.stats.delays_ms;
  }
  if (a.has("gst-reference")) {
    std::fprintf(stderr, "meshcast call-bench: GStreamer rtpjitterbuffer reference, %.0f s\n",
                 seconds);
    auto ref = media::measure_gst_reference_delay(seconds, 200);
    j["gst_jitterbuffer_reference"] = delay_json(ref);
    j["gst_jitterbuffer_reference"]["path"] =
        "opusenc ! rtpopuspay ! rtpjitterbuffer latency=200 ! rtpopusdepay ! opusdec ! "
        "fakesink sync=true (no network; not full webrtcbin)";
  }

  const std::string out = j.dump(2);
  std::printf("%s\n", out.c_str());
  if (a.has("json")) {
    std::ofstream f(a.get("json"));
    f << out << "\n";
    if (!f) {
      std::fprintf(stderr, "meshcast call-bench: cannot write %s\n", a.get("json").c_str());
      return kExitFailure;
    }
  }
  if (stats.delays_ms.empty()) {
    std::fprintf(stderr, "meshcast call-bench: no click was matched\n");
    return kExitFailure;
  }
  if (j.contains("webrtcbin") && j["webrtcbin"]["clicks_matched"].get<size_t>() == 0) {
    std::fprintf(stderr, "meshcast call-bench: webrtcbin: no click was matched (%s)\n",
                 j["webrtcbin"]["error"].is_string()
                     ? j["webrtcbin"]["error"].get<std::string>().c_str()
                     : "-");
    return kExitFailure;
  }
  return kExitOk;
}

RegisterCommand reg("call-bench",
                    "mouth-to-ear delay of a real call over loopback (clicks, p50/p95)", run);

}  // namespace
}  // namespace meshcast::app
