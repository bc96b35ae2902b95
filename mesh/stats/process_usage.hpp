// The one reader of a process's resident memory and CPU time (Linux /proc): every tool that
// reports peak RSS or CPU seconds uses it.
#pragma once
#include <sys/types.h>

#include <optional>

namespace meshcast::stats {

struct ProcSample {
  double rss_kb = 0;       // VmRSS
  double peak_rss_kb = 0;  // VmHWM
  double cpu_ms = 0;       // user + system time
};
std::optional<ProcSample> sample_process(pid_t pid);
// This process (0 when /proc is unreadable).
double peak_rss_mb();
double cpu_seconds();

}  // namespace meshcast::stats
