// PeerIds: names never share a local id (whatever their hashes), redirects resolve only
// unambiguous hashes, the table stays bounded.
#include "mesh/node/peer_ids.hpp"

#include <gtest/gtest.h>

using meshcast::node::PeerIds;

TEST(PeerIds, CollidingNamesGetDistinctIds) {
  // Same 32-bit FNV-1a hash.
  ASSERT_EQ(PeerIds::wire_hash("Im_bnC"), PeerIds::wire_hash("broadcaster-demo"));
  PeerIds ids;
  auto a = ids.id_for("broadcaster-demo");
  auto b = ids.id_for("Im_bnC");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(*ids.name_of(*a), "broadcaster-demo");
  EXPECT_EQ(*ids.name_of(*b), "Im_bnC");
  EXPECT_EQ(ids.id_for("broadcaster-demo"), a);  // stable
  // A redirect naming that hash is ambiguous here: dropped, not guessed.
  EXPECT_FALSE(ids.from_wire(PeerIds::wire_hash("broadcaster-demo")));
}

TEST(PeerIds, RedirectsResolveKnownNames) {
  PeerIds ids;
  auto a = ids.id_for("alice");
  ASSERT_TRUE(a);
  EXPECT_EQ(ids.wire_id(*a), PeerIds::wire_hash("alice"));
  EXPECT_EQ(ids.from_wire(PeerIds::wire_hash("alice")), a);
  EXPECT_FALSE(ids.from_wire(PeerIds::wire_hash("nobody")));
  EXPECT_FALSE(ids.wire_id(12345));
}

TEST(PeerIds, StaysBoundedAndKeepsNamesInUse) {
  PeerIds ids(100);
  auto keep = ids.id_for("partner");
  ids.set_in_use([&](meshcast::mesh::PeerId id) { return id == *keep; });
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(ids.id_for("stranger-" + std::to_string(i)));
    ASSERT_LE(ids.size(), 100u);
  }
  EXPECT_EQ(ids.find("partner"), keep);
  // Ids are never reused: a forgotten name comes back with a new id.
  auto again = ids.id_for("stranger-0");
  ASSERT_TRUE(again);
  EXPECT_GT(*again, 10'000u);
}

TEST(PeerIds, FullOfNamesInUseRefusesNewOnes) {
  PeerIds ids(3);
  ids.set_in_use([](meshcast::mesh::PeerId) { return true; });
  EXPECT_TRUE(ids.id_for("a"));
  EXPECT_TRUE(ids.id_for("b"));
  EXPECT_TRUE(ids.id_for("c"));
  EXPECT_FALSE(ids.id_for("d"));
  EXPECT_TRUE(ids.id_for("a"));  // known names still resolve
}
