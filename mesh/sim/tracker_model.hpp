// The simulated tracker: which viewers are in the swarm and which hold data (learnt from
// their reports), and the neighbour candidates it answers a viewer's request with.
#pragma once
#include <cstdint>
#include <vector>

#include "mesh/sim/id_info.hpp"
#include "mesh/sim/id_set.hpp"
#include "mesh/sim/sim_config.hpp"
#include "mesh/sim/sim_peer.hpp"
#include "mesh/sim/sim_rng.hpp"

namespace meshcast::mesh::sim {

class TrackerModel {
 public:
  // peers[0] is the source; ids maps a peer id to its slot. rng: the run's global generator
  // (its draws interleave with joins and lifetimes).
  TrackerModel(const SimConfig& cfg, SimRng& rng, const std::vector<SimPeer>& peers,
               const std::vector<IdInfo>& ids);

  // The answer to a request comes one RTT at the middle of the range later.
  TimeUs round_trip() const;
  void reset(size_t slots);
  void joined(uint32_t slot, PeerId id) { alive_.insert(slot, id); }
  void left(uint32_t slot);
  // A viewer reported that it holds data.
  void holds_data(uint32_t slot, PeerId id) {
    if (!with_data_.contains(slot)) with_data_.insert(slot, id);
  }
  // Candidates for viewer `self`, the best last (they are consumed from the back); valid
  // until the next call.
  const std::vector<PeerId>& candidates(PeerId self);

 private:
  const SimConfig& cfg_;
  SimRng& rng_;
  const std::vector<SimPeer>& peers_;
  const std::vector<IdInfo>& ids_;
  IdSet alive_;  // viewers
  // Viewers that hold data: joiners in a crowd need partners that already have data, and
  // uniform samples rarely find the few early on.
  IdSet with_data_;
  std::vector<PeerId> out_;
  std::vector<std::pair<uint32_t, PeerId>> picks_;
};

}  // namespace meshcast::mesh::sim
