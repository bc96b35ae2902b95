// Parameters of one simulated broadcast (see apps/cmd_sim.cpp for the command line).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "mesh/core/node_config.hpp"

namespace meshcast::mesh::sim {

struct SimConfig {
  uint32_t peers = 1000;    // viewers kept in the swarm (departures are replaced)
  double duration_s = 120;  // simulated time
  uint64_t bitrate_kbps = 1000;
  uint32_t segment_ms = 200;
  uint32_t rtt_min_ms = 20;  // per-pair RTT from peer coordinates in this range
  uint32_t rtt_max_ms = 200;
  double loss = 0.0;  // per packet (1,100-byte chunk); a segment is lost if any is
  bool nack = true;
  bool cut_through = true;      // relays pass a segment on while it arrives (as real peers)
                                // media chunks are re-sent after a NACK (one RTT per round)
  double churn_lifetime_s = 0;  // mean exponential viewer lifetime; 0 = no churn
  double join_spread_s = 10;    // initial viewers join uniformly over this interval
  double join_start_s = 1;      // first join (the source has published a few segments)
  double detect_s = 1.0;        // abrupt departure noticed by partners after this
  uint32_t source_copies = 4;
  double source_upload_x = 5;  // source link capacity in stream rates (>= copies)
  uint32_t forgers = 0;        // viewers that alter every segment they relay
  // Viewers that join first, declare the most upload peers believe, hold data, accept
  // partners and children, answer nothing and forward nothing (metrics exclude them).
  uint32_t sybils = 0;
  uint32_t tracker_candidates = 8;
  // Upload capacity distribution: (fraction of viewers, multiple of the stream rate).
  std::vector<std::pair<double, double>> upload_dist = {{0.2, 0.5}, {0.5, 2.0}, {0.3, 4.0}};
  uint64_t seed = 1;
  NodeConfig node;        // template for protocol parameters
  bool progress = false;  // print a line per 10 simulated seconds to stderr
  // Peers are split into this many partitions that advance in lock-step windows one minimum
  // link latency long (conservative parallel simulation); results depend on the seed and
  // the partitions, never on the threads running them. 1 if the minimum RTT is 0.
  uint32_t partitions = 2;
  uint32_t threads = 0;  // 0: one per core, at most one per partition
  // Diagnosis on stderr: every input and output of this peer (runs on one thread, so the
  // lines come in simulated-time order), and the push trees' shape at the end of the run.
  PeerId trace_peer = kNoPeer;
  bool tree_shape = false;
};

}  // namespace meshcast::mesh::sim
