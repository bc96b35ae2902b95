// The shared statistics: percentile (of samples and of histograms), slope, bounded sample
// sets, /proc sampling.
#include "mesh/stats/stats.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "mesh/stats/process_usage.hpp"
#include "mesh/stats/sample_set.hpp"

using namespace meshcast::stats;

TEST(Stats, PercentileIsNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(percentile(v, 0.5), 50);
  EXPECT_EQ(percentile(v, 0.95), 95);
  EXPECT_EQ(percentile(v, 0), 1);
  EXPECT_EQ(percentile(v, 1), 100);
  EXPECT_EQ(percentile({}, 0.5), 0);
  EXPECT_EQ(percentile({7}, 0.95), 7);
  // Ranks: ceil(p n), at least 1 and at most n, whatever p a caller passes.
  EXPECT_EQ(nearest_rank(21, 0.95), 20u);
  EXPECT_EQ(nearest_rank(20, 0.5), 10u);
  EXPECT_EQ(nearest_rank(3, 0), 1u);
  EXPECT_EQ(nearest_rank(3, -1), 1u);
  EXPECT_EQ(nearest_rank(3, 7), 3u);
}

TEST(Stats, HistogramPercentileIsTheSamplePercentile) {
  // The same samples as values and as a histogram (counts per value) give the same
  // percentiles: the simulator's histograms and the tools' sample sets agree.
  std::vector<uint64_t> counts(50, 0);
  std::vector<double> values;
  uint64_t x = 12345;
  for (int i = 0; i < 997; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const size_t v = size_t((x >> 33) % 50);
    ++counts[v];
    values.push_back(double(v));
  }
  for (double p : {0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0})
    EXPECT_EQ(double(percentile_bucket(counts, p)), percentile(values, p)) << p;
  EXPECT_EQ(percentile_bucket({}, 0.5), 0u);
  EXPECT_EQ(percentile_bucket({0, 0, 0}, 0.5), 0u);
  EXPECT_EQ(percentile_bucket({0, 0, 4}, 0.01), 2u);
}

TEST(Stats, SlopeOfALine) {
  EXPECT_DOUBLE_EQ(slope({0, 1, 2, 3}, {5, 7, 9, 11}), 2.0);
  EXPECT_DOUBLE_EQ(slope({0, 10}, {3, 3}), 0.0);
  EXPECT_EQ(slope({1}, {1}), 0.0);
  EXPECT_EQ(slope({2, 2, 2}, {1, 2, 3}), 0.0);  // no spread in x
}

TEST(Stats, SampleSetStaysWithinItsCapAndCoversTheWholeRun) {
  // Hours of per-segment lag samples: memory stays bounded, and the kept samples are spread
  // evenly over the run (a rising series keeps its early and late values).
  SampleSet s(1000);
  for (int i = 0; i < 1'000'000; ++i) {
    s.push(i);
    ASSERT_LE(s.values().size(), 1000u);
  }
  EXPECT_EQ(s.seen(), 1'000'000u);
  EXPECT_EQ(s.back(), 999'999);
  EXPECT_GE(s.values().size(), 500u);
  EXPECT_EQ(s.values().front(), 0);
  EXPECT_GT(s.values().back(), 990'000);
  const double p50 = percentile(s.values(), 0.5);
  EXPECT_NEAR(p50, 500'000, 5'000);
}

TEST(Stats, SampleSetKeepsEverythingBelowItsCap) {
  SampleSet s(100);
  for (int i = 0; i < 99; ++i) s.push(i);
  EXPECT_EQ(s.values().size(), 99u);
  EXPECT_EQ(percentile(s.values(), 0.95), 94);
}

TEST(Stats, SamplesThisProcess) {
  auto s = sample_process(getpid());
  ASSERT_TRUE(s);
  EXPECT_GT(s->rss_kb, 100);
  EXPECT_GE(s->peak_rss_kb, s->rss_kb);
  // Burn a little CPU: the counter moves (ticks are 10 ms).
  volatile double x = 0;
  for (int i = 0; i < 50'000'000; ++i) x = x + i * 1e-9;
  auto t = sample_process(getpid());
  ASSERT_TRUE(t);
  EXPECT_GT(t->cpu_ms, s->cpu_ms);
  EXPECT_FALSE(sample_process(-5));
  EXPECT_GT(peak_rss_mb(), 0);
  EXPECT_GT(cpu_seconds(), 0);
}
