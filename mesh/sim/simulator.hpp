// Discrete-event simulator of a broadcast swarm: one process, the very same mesh::Node code
// per peer; peers in partitions that advance in parallel windows (docs/mesh.md). Network model:
// per-pair one-way latency from peer coordinates (RTT range), FIFO upload serialization at each
// peer's capacity, unlimited download, per-packet loss, joins/departures (departed viewers are
// replaced at once).
#pragma once
#include "mesh/sim/sim_config.hpp"
#include "mesh/sim/sim_result.hpp"

namespace meshcast::mesh::sim {

SimResult run_simulation(const SimConfig& cfg);

}  // namespace meshcast::mesh::sim
