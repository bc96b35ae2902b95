#include "mesh/stats/sample_set.hpp"

#include <algorithm>

namespace meshcast::stats {

SampleSet::SampleSet(size_t cap) : cap_(std::max<size_t>(cap, 2)) { kept_.reserve(16); }

void SampleSet::push(double x) {
  last_ = x;
  if (seen_++ % stride_ != 0) return;
  kept_.push_back(x);
  if (kept_.size() < cap_) return;
  // Full: keep every other sample, and from now on every other one of what comes.
  for (size_t i = 0; 2 * i < kept_.size(); ++i) kept_[i] = kept_[2 * i];
  kept_.resize((kept_.size() + 1) / 2);
  stride_ *= 2;
}

}  // namespace meshcast::stats
