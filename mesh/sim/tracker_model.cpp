#include "mesh/sim/tracker_model.hpp"

#include <algorithm>

namespace meshcast::mesh::sim {

TrackerModel::TrackerModel(const SimConfig& cfg, SimRng& rng, const std::vector<SimPeer>& peers,
                           const std::vector<IdInfo>& ids)
    : cfg_(cfg), rng_(rng), peers_(peers), ids_(ids) {}

TimeUs TrackerModel::round_trip() const {
  return std::max<TimeUs>(1000, TimeUs(cfg_.rtt_min_ms + cfg_.rtt_max_ms) * 500);
}

void TrackerModel::reset(size_t slots) {
  alive_.reset(slots);
  with_data_.reset(slots);
}

void TrackerModel::left(uint32_t slot) {
  auto slot_of_id = [this](PeerId id) { return ids_[id].slot; };
  with_data_.erase(slot, slot_of_id);
  alive_.erase(slot, slot_of_id);
}

const std::vector<PeerId>& TrackerModel::candidates(PeerId self) {
  // Random viewers, preferring those with spare upload; the source while it has room for a
  // child, or for a partner while few viewers hold data (as the real tracker lists the
  // broadcaster while no viewer has earned its trust).
  out_.clear();
  const SimPeer& src = peers_[0];
  if (src.node->spare_slots() > 0 ||
      (src.node->has_partner_room() && with_data_.size() < cfg_.tracker_candidates))
    out_.push_back(src.id);
  const size_t n = alive_.size();
  picks_.clear();
  for (uint32_t i = 0; i < 2 * cfg_.tracker_candidates && n > 1; ++i) {
    // Half the samples among viewers known to hold data, half among all (keeps the mesh
    // random).
    const bool from_data = (i & 1) && !with_data_.empty();
    const PeerId id = from_data ? with_data_.ids()[rng_.next() % with_data_.size()]
                                : alive_.ids()[rng_.next() % n];
    if (id == self || id >= ids_.size() || !ids_[id].alive) continue;
    const SimPeer& q = peers_[ids_[id].slot];
    // Peers with data to give first, then by spare upload slots.
    // A full peer would only redirect, so peers with room for a partner come first.
    const bool room = q.node->has_partner_room();
    picks_.emplace_back(
        q.node->spare_slots() + (q.node->holds_data() ? (room ? 3000u : 1000u) : 0u), id);
  }
  std::stable_sort(picks_.begin(), picks_.end(),
                   [](auto& a, auto& b) { return a.first > b.first; });
  for (auto& [spare, id] : picks_) {
    if (out_.size() >= cfg_.tracker_candidates) break;
    if (std::find(out_.begin(), out_.end(), id) == out_.end()) out_.push_back(id);
  }
  std::reverse(out_.begin(), out_.end());
  return out_;
}

}  // namespace meshcast::mesh::sim
