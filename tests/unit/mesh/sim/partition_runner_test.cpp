// The threads of the simulator's parallel windows: every partition runs exactly once per
// window, whatever the thread count, and the runner's results are visible after run().
#include "mesh/sim/partition_runner.hpp"

#include <gtest/gtest.h>

#include <vector>

using meshcast::mesh::sim::PartitionRunner;

TEST(PartitionRunner, RunsEveryPartitionOncePerWindow) {
  for (uint32_t threads : {1u, 2u, 3u, 8u}) {
    std::vector<int> runs(8, 0);
    {
      PartitionRunner r(8, threads, [&](uint32_t i) { ++runs[i]; });
      for (int w = 0; w < 50; ++w) r.run();
    }  // joins the workers
    for (int n : runs) EXPECT_EQ(n, 50) << threads << " threads";
  }
}

TEST(PartitionRunner, StopsIdleWorkersWithoutAWindow) {
  std::vector<int> runs(4, 0);
  {
    PartitionRunner r(4, 4, [&](uint32_t i) { ++runs[i]; });
  }
  for (int n : runs) EXPECT_EQ(n, 0);
}
