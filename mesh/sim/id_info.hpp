// Per peer id (ids are never reused): where its SimPeer lives and what senders need of it.
// Written only between windows, so every partition may read any entry.
#pragma once
#include <cstdint>

#include "mesh/sim/id_set.hpp"

namespace meshcast::mesh::sim {

struct IdInfo {
  uint32_t slot = kNoSlot;
  float x = 0, y = 0;  // coordinates in the unit square: latency grows with distance
  bool alive = false;
  bool forger = false;
  bool sybil = false;  // holds data, accepts partners and children, never sends a segment
};

}  // namespace meshcast::mesh::sim
