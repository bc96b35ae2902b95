// The one definition of each statistic meshcast's tools report: percentiles (of samples and
// of histograms, by the same rank) and growth rates. Every command, simulator and test that
// prints one uses these; resident memory and CPU time are in process_usage.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshcast::stats {

// The nearest rank (1..n) of quantile p in [0,1] among n samples: ceil(p * n), at least 1.
size_t nearest_rank(uint64_t n, double p);

// p in [0,1] of a sample set (nearest rank); 0 for an empty set.
double percentile(std::vector<double> v, double p);

// The same of samples given as a histogram (counts[i] samples of value i): the index of the
// bucket holding the nearest-rank sample; 0 when there are none.
size_t percentile_bucket(const std::vector<uint64_t>& counts, double p);

// Least-squares slope of y over x (units of y per unit of x); 0 with fewer than 2 points or
// no spread in x.
double slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace meshcast::stats
