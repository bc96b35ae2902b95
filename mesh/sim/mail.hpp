// An event for another partition, posted during a window and queued there before the next
// one (its time is at least one window ahead: the minimum link latency).
#pragma once
#include <cstdint>

#include "mesh/core/messages.hpp"
#include "mesh/sim/sim_event.hpp"

namespace meshcast::mesh::sim {

struct Mail {
  TimeUs t = 0;
  uint32_t a = 0, b = 0, flag = 0;
  EvType type = EvType::kDeliver;
  TimeUs head = 0;  // kDeliver: first piece's arrival (cut-through)
  Message msg;      // kDeliver only
};

}  // namespace meshcast::mesh::sim
