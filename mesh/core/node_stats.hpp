// Counters a node keeps for the metrics of docs/architecture.md ("Metrics").
#pragma once
#include <cstdint>

#include "mesh/core/types.hpp"

namespace meshcast::mesh {

struct NodeStats {
  uint64_t idle_children_replaced = 0;  // source: children forwarding to nobody, replaced
  // Source: children replaced because a partner they took as child got nothing from them.
  uint64_t silent_children_replaced = 0;
  TimeUs started_at = -1;
  TimeUs first_play_at = -1;  // presentation time of the first segment (startup_ms)
  uint64_t played = 0;
  // Per played segment (lag = presentation - creation, hops = relays): sums and maxima, so a
  // real peer can report means without keeping every value (the simulator histograms the
  // kPlay outputs instead).
  uint64_t lag_us_sum = 0;
  TimeUs lag_us_max = 0;
  uint64_t hops_sum = 0;
  uint8_t hops_max = 0;
  uint64_t missed = 0;
  uint64_t missed_unavailable = 0;  // of missed: no parent, request or holder could send it
  uint64_t stalls = 0;
  uint64_t media_bytes_sent = 0;
  uint64_t control_bytes_sent = 0;
  uint64_t media_bytes_received = 0;
  uint64_t control_bytes_received = 0;
  uint64_t duplicate_bytes_received = 0;
  uint64_t segments_pushed = 0;
  uint64_t segments_served = 0;  // pull answers
  uint64_t requests_sent = 0;
  uint64_t forged_rejected = 0;
  uint64_t partners_dropped = 0;
  uint64_t published = 0;  // source
  uint64_t published_bytes = 0;
  // Push tree upkeep (per sub-stream events).
  uint64_t parents_lost = 0;      // parent left, dropped us, or went silent
  uint64_t subtree_releases = 0;  // orphaned too long: children told to find others
  uint64_t children_shed = 0;     // dropped because the upload budget shrank (per sub-stream)
};

}  // namespace meshcast::mesh
