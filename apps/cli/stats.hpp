// The commands' names for the shared statistics (stats/): percentiles, slopes, bounded
// sample sets, resident memory and CPU time are defined there once, for apps, media and the
// simulator alike.
#pragma once
#include "mesh/stats/process_usage.hpp"
#include "mesh/stats/sample_set.hpp"
#include "mesh/stats/stats.hpp"

namespace meshcast::app {

using stats::cpu_seconds;
using stats::peak_rss_mb;
using stats::percentile;
using stats::ProcSample;
using stats::sample_process;
using stats::SampleSet;
using stats::slope;

}  // namespace meshcast::app
