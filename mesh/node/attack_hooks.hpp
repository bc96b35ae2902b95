// AttackHooks: the test-only misbehaviour a MeshPeer can be given, kept out of its normal
// path (MeshPeer holds none unless MeshPeerConfig::attack asks for one). Integration tests
// and `meshcast swarm` use them to attack a swarm from inside: a malicious relay and sybils.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "mesh/core/messages.hpp"

namespace meshcast::node {

struct AttackConfig {
  // A malicious relay. It flips a payload byte of every segment it relays and, so that
  // every partner meets the attack, pushes each partner an unasked forged copy of a segment
  // far ahead of what it plays.
  bool tamper_relayed = false;
  // A sybil. It accepts partners and subscriptions like anyone, keeps receiving, and never
  // sends a segment (no push, no pull answer).
  bool sybil = false;
  bool any() const { return tamper_relayed || sybil; }
};

class AttackHooks {
 public:
  explicit AttackHooks(const AttackConfig& cfg) : cfg_(cfg) {}

  // A message that never leaves (a sybil's segments).
  bool withholds(const mesh::Message& m) const { return cfg_.sybil && mesh::is_media(m); }
  // Encodes what goes on the wire instead of `m` into `out` (a relayed segment with one
  // payload byte flipped and its piece digests made to match: only the signature shows it).
  // False: `m` goes as it is.
  bool alter(const mesh::Message& m, std::vector<uint8_t>& out) const;
  // After playing `played`: a forged copy for every partner (nullopt: none).
  std::optional<mesh::Message> forgery_after_play(const mesh::SegmentMsg& played) const;

 private:
  AttackConfig cfg_;
};

}  // namespace meshcast::node
