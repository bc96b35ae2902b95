#include "signaling/neighbour_choice.hpp"

#include <gtest/gtest.h>

using namespace meshcast::signaling;

namespace {

using Set = std::set<std::string, std::less<>>;

// A viewer whose upload others confirmed (confirmed_kbps), and optionally trusted.
NeighbourCandidate relay(std::string_view id, int64_t upload, int children, int64_t confirmed,
                         bool trusted = false) {
  NeighbourCandidate c{id, false, upload, children};
  c.confirmed_kbps = confirmed;
  c.trusted = trusted;
  return c;
}

TEST(NeighbourChoice, BroadcasterOfferedOnlyWhileFewTrustedViewersHaveSpare) {
  NeighbourPolicy pol;  // 1000 kbps stream, broadcaster until 4 trusted viewers with spare
  std::vector<NeighbourCandidate> c = {
      {"src", true, 4000, 0}, relay("v1", 3000, 0, 2000), relay("v2", 3000, 0, 2000)};
  auto out = choose_neighbours("new", c, {}, pol);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "src");  // tiny audience: the source comes first

  // 4 trusted viewers with spare upload: the broadcaster is no longer suggested.
  std::vector<std::string> ids = {"src", "v1", "v2", "v3", "v4"};
  std::vector<NeighbourCandidate> c2;
  for (auto& id : ids)
    c2.push_back(id == "src" ? NeighbourCandidate{id, true, 4000, 0}
                             : relay(id, 3000, 0, 2000, true));
  out = choose_neighbours("new", c2, {}, pol);
  EXPECT_EQ(out.size(), 4u);
  EXPECT_EQ(std::count(out.begin(), out.end(), "src"), 0);
  // Untrusted viewers with spare do not push the broadcaster out, however many declare it.
  for (auto& x : c2) x.trusted = false;
  out = choose_neighbours("new", c2, {}, pol);
  EXPECT_EQ(out[0], "src");
}

TEST(NeighbourChoice, ConfirmedSpareAndFewChildrenFirst) {
  NeighbourPolicy pol;
  pol.max_neighbours = 4;
  pol.broadcaster_until_viewers = 0;  // the broadcaster only as the trusted fallback
  std::vector<NeighbourCandidate> c = {
      relay("full", 2000, 2, 1000),   // believed 2000, spare 0: last group
      relay("busy", 10000, 5, 5000),  // believed 10000, spare 5000, 5 children
      relay("idle", 3000, 0, 1500),   // believed 3000, 0 children
      relay("one", 3000, 1, 1500),    // spare 2000, 1 child
      {"src", true, 100000, 0, 0, true},
  };
  auto out = choose_neighbours("me", c, {}, pol);
  // The broadcaster is the list's trusted peer; then the confirmed relays by load.
  EXPECT_EQ(out, (std::vector<std::string>{"src", "idle", "one", "busy"}));
  pol.max_neighbours = 16;
  out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out, (std::vector<std::string>{"src", "idle", "one", "busy", "full"}));
}

TEST(NeighbourChoice, DeclaredUploadIsClampedUntilConfirmed) {
  NeighbourPolicy pol;
  pol.broadcaster_until_viewers = 0;
  // A liar declaring 10 Gbit/s has room for one child until someone confirms it.
  NeighbourCandidate liar{"liar", false, 10'000'000, 0};
  EXPECT_EQ(believed_upload_kbps(liar, 1000), 1000);
  liar.children = 1;
  EXPECT_LT(spare_kbps(liar, 1000), 1000);
  // Confirmed at 1500 kbit/s: believed up to twice that, never above the declaration.
  liar.confirmed_kbps = 1500;
  EXPECT_EQ(believed_upload_kbps(liar, 1000), 3000);
  EXPECT_EQ(believed_upload_kbps(relay("small", 2000, 0, 1500), 1000), 2000);
  // Not stated: a viewer's default budget (4 copies) once confirmed.
  EXPECT_EQ(believed_upload_kbps(relay("quiet", 0, 0, 5000), 1000), 4000);
  // The broadcaster's declaration stands.
  EXPECT_EQ(believed_upload_kbps({"src", true, 4000, 0}, 1000), 4000);

  std::vector<NeighbourCandidate> c = {{"liar", false, 10'000'000, 1},
                                       relay("honest", 2000, 1, 1000)};
  auto out = choose_neighbours("me", c, {}, pol);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "honest");
}

