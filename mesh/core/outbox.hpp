// Where a node's outputs go (its own vector or a caller's), counting the bytes it sends.
#pragma once
#include <vector>

#include "mesh/core/node_output.hpp"
#include "mesh/core/node_stats.hpp"

namespace meshcast::mesh {

class Outbox {
 public:
  explicit Outbox(NodeStats& stats) : stats_(stats) {}
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Queues `m` for `to`; media counts as media bytes, the rest as control bytes.
  void send(PeerId to, Message m, uint8_t priority = 0);
  void push(Output o) { out_->push_back(std::move(o)); }
  // An output with only a kind and a peer (connect, report, need neighbours).
  void emit(OutputKind kind, PeerId peer = kNoPeer);
  std::vector<Output>& outputs() { return *out_; }
  void use(std::vector<Output>* sink) { out_ = sink ? sink : &own_; }

 private:
  NodeStats& stats_;
  std::vector<Output> own_;
  std::vector<Output>* out_ = &own_;
};

}  // namespace meshcast::mesh
