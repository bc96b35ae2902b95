// The members of one stream for the tracker: a dense array of slots plus an id -> slot hash
// index. A join's neighbour window walks a few hundred slots from a rotating position; with a
// tree of strings and a peer lookup per member, that walk missed the cache more often the
// larger the directory grew, so a join cost more at 20,000 members than at 1,000.
//
// Each slot may hold a pointer to its peer (PeerT lives in a node-stable unordered_map), so the
// window reads the peer without a hash lookup. A linked peer counts its slots in
// `PeerT::member_slots`: the owner of the peers checks that count before erasing one, so no
// slot is left pointing at a freed peer (TrackerCore::remove_peer). A slot without a peer (an
// id whose peer is unknown or was never linked) is looked up by id instead.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "mesh/base/time.hpp"

namespace meshcast::signaling {

template <typename PeerT>
class StreamMembers {
  using Index = std::unordered_map<std::string, std::size_t>;

 public:
  struct Member {
    // The index's entry (node-stable): the id, and where this slot is, updated on moves.
    typename Index::value_type* entry = nullptr;
    TimeUs joined = 0;
    PeerT* peer = nullptr;  // nullptr: not linked, look the id up
    const std::string& id() const { return entry->first; }
  };

  StreamMembers() = default;
  // Slots point into the index: a copy would point into the original's.
  StreamMembers(const StreamMembers&) = delete;
  StreamMembers& operator=(const StreamMembers&) = delete;
  StreamMembers(StreamMembers&&) noexcept = default;  // the index's nodes move along
  // An assignment would drop the target's links without unlinking them.
  StreamMembers& operator=(StreamMembers&&) = delete;

  std::size_t size() const { return slots_.size(); }
  bool empty() const { return slots_.empty(); }
  bool contains(const std::string& id) const { return index_.count(id) > 0; }
  const Member* find(const std::string& id) const {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &slots_[it->second];
  }
  // Slot order: insertion order, changed by erases (swap-remove). Not sorted by id.
  auto begin() const { return slots_.cbegin(); }
  auto end() const { return slots_.cend(); }

  // Adds `id` (joined at `joined`) unless it is a member; links `peer` to its slot either way
  // when the slot has none. False if it was a member already (joined unchanged).
  bool insert(const std::string& id, TimeUs joined, PeerT* peer) {
    auto [it, fresh] = index_.try_emplace(id, slots_.size());
    if (!fresh) {
      Member& m = slots_[it->second];
      if (!m.peer && peer) link(m, peer);
      return false;
    }
    slots_.push_back(Member{&*it, joined, nullptr});
    if (peer) link(slots_.back(), peer);
    return true;
  }

  // Removes `id` in O(1). Keeps the rotation fair: the slots the window has passed in this
  // round stay before the cursor and the ones still to come after it, so every member is in
  // exactly one window per round however members come and go.
  bool erase(const std::string& id) {
    auto it = index_.find(id);
    if (it == index_.end()) return false;
    std::size_t i = it->second;
    unlink(slots_[i]);
    const std::size_t last = slots_.size() - 1;
    if (i < cursor_) {
      // Fill the hole with the last slot already visited, and that one's place with the
      // last slot (not yet visited); the cursor steps back one.
      move(cursor_ - 1, i);
      i = --cursor_;
    }
    move(last, i);
    slots_.pop_back();
    index_.erase(it);
    if (cursor_ >= slots_.size()) cursor_ = 0;
    return true;
  }

  // The id's slot no longer points at its peer (the peer is going away, or the id stays a
  // member while the peer stops being one; later walks look it up by id).
  void unlink(const std::string& id) {
    if (auto it = index_.find(id); it != index_.end()) unlink(slots_[it->second]);
  }

  // Empties the set, unlinking every peer.
  void clear() {
    for (auto& m : slots_) unlink(m);
    slots_.clear();
    index_.clear();
    cursor_ = 0;
  }

  // Calls f(const Member&) for the next min(n, size()) slots from the cursor, wrapping at
  // the end, and moves the cursor past them.
  template <typename F>
  void visit_window(std::size_t n, F&& f) {
    if (slots_.empty()) return;
    if (n > slots_.size()) n = slots_.size();
    for (std::size_t k = 0; k < n; ++k) {
      if (cursor_ >= slots_.size()) cursor_ = 0;
      f(static_cast<const Member&>(slots_[cursor_++]));
    }
    if (cursor_ >= slots_.size()) cursor_ = 0;
  }
  std::size_t cursor() const { return cursor_; }

 private:
  static void link(Member& m, PeerT* peer) {
    m.peer = peer;
    ++peer->member_slots;
  }
  static void unlink(Member& m) {
    if (!m.peer) return;
    --m.peer->member_slots;
    m.peer = nullptr;
  }
  // Slot `from` moves to `to` (the index follows); `from` keeps a moved-from copy.
  void move(std::size_t from, std::size_t to) {
    if (from == to) return;
    slots_[to] = slots_[from];
    slots_[to].entry->second = to;
  }

  std::vector<Member> slots_;
  Index index_;
  std::size_t cursor_ = 0;  // the next slot a window looks at
};

}  // namespace meshcast::signaling
