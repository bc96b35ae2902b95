#include "mesh/node/peer_ids.hpp"

#include <vector>

namespace meshcast::node {

PeerIds::PeerIds(size_t max_names) : max_(max_names) {}

uint32_t PeerIds::wire_hash(const std::string& name) {
  uint32_t h = 2166136261u;  // FNV-1a: the same on every peer
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::optional<mesh::PeerId> PeerIds::find(const std::string& name) const {
  auto it = ids_.find(name);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<mesh::PeerId> PeerIds::id_for(const std::string& name) {
  if (auto id = find(name)) return id;
  if (names_.size() >= max_) forget_unused();
  if (names_.size() >= max_ || next_ == mesh::kNoPeer) return std::nullopt;
  const mesh::PeerId id = next_++;
  ids_.emplace(name, id);
  names_.emplace(id, name);
  by_hash_.emplace(wire_hash(name), id);
  return id;
}

const std::string* PeerIds::name_of(mesh::PeerId id) const {
  auto it = names_.find(id);
  return it == names_.end() ? nullptr : &it->second;
}

std::optional<uint32_t> PeerIds::wire_id(mesh::PeerId id) const {
  const std::string* name = name_of(id);
  if (!name) return std::nullopt;
  return wire_hash(*name);
}

std::optional<mesh::PeerId> PeerIds::from_wire(uint32_t hash) const {
  auto [a, b] = by_hash_.equal_range(hash);
  if (a == b || std::next(a) != b) return std::nullopt;  // unknown, or ambiguous
  return a->second;
}

void PeerIds::forget_unused() {
  std::vector<mesh::PeerId> gone;
  for (auto& [id, name] : names_)
    if (!in_use_ || !in_use_(id)) gone.push_back(id);
  for (mesh::PeerId id : gone) {
    auto n = names_.find(id);
    const uint32_t h = wire_hash(n->second);
    for (auto [a, b] = by_hash_.equal_range(h); a != b; ++a)
      if (a->second == id) {
        by_hash_.erase(a);
        break;
      }
    ids_.erase(n->second);
    names_.erase(n);
  }
}

}  // namespace meshcast::node
