// meshcast swarm-worker: a share of a swarm's viewers in their own process (internal;
// started by `meshcast swarm --workers N`). Prints its raw figures as one JSON line.
#include <cstdio>

#include "apps/cli/args.hpp"
#include "apps/cli/loop.hpp"
#include "apps/command.hpp"
#include "apps/session/swarm.hpp"

namespace meshcast::app {
namespace {

int run(int argc, char** argv) {
  Args a(argc, argv, {},
         {"tracker", "stream", "first", "count", "duration", "join-spread", "seed", "churn", "loss",
          "max-upload", "view-key", "kill-at"});
  if (a.help()) {
    std::printf(
        "Usage: meshcast swarm-worker --tracker URL --stream NAME --first I --count N "
        "--duration S [...]\n\nInternal: runs viewers I..I+N-1 of a `meshcast swarm` and "
        "prints their figures as JSON.\n\nExample (what `meshcast swarm --workers 2` starts):\n"
        "  meshcast swarm-worker --tracker ws://127.0.0.1:8700/ws --stream swarm --first 0 "
        "--count 40 --duration 60\n");
    return kExitOk;
  }
  SwarmOptions o;
  o.tracker_url = a.get("tracker");
  o.stream = a.get("stream", "swarm");
  o.first_index = int(a.get_int("first", 0, 0, 1'000'000));
  o.viewers = int(a.get_int("count", 1, 1, 5000));
  o.duration_s = a.get_double("duration", 20, 0.1, 86400);
  o.join_spread_s = a.get_double("join-spread", 2, 0, 3600);
  o.seed = uint64_t(a.get_int("seed", 1, 0, 1L << 40));
  o.churn_per_min = a.get_double("churn", 0, 0, 100000);
  o.loss = a.get_double("loss", 0, 0, 0.5);
  o.max_upload_kbps = int(a.get_int("max-upload", 0, 0, 1'000'000));
  o.view_key = a.get("view-key");
  if (a.has("kill-at")) {
    std::string v = a.get("kill-at");
    auto colon = v.find(':');
    if (colon != std::string::npos) {
      o.kill_at_s = std::atof(v.substr(0, colon).c_str());
      o.kill_fraction = std::atof(v.substr(colon + 1).c_str());
    }
  }
  if (!a.ok() || o.tracker_url.empty()) {
    std::fprintf(stderr, "meshcast swarm-worker: %s\n",
                 a.ok() ? "--tracker is required" : a.error().c_str());
    return kExitUsage;
  }
  MainLoop loop;
  Swarm swarm(o);
  if (auto started = swarm.start(); !started) {
    std::fprintf(stderr, "meshcast swarm-worker: %s\n", started.error().c_str());
    return kExitFailure;
  }
  loop.run(o.duration_s);
  auto t = swarm.tally();
  swarm.stop();
  loop.run_until([] { return false; }, 200);
  std::printf("%s\n", t.to_json().dump().c_str());
  std::fflush(stdout);
  return swarm.fatal_error().empty() ? kExitOk : kExitFailure;
}

RegisterCommand reg("swarm-worker", "internal: a share of a swarm's viewers (see swarm --workers)",
                    run);

}  // namespace
}  // namespace meshcast::app
