// What one partition measures (summed over partitions at the end) and how the sums become
// the run's SimResult.
#pragma once
#include <cstdint>
#include <vector>

#include "mesh/core/types.hpp"
#include "mesh/sim/sim_peer.hpp"
#include "mesh/sim/sim_result.hpp"

namespace meshcast::mesh::sim {

class Metrics {
 public:
  Metrics();
  void add(const Metrics& o);
  // A viewer's (or the source's) totals, when it leaves or the run ends. Sybils' own
  // playback is not the viewers'.
  void collect(const SimPeer& p, bool sybil, TimeUs warmup, TimeUs now);
  // A segment played `lag` after its creation (steady: after the warm-up).
  void record_play(TimeUs lag, bool steady, uint8_t hops);
  // A viewer's first complete receipt of a segment, `age` after its creation.
  void record_arrival(TimeUs age, bool pushed);
  // Where one media send's time went: upload queue, serialisation, propagation, repair.
  void record_send(TimeUs queue, TimeUs serialise, TimeUs latency, TimeUs repair);
  // The ratios and distributions of r from the sums (counters of global events are the
  // caller's).
  void fill(SimResult& r) const;

  std::vector<uint64_t> lag_hist, hop_hist, lag_steady_hist;
  std::vector<uint64_t> arrival_hist;  // creation -> first complete receipt, per viewer
  uint64_t arrivals_pushed = 0;
  uint64_t media_sends = 0;
  double send_queue_us = 0, send_serialise_us = 0, send_latency_us = 0, send_repair_us = 0;
  std::vector<float> startup, startup_steady;
  std::vector<double> final_delays;
  uint64_t ctrl_sent = 0, media_sent = 0, media_recv = 0, dup_recv = 0;
  uint64_t played = 0, missed = 0, stalls = 0, missed_unavailable = 0;
  uint64_t retransmitted_bytes = 0;
  SimResult r;  // event and forgery counters, tree upkeep, extremes
};

}  // namespace meshcast::mesh::sim
