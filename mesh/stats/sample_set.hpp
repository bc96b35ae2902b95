// A distribution's samples in bounded memory: every sample up to `cap`, then an even
// thinning over the whole run (every 2nd, then 4th, ... sample kept), so percentiles still
// cover the run from its start, however long it runs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshcast::stats {

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

}  // namespace meshcast::stats
