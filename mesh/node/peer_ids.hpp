// Names (tracker ids, chosen by their peers) <-> the mesh core's numeric ids, inside one
// process. Local ids are handed out in order and never reused, so two names never share an
// id, however they were chosen. Only redirect suggestions cross the wire as ids: they travel
// as a hash of the name (wire_id) and are resolved against the names this process already
// knows; a hash that matches no name, or more than one, is dropped (a suggestion is only a
// hint, and the link it leads to is authenticated on its own).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "mesh/core/types.hpp"

namespace meshcast::node {

class PeerIds {
 public:
  explicit PeerIds(size_t max_names = 4096);

  // The local id of `name`, handed out on first sight; nullopt if the table is full of
  // names still in use (see forget_unused).
  std::optional<mesh::PeerId> id_for(const std::string& name);
  // The local id of a known name.
  std::optional<mesh::PeerId> find(const std::string& name) const;
  const std::string* name_of(mesh::PeerId id) const;

  // What a redirect carries for `id`, and back.
  static uint32_t wire_hash(const std::string& name);
  std::optional<uint32_t> wire_id(mesh::PeerId id) const;
  std::optional<mesh::PeerId> from_wire(uint32_t hash) const;

  // When the table is full, names for which in_use(id) is false are forgotten.
  void set_in_use(std::function<bool(mesh::PeerId)> in_use) { in_use_ = std::move(in_use); }
  size_t size() const { return names_.size(); }

 private:
  void forget_unused();

  size_t max_;
  mesh::PeerId next_ = 1;
  std::unordered_map<std::string, mesh::PeerId> ids_;
  std::unordered_map<mesh::PeerId, std::string> names_;
  std::unordered_multimap<uint32_t, mesh::PeerId> by_hash_;
  std::function<bool(mesh::PeerId)> in_use_;
};

}  // namespace meshcast::node
