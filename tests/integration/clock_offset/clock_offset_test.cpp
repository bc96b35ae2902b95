// Lag between machines whose clocks disagree: the broadcaster's clock runs 3 s ahead, one
// viewer's 2 s behind (MESHCAST_TEST_CLOCK_OFFSET_MS; the processes share one kernel clock, so
// the truth is known). Both measure their offset to the tracker, so the shifted viewer reports
// the lag of an unshifted one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "mesh/stats/stats.hpp"
#include "tests/integration/common/test_processes.hpp"

namespace {

using meshcast::testing::Process;
using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<json> stats_lines(const fs::path& file) {
  std::istringstream in(meshcast::testing::read_text(file));
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

double median(const std::vector<double>& v) { return meshcast::stats::percentile(v, 0.5); }

}  // namespace

TEST(ClockOffset, LagIsRightWhenClocksDisagree) {
  const fs::path dir = fs::temp_directory_path() / ("meshcast-clock-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string port = std::to_string(meshcast::testing::free_port());
  const std::string url = "ws://127.0.0.1:" + port + "/ws";
  Process tracker, bc, shifted, plain;
  ASSERT_TRUE(tracker.start({MESHCAST_EXE, "tracker", "--listen", "127.0.0.1:" + port, "--quiet"},
                            dir / "tracker"));
  for (int i = 0; i < 500 && tracker.out().find("listening on") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(bc.start({MESHCAST_EXE, "broadcast", "--tracker", url, "--stream", "clk", "--id",
                        "bc", "--synthetic", "--bitrate", "300", "--quiet", "--duration", "30"},
                       dir / "bc", {{"MESHCAST_TEST_CLOCK_OFFSET_MS", "3000"}}));
  std::this_thread::sleep_for(1500ms);
  auto watch = [&](Process& p, const std::string& id, const std::string& offset_ms) {
    return p.start(
        {MESHCAST_EXE, "watch", "--tracker", url, "--stream", "clk", "--id", id, "--out", "null",
         "--quiet", "--duration", "20", "--stats", (dir / (id + ".jsonl")).string()},
        dir / id, {{"MESHCAST_TEST_CLOCK_OFFSET_MS", offset_ms}});
  };
  ASSERT_TRUE(watch(shifted, "shifted", "-2000"));
  ASSERT_TRUE(watch(plain, "plain", "0"));
  for (Process* p : {&shifted, &plain}) {
    auto st = p->wait(60'000);
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 0) << p->err();
  }
  // Lag over the second half of the run (start-up settled), as each viewer reported it.
  auto lags = [&](const std::string& id, double* offset_ms) {
    auto lines = stats_lines(dir / (id + ".jsonl"));
    std::vector<double> v;
    for (std::size_t i = lines.size() / 2; i < lines.size(); ++i)
      if (lines[i].value("played", 0) > 0) v.push_back(lines[i].value("lag_ms", 0.0));
    *offset_ms = lines.empty() ? 0 : lines.back().value("clock_offset_ms", 0.0);
    return v;
  };
  double shifted_offset = 0, plain_offset = 0;
  const auto a = lags("shifted", &shifted_offset), b = lags("plain", &plain_offset);
  ASSERT_GE(a.size(), 5u);
  ASSERT_GE(b.size(), 5u);
  EXPECT_NEAR(shifted_offset, 2000, 50);  // the tracker's clock is 2 s ahead of this viewer's
  EXPECT_NEAR(plain_offset, 0, 50);
  // Without the correction the shifted viewer would report 5 s less (negative lag).
  EXPECT_GT(median(a), 0);
  EXPECT_NEAR(median(a), median(b), 50) << "shifted " << median(a) << " ms, plain " << median(b);
  bc.stop();
  tracker.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}