TEST(NeighbourChoice, EqualChildrenPreferMoreSpare) {
  NeighbourPolicy pol;
  pol.broadcaster_until_viewers = 0;
  std::vector<NeighbourCandidate> c = {relay("small", 1500, 0, 1000),
                                       relay("large", 9000, 0, 5000)};
  auto out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out, (std::vector<std::string>{"large", "small"}));
}

TEST(NeighbourChoice, AtMostTwoPerAddressGroupAndATrustedPeerInEveryList) {
  NeighbourPolicy pol;
  pol.broadcaster_until_viewers = 0;
  std::vector<std::string> ids;
  for (int i = 0; i < 16; ++i) ids.push_back("sybil" + std::to_string(i));
  std::vector<NeighbourCandidate> c;
  for (auto& id : ids) {
    NeighbourCandidate x{id, false, 10'000'000, 0};
    x.group = "203.0.113";
    c.push_back(x);
  }
  NeighbourCandidate old = relay("old", 4000, 3, 2000, true);  // trusted, saturated
  old.group = "192.0.2";
  c.push_back(old);
  c.push_back({"src", true, 1000, 5});  // saturated broadcaster
  auto out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(
      std::count_if(out.begin(), out.end(), [](auto& id) { return id.rfind("sybil", 0) == 0; }), 2);
  EXPECT_EQ(std::count(out.begin(), out.end(), "old"), 1);  // the trusted peer
  // No limit: the sybils fill the list, but the trusted peer still has its place.
  pol.max_per_group = 0;
  out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out.size(), 8u);
  EXPECT_EQ(out[0], "old");
  // Without a trusted viewer, the broadcaster is that peer, even when saturated.
  c[16].trusted = false;
  out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out[0], "src");
}

TEST(NeighbourChoice, ExcludesSelfAndGivenIdsAndHonoursMax) {
  NeighbourPolicy pol;
  pol.max_neighbours = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back("v" + std::to_string(i));
  std::vector<NeighbourCandidate> c;
  for (auto& id : ids) c.push_back({id, false, 5000, 0});
  c.push_back({"me", false, 5000, 0});
  Set exclude = {"v0", "v1", "v2"};
  auto out = choose_neighbours("me", c, exclude, pol);
  ASSERT_EQ(out.size(), 2u);
  for (auto& id : out) {
    EXPECT_NE(id, "me");
    EXPECT_EQ(exclude.count(id), 0u);
  }
  pol.max_neighbours = 100;  // clamped to 16
  std::vector<std::string> many;
  for (int i = 0; i < 40; ++i) many.push_back("w" + std::to_string(i));
  std::vector<NeighbourCandidate> c2;
  for (auto& id : many) c2.push_back({id, false, 5000, 0});
  EXPECT_EQ(choose_neighbours("me", c2, {}, pol).size(), 16u);
}

TEST(NeighbourChoice, DeterministicAndSpreadsTiesAcrossRequesters) {
  NeighbourPolicy pol;
  pol.max_neighbours = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back("v" + std::to_string(i));
  std::vector<NeighbourCandidate> c;
  for (auto& id : ids) c.push_back({id, false, 5000, 0});
  EXPECT_EQ(choose_neighbours("a", c, {}, pol), choose_neighbours("a", c, {}, pol));
  std::set<std::string> firsts;
  for (int r = 0; r < 20; ++r)
    firsts.insert(choose_neighbours("r" + std::to_string(r), c, {}, pol)[0]);
  EXPECT_GT(firsts.size(), 5u);  // equal candidates are not all given the same first pick
}

TEST(NeighbourChoice, EmptyInputs) {
  NeighbourPolicy pol;
  EXPECT_TRUE(choose_neighbours("me", {}, {}, pol).empty());
  std::vector<NeighbourCandidate> only_me = {{"me", false, 1000, 0}};
  EXPECT_TRUE(choose_neighbours("me", only_me, {}, pol).empty());
  EXPECT_EQ(spare_kbps(relay("x", 3000, 2, 5000), 1000), 1000);
  EXPECT_EQ(spare_kbps(relay("x", 1000, 2, 5000), 1000), -1000);
}

}  // namespace
