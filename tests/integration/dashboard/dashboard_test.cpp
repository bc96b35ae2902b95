// The tracker's dashboard in a real browser: a swarm runs in this process (tracker,
// broadcaster, 5 viewers over real links) while Debian's headless Chromium loads the
// stream view and dumps the DOM the page's script built from the JSON endpoints.
// The GLib loop keeps running the whole time: the tracker answers from this process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "apps/cli/loop.hpp"
#include "apps/session/swarm.hpp"

extern char** environ;

using namespace meshcast;
using namespace meshcast::app;

namespace {

const char* kChromium = "/usr/bin/chromium";

struct BrowserResult {
  bool exited = false;
  int status = 0;
  std::string dom, log;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs `chromium --headless --dump-dom url` in its own process group with stdout/stderr
// in files (a pipe could fill up and block it), spinning `loop` until it exits or
// `timeout_ms` passes; on timeout the whole group is killed.
BrowserResult dump_dom(MainLoop& loop, const std::string& url, unsigned timeout_ms) {
  BrowserResult r;
  char tmpl[] = "/tmp/meshcast_dash_XXXXXX";
  const char* dir_c = mkdtemp(tmpl);
  if (!dir_c) {
    r.log = "mkdtemp failed";
    return r;
  }
  std::filesystem::path dir(dir_c);
  std::string out = (dir / "dom.html").string(), err = (dir / "chromium.log").string();
  std::string profile = "--user-data-dir=" + (dir / "profile").string();
  std::vector<std::string> args = {kChromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-extensions",
                                   profile,
                                   "--virtual-time-budget=5000",
                                   "--dump-dom",
                                   url};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, kChromium, &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    r.log = std::string("posix_spawn: ") + strerror(rc);
    std::filesystem::remove_all(dir);
    return r;
  }
  loop.run_until(
      [&] {
        if (r.exited) return true;
        if (waitpid(pid, &r.status, WNOHANG) == pid) r.exited = true;
        return r.exited;
      },
      timeout_ms);
  if (!r.exited) {
    kill(-pid, SIGKILL);
    waitpid(pid, &r.status, 0);
  }
  // Helpers (renderer, zygote) share the group; make sure none outlives the test.
  kill(-pid, SIGKILL);
  r.dom = slurp(out);
  r.log = slurp(err);
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace

TEST(Dashboard, HeadlessChromiumDrawsTheOverlay) {
  ASSERT_TRUE(std::filesystem::exists(kChromium))
      << kChromium << " is missing: the dashboard test needs Debian's chromium package "
      << "(bash scripts/install-deps.sh installs it)";

  SwarmOptions o;
  o.viewers = 5;
  o.bitrate_kbps = 200;
  o.join_spread_s = 1;
  o.duration_s = 120;
  o.stream = "dash-test";
  Swarm swarm(o);
  auto started = swarm.start();
  ASSERT_TRUE(started) << started.error();
  MainLoop loop;

  // Wait until every viewer has reported at least one partner, so the overlay is complete.
  auto overlay_ready = [&] {
    auto ov = swarm.tracker()->core().api_overlay(o.stream, "");
    if (!ov || !ov->contains("peers")) return false;
    int reported = 0;
    for (auto& p : (*ov)["peers"])
      if (p["role"] == "viewer" && !p["partners"].empty()) ++reported;
    return reported == o.viewers;
  };
  ASSERT_TRUE(loop.run_until(overlay_ready, 30000)) << "viewers never reported their partners";
  ASSERT_EQ(swarm.fatal_error(), "");

  std::string url = swarm.tracker()->http_url() + "/?stream=" + o.stream;
  BrowserResult r = dump_dom(loop, url, 90000);
  ASSERT_TRUE(r.exited) << "chromium did not finish within 90 s; its log:\n" << r.log;
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
      << "chromium failed (status " << r.status << "); its log:\n"
      << r.log;

  // Peer nodes: <g class="peer ..." data-peer-id="ID" ...>
  std::set<std::string> ids;
  std::regex peer_re(R"re(<g class="peer( [a-z ]*)?" data-peer-id="([^"]+)")re");
  for (auto it = std::sregex_iterator(r.dom.begin(), r.dom.end(), peer_re);
       it != std::sregex_iterator(); ++it)
    ids.insert((*it)[2]);
  std::regex bc_re(R"re(<g class="peer broadcaster[^"]*" data-peer-id="broadcaster")re");
  EXPECT_TRUE(std::regex_search(r.dom, bc_re)) << "no highlighted broadcaster node";
  EXPECT_TRUE(ids.count("broadcaster"));
  for (auto& v : swarm.viewers())
    EXPECT_TRUE(ids.count(v.session->id())) << "no node for viewer " << v.session->id();
  EXPECT_EQ(ids.size(), 1u + o.viewers);

  std::regex link_re(R"re(<path class="link (push|pull)")re");
  auto links = std::distance(std::sregex_iterator(r.dom.begin(), r.dom.end(), link_re),
                             std::sregex_iterator());
  EXPECT_GE(links, 5);
  // The mesh pushes from parents to children: at least one link is drawn as a push link.
  std::regex push_re(R"re(<path class="link push")re");
  auto pushes = std::distance(std::sregex_iterator(r.dom.begin(), r.dom.end(), push_re),
                              std::sregex_iterator());
  EXPECT_GE(pushes, 1);
  // How to watch the stream in a browser: the viewer command that serves it over WHEP.
  EXPECT_NE(r.dom.find("meshcast watch --tracker ws://"), std::string::npos);
  EXPECT_NE(r.dom.find("--stream " + o.stream + " --whep-listen 127.0.0.1:8081"),
            std::string::npos);
  if (::testing::Test::HasFailure()) ADD_FAILURE() << "dumped DOM:\n" << r.dom.substr(0, 20000);

  swarm.stop();
  loop.run_until([] { return false; }, 300);
}
