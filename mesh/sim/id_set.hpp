// Peer ids with O(1) insert, remove (swap with the last) and uniform sampling; `pos` maps a
// peer's slot to its index. The simulated tracker keeps its lists in these.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mesh/core/types.hpp"

namespace meshcast::mesh::sim {

constexpr uint32_t kNoSlot = 0xFFFFFFFFu;

class IdSet {
 public:
  void reset(size_t slots) { pos_.assign(slots, kNoSlot); }
  bool contains(uint32_t slot) const { return pos_[slot] != kNoSlot; }
  const std::vector<PeerId>& ids() const { return ids_; }
  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  void insert(uint32_t slot, PeerId id) {
    pos_[slot] = uint32_t(ids_.size());
    ids_.push_back(id);
  }
  // slot_of: the slot of any id in the set.
  template <class SlotOf>
  void erase(uint32_t slot, SlotOf slot_of) {
    const uint32_t i = pos_[slot];
    if (i == kNoSlot) return;
    ids_[i] = ids_.back();
    pos_[slot_of(ids_[i])] = i;
    ids_.pop_back();
    pos_[slot] = kNoSlot;
  }

 private:
  std::vector<PeerId> ids_;
  std::vector<uint32_t> pos_;  // slot -> index in ids_, or kNoSlot
};

}  // namespace meshcast::mesh::sim
