#include "mesh/node/attack_hooks.hpp"

#include <memory>

#include "mesh/core/codec.hpp"

namespace meshcast::node {

bool AttackHooks::alter(const mesh::Message& m, std::vector<uint8_t>& out) const {
  if (!cfg_.tamper_relayed || !mesh::is_media(m)) return false;
  mesh::SegmentMsg bad = std::get<mesh::SegmentMsg>(m);
  auto copy = std::make_shared<std::vector<uint8_t>>(bad.segment.payload_bytes().begin(),
                                                     bad.segment.payload_bytes().end());
  if (!copy->empty()) (*copy)[copy->size() / 2] ^= 0x5a;
  bad.segment.payload = std::move(copy);
  mesh::encode(mesh::Message(std::move(bad)), out);
  return true;
}

std::optional<mesh::Message> AttackHooks::forgery_after_play(const mesh::SegmentMsg& played) const {
  if (!cfg_.tamper_relayed) return std::nullopt;
  // A number far ahead of any live edge, so no partner can skip it as a duplicate.
  mesh::SegmentMsg fake = played;
  fake.segment.header.number += 64;
  return mesh::Message(std::move(fake));
}

}  // namespace meshcast::node
