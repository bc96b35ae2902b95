// The simulated network: per-pair one-way latency from peer coordinates (RTT range), FIFO
// upload serialisation at each peer's capacity by priority level, cut-through relaying,
// unlimited download, per-packet loss with chunk NACK repair.
#pragma once
#include <cstdint>

#include "mesh/core/messages.hpp"
#include "mesh/sim/id_info.hpp"
#include "mesh/sim/link_loss.hpp"
#include "mesh/sim/metrics.hpp"
#include "mesh/sim/sim_config.hpp"
#include "mesh/sim/sim_peer.hpp"

namespace meshcast::mesh::sim {

class NetworkModel {
 public:
  explicit NetworkModel(const SimConfig& cfg) : cfg_(cfg) {}

  TimeUs latency(const IdInfo& a, const IdInfo& b) const;
  // The longest one-way latency (an unreachable target's answer comes after 3 of them).
  TimeUs max_latency() const { return TimeUs(cfg_.rtt_max_ms) * 500; }

  struct Delivery {
    bool delivered = false;
    TimeUs at = 0;    // the whole message is in
    TimeUs head = 0;  // cut-through media: its first piece is in
  };
  // p (self) sends msg at `now` with Output::priority `priority`: occupies p's upload even
  // when the receiver is gone (dst null) or the message is lost.
  Delivery send(SimPeer& p, const IdInfo& self, const IdInfo* dst, const Message& msg,
                uint8_t priority, TimeUs now, LinkLoss& loss, Metrics& m) const;

 private:
  const SimConfig& cfg_;
};

}  // namespace meshcast::mesh::sim
