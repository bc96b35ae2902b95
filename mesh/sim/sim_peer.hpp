// A slot's current peer (null node: the slot's viewer has not joined yet). Its id's position,
// liveness and forger flag are in its IdInfo. Aligned so that neighbouring slots, which
// belong to different partitions (threads), never share a cache line.
#pragma once
#include <array>
#include <cstdint>
#include <memory>

#include "mesh/core/node.hpp"

namespace meshcast::mesh::sim {

struct alignas(64) SimPeer {
  std::unique_ptr<Node> node;
  PeerId id = kNoPeer;
  bool source = false;
  bool data_reported = false;  // the tracker was told it holds data
  uint64_t upload_bps = 0;
  // Upload link: up_free[l] = when the work of priority levels <= l (0 first) is done.
  std::array<TimeUs, kPriorityLevels> up_free{};
  TimeUs timer_at = -1;
  TimeUs joined = 0;
  // Cut-through: for segment n (ring of 64, tagged n + 1), when its first piece had arrived
  // (the relay may start passing it on) and when the whole segment had.
  struct Arrival {
    uint32_t num = 0;  // n + 1, 0 = none
    TimeUs head_at = 0;
    TimeUs done_at = 0;
  };
  std::array<Arrival, 64> arr{};  // one cache line per look-up, not three
};

}  // namespace meshcast::mesh::sim
