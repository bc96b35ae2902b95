#include "mesh/stats/process_usage.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace meshcast::stats {

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
  if (close == std::string::npos || close + 2 > stat.size()) return std::nullopt;
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

}  // namespace meshcast::stats
