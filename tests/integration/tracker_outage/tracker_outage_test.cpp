// The tracker is not a single point of failure for a running stream: real `meshcast`
// processes on 127.0.0.1 lose their tracker (killed and restarted, or every connection cut)
// and keep streaming over their mesh links.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/integration/common/observe.hpp"
#include "tests/integration/common/tcp_cut_proxy.hpp"
#include "tests/integration/common/test_processes.hpp"

namespace {

using meshcast::testing::Process;
using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using meshcast::testing::http_get;
using meshcast::testing::last_stats;
using meshcast::testing::metric;

class TrackerOutage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meshcast-outage-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    port_ = meshcast::testing::free_port();
    ASSERT_TRUE(start_tracker());
  }
  void TearDown() override {
    procs_.clear();
    tracker_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool start_tracker() {
    tracker_ = std::make_unique<Process>();
    const std::string log = "tracker-" + std::to_string(++trackers_);
    if (!tracker_->start(
            {MESHCAST_EXE, "tracker", "--listen", "127.0.0.1:" + std::to_string(port_), "--quiet"},
            dir_ / log))
      return false;
    for (int i = 0; i < 500; ++i) {
      if (tracker_->out().find("listening on") != std::string::npos) return true;
      if (!tracker_->running()) break;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "tracker did not start: " << tracker_->err();
    return false;
  }
  void kill_tracker() {
    ::kill(-tracker_->pid(), SIGKILL);  // no goodbye to anyone, as a crash or a lost host
    tracker_->wait(5000);
  }
  Process& spawn(std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), MESHCAST_EXE);
    procs_.push_back(std::make_unique<Process>());
    EXPECT_TRUE(procs_.back()->start(args, dir_ / name));
    return *procs_.back();
  }
  Process& broadcaster(const std::string& url, int seconds) {
    return spawn({"broadcast", "--tracker", url, "--stream", "live", "--id", "bc", "--synthetic",
                  "--bitrate", "300", "--quiet", "--log-level", "info", "--duration",
                  std::to_string(seconds)},
                 "bc");
  }
  Process& viewer(const std::string& url, int n, int seconds) {
    return spawn({"watch", "--tracker", url, "--stream", "live", "--id", "v" + std::to_string(n),
                  "--out", "null", "--quiet", "--log-level", "info", "--duration",
                  std::to_string(seconds), "--stats", stats_file(n).string()},
                 "v" + std::to_string(n));
  }
  fs::path stats_file(int n) const { return dir_ / ("v" + std::to_string(n) + ".jsonl"); }
  uint64_t played(int n) const { return last_stats(stats_file(n)).value("played", uint64_t(0)); }
  // Waits until every viewer has played something (bounded).
  bool all_playing(int viewers, std::chrono::seconds limit) {
    for (auto until = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(200ms)) {
      bool all = true;
      for (int n = 0; n < viewers; ++n) all = all && played(n) > 0;
      if (all) return true;
    }
    return false;
  }
  std::string url(uint16_t port) const { return "ws://127.0.0.1:" + std::to_string(port) + "/ws"; }

  fs::path dir_;
  uint16_t port_ = 0;
  int trackers_ = 0;
  std::unique_ptr<Process> tracker_;
  std::vector<std::unique_ptr<Process>> procs_;
};

}  // namespace

