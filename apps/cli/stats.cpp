#include "apps/cli/stats.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

namespace meshcast::app {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * double(v.size())));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
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

std::optional<ProcSample> sample_process(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  ProcSample s;
  {
    std::ifstream f(dir + "/status");
    if (!f) return std::nullopt;
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::atof(line.c_str() + 6);
      if (line.rfind("VmHWM:", 0) == 0) s.peak_rss_kb = std::atof(line.c_str() + 6);
    }
  }
  std::ifstream f(dir + "/stat");
  std::string stat;
  if (!f || !std::getline(f, stat)) return std::nullopt;
  // Fields after the command name (which may hold spaces and parentheses): state is
  // field 3, utime and stime are fields 14 and 15.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  const long hz = sysconf(_SC_CLK_TCK);
  s.cpu_ms = (utime + stime) * 1000.0 / double(hz > 0 ? hz : 100);
  return s;
}

double peak_rss_mb() {
  auto s = sample_process(getpid());
  return s ? s->peak_rss_kb / 1024.0 : 0;
}

double cpu_seconds() {
  auto s = sample_process(getpid());
  return s ? s->cpu_ms / 1000.0 : 0;
}

}  // namespace meshcast::app
