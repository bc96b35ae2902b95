// tracker-bench's raw load generator: clients in several child processes join one stream
// and relay through a real tracker process; the report counts exactly what happened, and a
// tracker that refuses clients makes the run fail with the tracker's reason.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/common/test_processes.hpp"

namespace {

using meshcast::testing::Process;
using meshcast::testing::run_command;
using nlohmann::json;
namespace fs = std::filesystem;

class TrackerBench : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meshcast-tracker-bench-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    tracker_.stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string start_tracker(const std::vector<std::string>& extra) {
    const std::string port = std::to_string(meshcast::testing::free_port());
    std::vector<std::string> args = {MESHCAST_EXE, "tracker",    "--listen", "127.0.0.1:" + port,
                                     "--quiet",    "--max-rate", "100000"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!tracker_.start(args, dir_ / "tracker")) return "";
    for (int i = 0; i < 500 && tracker_.out().find("listening on") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return "ws://127.0.0.1:" + port + "/ws";
  }
  int bench(const std::vector<std::string>& extra, json* report) {
    std::vector<std::string> args = {MESHCAST_EXE, "tracker-bench", "--generator",
                                     "raw",        "--timeout-s",   "60"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string out;
    const int code =
        run_command(args, dir_ / ("bench-" + std::to_string(++runs_)), &out, {}, 120'000);
    *report = json::parse(out, nullptr, false);
    return code;
  }
  fs::path dir_;
  Process tracker_;
  int runs_ = 0;
};

}  // namespace

TEST_F(TrackerBench, RawClientsInSeveralProcessesAllJoinAndEveryRoundTripIsCounted) {
  json r;
  // Its own tracker child; 301 clients over 3 processes (shard edges split no pair).
  ASSERT_EQ(
      bench({"--clients", "301", "--procs", "3", "--rounds", "3", "--one-pair-rounds", "10"}, &r),
      0)
      << r.dump(2);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["joined"], 301);
  EXPECT_EQ(r["failed"], 0);
  EXPECT_EQ(r["generator_processes"], 3);
  EXPECT_EQ(r["relay_one_pair"]["round_trips"], 10);
  // Pairs (3,4) ... (299,300): 149 pingers, 3 round trips each.
  EXPECT_EQ(r["relay_all_pairs"]["pingers"], 149);
  EXPECT_EQ(r["relay_all_pairs"]["round_trips"], 149 * 3);
  EXPECT_GT(r["relay_all_pairs"]["rtt_ms_p50"].get<double>(), 0.0);
  EXPECT_GT(r["tracker_cpu_ms_per_connect"].get<double>(), 0.0);
  EXPECT_TRUE(r["tracker_bytes_per_peer"].is_number());
}

TEST_F(TrackerBench, ATrackerThatRefusesClientsFailsTheRunWithItsReason) {
  const std::string url = start_tracker({"--max-conns", "50"});
  ASSERT_FALSE(url.empty()) << tracker_.err();
  json r;
  EXPECT_EQ(bench({"--clients", "120", "--procs", "2", "--url", url}, &r), 1) << r.dump(2);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["complete"], false);
  EXPECT_LE(r["joined"].get<int>(), 50);
  EXPECT_GE(r["failed"].get<int>(), 70);
  bool told = false;
  for (auto& e : r["errors"]) told = told || e.get<std::string>().find("503") != std::string::npos;
  EXPECT_TRUE(told) << r["errors"].dump();
}

TEST_F(TrackerBench, TheRawGeneratorRefusesAUrlItCannotReach) {
  json r;
  EXPECT_EQ(bench({"--clients", "10", "--url", "wss://example.invalid/ws"}, &r), 2);
}