// The tracker dies for 30 s mid-stream and comes back empty: viewers keep playing over their
// links, the broadcaster stays live, and both register again with the new tracker.
TEST_F(TrackerOutage, StreamSurvivesATrackerRestart) {
  constexpr int kViewers = 3;
  Process& bc = broadcaster(url(port_), 70);
  std::this_thread::sleep_for(1500ms);
  std::vector<Process*> viewers;
  for (int n = 0; n < kViewers; ++n) viewers.push_back(&viewer(url(port_), n, 60));
  ASSERT_TRUE(all_playing(kViewers, 20s)) << bc.err();

  kill_tracker();
  std::vector<uint64_t> at_kill;
  for (int n = 0; n < kViewers; ++n) at_kill.push_back(played(n));
  std::this_thread::sleep_for(30s);
  for (int n = 0; n < kViewers; ++n) {
    EXPECT_GT(played(n), at_kill[n] + 50) << "viewer " << n << " stalled without the tracker";
    EXPECT_GT(last_stats(stats_file(n)).value("tracker_retries", 0), 0);
  }
  ASSERT_TRUE(bc.running()) << "the broadcaster gave up on the tracker:\n" << bc.err();
  ASSERT_TRUE(start_tracker());

  // The new tracker learns the stream and its viewers again.
  long streams = -1, joins = -1;
  for (int i = 0; i < 100 && (streams != 1 || joins < kViewers); ++i) {
    std::this_thread::sleep_for(200ms);
    const std::string m = http_get(port_, "/metrics");
    streams = metric(m, "meshcast_streams");
    joins = metric(m, "meshcast_messages_total{type=\"join\"}");
  }
  EXPECT_EQ(streams, 1);
  EXPECT_GE(joins, kViewers);

  for (int n = 0; n < kViewers; ++n) {
    auto st = viewers[n]->wait(60'000);
    ASSERT_TRUE(st) << "viewer " << n << " did not finish";
    EXPECT_EQ(*st, 0) << viewers[n]->err();
    const json s = last_stats(stats_file(n));
    EXPECT_GE(s.value("continuity", 0.0), 0.99) << "viewer " << n << ": " << s.dump();
    EXPECT_EQ(s.value("tracker_retries", -1), 0) << "viewer " << n << " not reconnected";
    EXPECT_NE(viewers[n]->err().find("lost the tracker"), std::string::npos);
  }
  auto st = bc.wait(30'000);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, 0) << bc.err();
  EXPECT_NE(bc.err().find("registered again"), std::string::npos) << bc.err();
}

// Every tracker connection is cut (a network blip): the peers come back within the resume
// grace with their session tokens, so nothing is created or joined again.
TEST_F(TrackerOutage, ABriefDropResumesTheSessions) {
  meshcast::testing::TcpCutProxy proxy(port_);
  ASSERT_NE(proxy.port(), 0);
  Process& bc = broadcaster(url(proxy.port()), 30);
  std::this_thread::sleep_for(1500ms);
  Process& v = viewer(url(proxy.port()), 0, 22);
  ASSERT_TRUE(all_playing(1, 20s)) << bc.err();
  const uint64_t before = played(0);
  proxy.cut();

  std::string m;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(200ms);
    m = http_get(port_, "/metrics");
    if (metric(m, "meshcast_messages_total{type=\"hello\"}") >= 4 &&
        metric(m, "meshcast_peers_detached") == 0)
      break;
  }
  EXPECT_EQ(metric(m, "meshcast_messages_total{type=\"hello\"}"), 4) << m;
  EXPECT_EQ(metric(m, "meshcast_peers_detached"), 0) << m;
  EXPECT_EQ(metric(m, "meshcast_peers_connected"), 2) << m;
  EXPECT_EQ(metric(m, "meshcast_messages_total{type=\"stream_create\"}"), 1) << m;
  EXPECT_EQ(metric(m, "meshcast_messages_total{type=\"join\"}"), 1) << m;
  EXPECT_GE(proxy.accepted(), 4) << "broadcaster:\n" << bc.err() << "viewer:\n" << v.err();

  auto st = v.wait(40'000);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, 0) << v.err();
  EXPECT_GT(played(0), before);
  EXPECT_GE(last_stats(stats_file(0)).value("continuity", 0.0), 0.99);
  st = bc.wait(30'000);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, 0) << bc.err();
  EXPECT_NE(bc.err().find("session resumed"), std::string::npos) << bc.err();
}
