#include "mesh/stats/stats.hpp"

#include <algorithm>
#include <cmath>

namespace meshcast::stats {

size_t nearest_rank(uint64_t n, double p) {
  const double r = std::ceil(std::clamp(p, 0.0, 1.0) * double(n));
  return std::clamp<size_t>(size_t(r), 1, size_t(n));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[nearest_rank(v.size(), p) - 1];
}

size_t percentile_bucket(const std::vector<uint64_t>& counts, double p) {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  if (n == 0) return 0;
  const uint64_t rank = nearest_rank(n, p);
  uint64_t acc = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    acc += counts[i];
    if (acc >= rank) return i;
  }
  return counts.size() - 1;  // not reached: acc ends at n >= rank
}

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= double(n);
  my /= double(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

}  // namespace meshcast::stats
