// Long-stream memory: a tracker, a broadcaster and 10 viewers, each its own `meshcast`
// process, at 1 Mbit/s for 3 minutes. After a 30 s warm-up no process may grow by 4 MB or
// more (a memory bound, not a timing): a relay that kept what it relays grows ~125 kB/s here.
#include <gtest/gtest.h>

#include "apps/session/process_swarm.hpp"

using namespace meshcast::app;

TEST(Soak, EveryProcessStaysFlatAfterWarmUp) {
  ProcessSwarmOptions o;
  o.exe = MESHCAST_EXE;
  o.viewers = 10;
  o.duration_s = 180;
  o.bitrate_kbps = 1000;
  o.sample_s = 5;
  o.warmup_s = 30;
  ProcessSwarm swarm(o);
  auto ran = swarm.run();
  ASSERT_TRUE(ran) << ran.error();
  const auto j = swarm.report();
  int viewers = 0;
  for (auto& p : j["processes"]) {
    const std::string name = p["name"];
    ASSERT_TRUE(p["measured_after_warmup"].get<bool>()) << name;
    EXPECT_LT(p["rss_growth_kb"].get<double>(), 4096.0)
        << name << ": " << p["rss_kb_at_warmup"] << " kB at warm-up, " << p["rss_kb_last"]
        << " kB at the end";
    EXPECT_EQ(p["exit_status"].get<int>(), 0) << name;  // stopped cleanly by SIGTERM
    viewers += p["role"] == "viewer";
  }
  EXPECT_EQ(viewers, 10);
  // The stream really flowed through the relays the whole time.
  EXPECT_GT(j["lag_ms"]["n"].get<int>(), 1000);
  EXPECT_GT(j["continuity"].get<double>(), 0.95);
  EXPECT_GT(j["by_role"]["viewer"]["cpu_ms_per_s"]["p50"].get<double>(), 0.0);
}
