// The one definition of each statistic meshcast's tools report: percentiles, resident
// memory, CPU time and growth rates. Every command and test that prints one uses these.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace meshcast::app {

// p in [0,1] of a sample set (nearest rank); 0 for an empty set.
double percentile(std::vector<double> v, double p);

// Least-squares slope of y over x (units of y per unit of x); 0 with fewer than 2 points or
// no spread in x.
double slope(const std::vector<double>& x, const std::vector<double>& y);

// A distribution's samples in bounded memory: every sample up to `cap`, then an even
// thinning over the whole run (every 2nd, then 4th, ... sample kept), so percentiles still
// cover the run from its start, however long it runs.
class SampleSet {
 public:
  explicit SampleSet(size_t cap = 16384);
  void push(double x);
  const std::vector<double>& values() const { return kept_; }
  bool empty() const { return seen_ == 0; }
  uint64_t seen() const { return seen_; }
  double back() const { return last_; }  // the latest sample, kept or not
  size_t capacity() const { return cap_; }

 private:
  size_t cap_;
  uint64_t stride_ = 1;
  uint64_t seen_ = 0;
  double last_ = 0;
  std::vector<double> kept_;
};

// A process's resident memory and CPU time now, from /proc (Linux).
struct ProcSample {
  double rss_kb = 0;       // VmRSS
  double peak_rss_kb = 0;  // VmHWM
  double cpu_ms = 0;       // user + system time
};
std::optional<ProcSample> sample_process(pid_t pid);
// This process (0 when /proc is unreadable).
double peak_rss_mb();
double cpu_seconds();

}  // namespace meshcast::app
