// Discrete-event simulator of a broadcast swarm: one process, the very same mesh::Node code
// per peer; peers in partitions that advance in parallel windows (docs/mesh.md). The
// Simulator wires the parts: the network model (latency, upload, loss), the tracker model
// (membership, neighbour candidates), the churn model (joins, lifetimes), per-partition
// metrics and the partition runner (threads).
#pragma once
#include <memory>
#include <vector>

#include "mesh/core/sim_mac.hpp"
#include "mesh/sim/churn_model.hpp"
#include "mesh/sim/global_queue.hpp"
#include "mesh/sim/id_info.hpp"
#include "mesh/sim/network_model.hpp"
#include "mesh/sim/partition.hpp"
#include "mesh/sim/partition_runner.hpp"
#include "mesh/sim/sim_config.hpp"
#include "mesh/sim/sim_peer.hpp"
#include "mesh/sim/sim_result.hpp"
#include "mesh/sim/sim_rng.hpp"
#include "mesh/sim/tracker_model.hpp"

namespace meshcast::mesh::sim {

class Simulator {
 public:
  explicit Simulator(const SimConfig& c);
  // Runs once.
  SimResult run();
  uint32_t partitions() const { return parts_n_; }
  uint32_t threads() const { return threads_; }

 private:
  // --- events ---
  uint32_t slot_of(PeerId id) const { return id < ids_.size() ? ids_[id].slot : kNoSlot; }
  Partition& part_of_slot(uint32_t slot) { return parts_[slot % parts_n_]; }
  uint32_t part_index(PeerId id) const {
    const uint32_t s = slot_of(id);
    return s == kNoSlot ? 0 : s % parts_n_;
  }
  void push_global(TimeUs t, EvType type, uint32_t a, uint32_t b = 0) {
    global_.push(Event{t, 0, a, b, 0, uint8_t(type)});
  }
  void post(Partition& w, TimeUs t, EvType type, uint32_t a, uint32_t b = 0, uint32_t flag = 0);
  void post_message(Partition& w, TimeUs t, PeerId to, PeerId from, Message&& m, TimeUs head);
  void take_mail(Partition& w, uint32_t parity);
  // What a sender needs of a receiver, without touching the receiver's (cold, large) SimPeer.
  const IdInfo* alive_info(PeerId id) const {
    return id < ids_.size() && ids_[id].alive ? &ids_[id] : nullptr;
  }
  SimPeer* alive_peer(PeerId id) {
    const IdInfo* i = alive_info(id);
    return i ? &peers_[i->slot] : nullptr;
  }

  void start_source();
  void spawn_viewer(uint32_t slot, TimeUs now, JoinKind kind);
  void leave(uint32_t slot, TimeUs now);
  void collect(const SimPeer& p, Metrics& m, TimeUs now);
  void drain(Partition& w, SimPeer& p, TimeUs now);
  void handle(Partition& w, const Event& e);
  void deliver(Partition& w, const Event& e);
  void publish(Partition& w, const Event& e);
  void handle_global(const Event& e);
  void run_window(Partition& w, TimeUs until, uint32_t parity);
  void end_window();
  void print_progress(TimeUs now) const;
  void print_tree_shape() const;
  SimResult finish();

  SimConfig cfg_;
  SimRng rng_;  // joins, lifetimes, tracker samples (global events only)
  SimMac mac_;
  NetworkModel net_;
  ChurnModel churn_;
  TimeUs seg_us_ = 0, end_ = 0;
  uint32_t seg_bytes_ = 0;
  uint32_t parts_n_ = 1, threads_ = 1;
  TimeUs window_ = 0;
  std::vector<Partition> parts_;
  GlobalQueue global_;
  bool serial_ = true;   // between windows (global events, set-up): post straight to queues
  uint32_t parity_ = 0;  // of the current window (mail boxes)
  TimeUs until_ = 0;     // end of the current window

  std::vector<SimPeer> peers_;  // slot 0 = source
  std::vector<IdInfo> ids_;     // peer id -> slot, position, alive
  TrackerModel tracker_;
  uint32_t next_number_ = 0;  // source's (partition 0) next segment
  TimeUs warmup_ = 0;
  SimResult r_;  // counters of global events
};

SimResult run_simulation(const SimConfig& cfg);

}  // namespace meshcast::mesh::sim
