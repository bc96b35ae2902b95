// PartnerSet on its own: lookup, candidates, dialling up to the degree wanted, asking for
// neighbours, and which idle partner may go.
#include "mesh/core/partner_set.hpp"

#include <gtest/gtest.h>

#include "node_parts.hpp"

using namespace meshcast::mesh;
using namespace meshcast::mesh::test;

namespace {

std::vector<PeerId> dialled(const std::vector<Output>& outs) {
  std::vector<PeerId> ids;
  for (auto& o : outs)
    if (o.kind == OutputKind::kConnect) ids.push_back(o.peer);
  return ids;
}

TEST(NodePartnerSet, FindsPartnersUntilErased) {
  NodeParts n(parts_cfg(false, 1));
  n.partners.add(1, 0);
  n.partners.add(2, 0);
  n.partners.add(3, 0);
  ASSERT_NE(n.partners.find(2), nullptr);
  n.partners.erase(*n.partners.find(2));
  EXPECT_EQ(n.partners.find(2), nullptr);
  EXPECT_EQ(n.partners.find(3)->id, 3u);  // the others keep their records
  EXPECT_EQ(n.partners.ids(), (std::vector<PeerId>{1, 3}));
}

TEST(NodePartnerSet, CandidatesSkipSelfPartnersAndBannedAndKeepTheNewest) {
  NodeConfig c = parts_cfg(false, 1);
  c.max_candidates = 3;
  NodeParts n(c);
  n.partners.add(1, 0);
  n.partners.ban(2);
  const std::vector<PeerId> ids = {c.self, 1, 2, 3, 4, 3, 5, 6};
  n.partners.add_candidates(ids);
  EXPECT_EQ(n.partners.candidates(), (std::vector<PeerId>{4, 5, 6}));
  EXPECT_TRUE(n.partners.banned(2));
  EXPECT_FALSE(n.partners.banned(3));
}

TEST(NodePartnerSet, DialsCandidatesUpToTheTargetOnce) {
  NodeConfig c = parts_cfg(false, 1);
  c.min_partners = 1;
  c.target_partners = 2;
  NodeParts n(c);
  const std::vector<PeerId> ids = {10, 11, 12};
  n.partners.add_candidates(ids);
  EXPECT_EQ(n.partners.manage(0, false, 0, false, n.out), kNoPeer);
  EXPECT_EQ(dialled(n.take()), (std::vector<PeerId>{12, 11}));  // the newest first
  // Links on their way count towards the target: nobody more to dial.
  n.partners.manage(1, false, 0, false, n.out);
  EXPECT_TRUE(dialled(n.take()).empty());
  // One attempt timed out: its place goes to the next candidate.
  n.partners.stop_connecting(12);
  n.partners.manage(2, false, 0, false, n.out);
  EXPECT_EQ(dialled(n.take()), std::vector<PeerId>{10});
}

TEST(NodePartnerSet, AsksForNeighboursWhenShortAndOutOfCandidates) {
  NodeConfig c = parts_cfg(false, 1);
  NodeParts n(c);
  n.partners.manage(0, true, 0, false, n.out);
  EXPECT_EQ(count(n.take(), OutputKind::kNeedNeighbours), 1u);
  n.partners.manage(c.need_neighbours_us - 1, true, 0, false, n.out);
  EXPECT_EQ(count(n.take(), OutputKind::kNeedNeighbours), 0u);
  n.partners.manage(c.need_neighbours_us, true, 0, false, n.out);
  EXPECT_EQ(count(n.take(), OutputKind::kNeedNeighbours), 1u);
}

TEST(NodePartnerSet, OnlyAnIdleNonSourcePartnerMayGo) {
  NodeConfig c = parts_cfg(false, 1);
  c.max_partners = 3;
  NodeParts n(c);
  n.partners.add(1, 0).is_source = true;
  n.partners.add(2, 0).child_mask = 1;
  n.partners.add(3, 0);
  // Too young to have proved anything.
  EXPECT_EQ(n.partners.evictable(c.evict_after_us), kNoPeer);
  EXPECT_EQ(n.partners.evictable(c.evict_after_us + 1), 3u);
  // Full and 3 delivered nothing for partner_idle: manage names it.
  EXPECT_EQ(n.partners.manage(c.partner_idle_us, true, 0, false, n.out), kNoPeer);
  EXPECT_EQ(n.partners.manage(c.partner_idle_us + 1, true, 0, false, n.out), 3u);
  n.partners.find(3)->last_useful = c.partner_idle_us;  // it delivered something
  EXPECT_EQ(n.partners.manage(c.partner_idle_us + 1, true, 0, false, n.out), kNoPeer);
}

TEST(NodePartnerSet, RedialsTheSourceOnlyWithAComplaint) {
  NodeConfig c = parts_cfg(false, 1);
  NodeParts n(c);
  n.partners.learn_source(50);
  n.partners.manage(c.refuse_backoff_us, true, 0, false, n.out);
  EXPECT_TRUE(dialled(n.take()).empty());
  n.partners.manage(c.refuse_backoff_us, true, 0, true, n.out);
  EXPECT_EQ(dialled(n.take()), std::vector<PeerId>{50});
}

}  // namespace
