// Who joins when and leaves when: the initial joins (forgers spread over the join order,
// sybils first), each joiner's position and upload capacity, and exponential lifetimes.
// Draws from the run's global generator, in the order the global events ask.
#pragma once
#include <cstdint>
#include <vector>

#include "mesh/core/types.hpp"
#include "mesh/sim/sim_config.hpp"
#include "mesh/sim/sim_event.hpp"
#include "mesh/sim/sim_rng.hpp"

namespace meshcast::mesh::sim {

class ChurnModel {
 public:
  ChurnModel(const SimConfig& cfg, SimRng& rng) : cfg_(cfg), rng_(rng) {}

  struct Join {
    TimeUs at = 0;
    uint32_t slot = 0;
    JoinKind kind = JoinKind::kHonest;
  };
  // The initial viewers, slots 1..peers, in slot order.
  std::vector<Join> initial_joins();

  struct Viewer {
    float x = 0, y = 0;  // position (latency)
    uint64_t upload_bps = 0;
  };
  Viewer draw_viewer(JoinKind kind);
  // How long a joiner stays; -1: to the end (no churn, or an attacker).
  TimeUs lifetime(JoinKind kind);

 private:
  const SimConfig& cfg_;
  SimRng& rng_;
};

}  // namespace meshcast::mesh::sim
