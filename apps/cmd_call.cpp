// meshcast call: ring someone (or wait for a call) and talk over a secure link.
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "apps/cli/args.hpp"
#include "apps/cli/identity_option.hpp"
#include "apps/cli/link_options.hpp"
#include "apps/cli/loop.hpp"
#include "apps/cli/status.hpp"
#include "apps/command.hpp"
#include "apps/session/call_session.hpp"
#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast call --id ME --to PEER [options]     (ring PEER)\n"
    "       meshcast call --id ME --answer [options]      (wait and accept)\n"
    "       meshcast call --id ME [options]               (wait and ask on the terminal)\n\n"
    "A two-party call: the tracker carries the invitation (the callee must accept before\n"
    "any offer reaches it), then one ICE + DTLS-SRTP link carries Opus audio both ways\n"
    "(and VP8 video with --video). Hang up with Ctrl-C or --duration.\n\n"
    "Options:\n"
    "  --tracker URL          tracker WebSocket (default ws://127.0.0.1:8700/ws)\n"
    "                         URL1,URL2,...: instances of one tracker cluster, tried in a\n"
    "                         random order (the next one on every reconnect)\n"
    "  --id ID                my id at the tracker (required)\n"
    "  --to PEER              whom to call\n"
    "  --answer               accept incoming calls without asking\n"
    "  --accept-from A,B      accept only these callers (others are refused)\n"
    "  --ring-timeout S       give up if not answered within S seconds (default 30)\n"
    "  --audio-source SRC     device | test[:HZ] | ticks[:MS] | file:PATH.wav (default device)\n"
    "  --audio-sink SINK      device | null | file:PATH.wav (default device)\n"
    "  --frame-ms 10|20       Opus frame duration (default 20)\n"
    "  --dtx                  Opus discontinuous transmission\n"
    "  --video                add VP8 video\n"
    "  --video-source SRC     device | test (default device)\n"
    "  --video-sink SINK      device | null | file:PATH.webm (default device)\n"
    "  --loss P               drop P of the link's packets each way (testing; 0..0.5)\n"
    "  --duration S           hang up after S seconds of call\n"
    "  --heal-window S        a link that goes silent mid-call is healed with ICE restarts\n"
    "                         for up to S seconds before the call ends (default 25; 0 = end\n"
    "                         the call as soon as the link is silent for 3 s)\n"
    "  --stats FILE.jsonl     one JSON status line per second\n"
    "  --quiet                no live status line\n"
    "  --log-level L          error | warn | info | debug (default warn)\n"
    "%s"
    "  --known-peers FILE     identity keys of peers called before (default known_peers\n"
    "                         next to the identity key). The first call to an id pins its\n"
    "                         key (its fingerprint is printed); a later call to that id\n"
    "                         with another key is refused (exit 7)\n"
    "%s\n"
    "Examples:\n"
    "  meshcast call --id bob --answer --accept-from alice\n"
    "  meshcast call --id alice --to bob --audio-source test:440 --audio-sink file:alice.wav\n"
    "\nExit codes: 0 call ended normally, 1 failure (incl. link lost mid-call), 2 usage (also:\n"
    "unusable identity key file), 3 declined or refused (also: my id is bound to another\n"
    "key), 4 callee offline / tracker unreachable, 5 not answered in time, 7 the peer's\n"
    "identity key is not the pinned one (or not proven), 130 interrupted before the call\n"
    "started.\n";

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int run(int argc, char** argv) {
  Args a(argc, argv, {"answer", "dtx", "video", "quiet"},
         {"tracker",     "id",       "to",           "accept-from", "ring-timeout", "audio-source",
          "audio-sink",  "frame-ms", "video-source", "video-sink",  "loss",         "duration",
          "heal-window", "stats",    "log-level",    "identity",    "known-peers",  "local-address",
          "stun",        "turn",     "turn-ca"});
  if (a.help()) {
    std::printf(kHelp, kIdentityOptionsHelp, kLinkOptionsHelp);
    return kExitOk;
  }
  CallOptions o;
  o.self_id = a.get("id");
  o.to = a.get("to");
  o.auto_answer = a.has("answer");
  o.accept_from = split_list(a.get("accept-from"));
  o.ring_timeout_ms = int(a.get_int("ring-timeout", 30, 1, 3600) * 1000);
  o.audio_tx.source = a.get("audio-source", "device");
  o.audio_tx.frame_ms = int(a.get_int("frame-ms", 20, 10, 20));
  o.audio_tx.dtx = a.has("dtx");
  o.audio_rx.sink = a.get("audio-sink", "device");
  o.video = a.has("video");
  o.video_tx.source = a.get("video-source", "device");
  o.video_rx.sink = a.get("video-sink", "device");
  double loss = a.get_double("loss", 0, 0, 0.5);
  double duration = a.get_double("duration", 0, 0, 86400);
  double heal_window = a.get_double("heal-window", 25, 0, 3600);
  std::string err = a.ok() ? "" : a.error();
  if (err.empty()) err = apply_log_level_option(a.get("log-level"), a.has("log-level"));
  if (err.empty() && o.self_id.empty()) err = "--id ME is required";
  if (err.empty() && !o.to.empty() && (o.auto_answer || a.has("accept-from")))
    err = "--to (calling) cannot be combined with --answer / --accept-from";
  if (err.empty() && o.to == o.self_id && !o.to.empty()) err = "cannot call yourself";
  if (err.empty() && o.audio_tx.frame_ms != 10 && o.audio_tx.frame_ms != 20)
    err = "--frame-ms must be 10 or 20";
  if (err.empty()) {
    if (auto url = parse_tracker_and_link_options(a, &o.link))
      o.tracker_url = *url;
    else
      err = url.error();
  }
  o.link.heal_window_ms = int(heal_window * 1000);
  if (!err.empty()) {
    std::fprintf(stderr, "meshcast call: %s (see --help)\n", err.c_str());
    return kExitUsage;
  }
  if (loss > 0) {
    o.impairment.drop = loss;
    o.impairment.seed = std::hash<std::string>{}(o.self_id);
  }
  StatsWriter stats;
  auto identity = open_stats_and_identity(a, "call", stats);
  if (!identity) {
    std::fprintf(stderr, "meshcast call: %s\n", identity.error().c_str());
    return kExitUsage;
  }
  o.client.identity = std::move(*identity);
  auto known_peers = load_known_peers_option(a);
  if (!known_peers) {
    std::fprintf(stderr, "meshcast call: %s\n", known_peers.error().c_str());
    return kExitUsage;
  }
  o.known_peers = std::move(*known_peers);

  MainLoop loop;
  CallSession call(nullptr, o, link::Certificate::process_default());
  int exit_code = kExitOk;
  std::string end_message;
  bool ended = false;
  call.set_on_end([&](const std::string& msg, int code) {
    end_message = msg;
    exit_code = code;
    ended = true;
    loop.quit();
  });
  StatusLine status(a.has("quiet"));
  // Asking on the terminal: one line from stdin, read on the main loop.
  std::function<void(bool)> pending_decision;
  meshcast::media::GIOChannelPtr in;
  meshcast::media::SourceGuard in_watch;
  call.set_on_ask([&](const std::string& from, std::function<void(bool)> decide) {
    if (!isatty(STDIN_FILENO)) {
      status.finish();
      std::fprintf(stderr,
                   "meshcast call: call from %s declined (no terminal to ask; use "
                   "--answer or --accept-from)\n",
                   from.c_str());
      decide(false);
      return;
    }
    status.finish();
    std::fprintf(stderr, "Incoming call from %s. Accept? [y/N] ", from.c_str());
    std::fflush(stderr);
    pending_decision = std::move(decide);
    if (!in) {
      in.reset(g_io_channel_unix_new(STDIN_FILENO));
      GIOFunc on_line = [](GIOChannel* ch, GIOCondition, gpointer p) -> gboolean {
        auto* fn = static_cast<std::function<void(bool)>*>(p);
        meshcast::media::GCharPtr line;
        g_io_channel_read_line(ch, meshcast::media::out_ptr(line), nullptr, nullptr, nullptr);
        bool yes = line && (line.get()[0] == 'y' || line.get()[0] == 'Y');
        if (*fn) {
          auto f = std::move(*fn);
          *fn = nullptr;
          f(yes);
        }
        return G_SOURCE_CONTINUE;
      };
      in_watch = meshcast::media::SourceGuard::with_callback(
          g_io_create_watch(in.get(), GIOCondition(G_IO_IN | G_IO_HUP)),
          meshcast::media::source_func(on_line), &pending_decision);
    }
  });
  bool counting = false;
  loop.every(1000, [&] {
    if (call.phase() == CallPhase::kInCall) {
      stats.write(call.stats_json());
      if (duration > 0 && !counting) {
        counting = true;
        loop.every(unsigned(duration * 1000), [&] {
          loop.quit();
          return false;
        });
      }
    }
    status.update(call.status_line());
    return true;
  });
  call.start();
  bool interrupted = loop.run();
  status.finish();
  in_watch.reset();
  in.reset();
  if (!ended) {
    bool in_call = call.phase() == CallPhase::kInCall;
    call.hangup();
    call.leave_tracker();
    loop.run_until([] { return false; }, 300);  // let the hang-up and leave reach the tracker
    if (!a.has("quiet"))
      std::fprintf(stderr, "meshcast call: %s\n", in_call ? "hung up" : "cancelled");
    if (interrupted && !in_call) return kExitInterrupted;
    return kExitOk;
  }
  // Leaving (rather than just closing) frees our id at once instead of after the resume grace.
  call.leave_tracker();
  loop.run_until([] { return false; }, 200);
  std::fprintf(stderr, "meshcast call: %s\n", end_message.c_str());
  return exit_code;
}

RegisterCommand reg("call", "call someone, or answer a call (Opus audio, optional VP8)", run);

}  // namespace
}  // namespace meshcast::app
