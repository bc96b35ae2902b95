#include "signaling/neighbour_choice.hpp"

#include <gtest/gtest.h>

using namespace meshcast::signaling;

namespace {

using Set = std::set<std::string, std::less<>>;

TEST(NeighbourChoice, BroadcasterOfferedOnlyWhileAudienceIsTiny) {
  NeighbourPolicy pol;  // 1000 kbps stream, broadcaster until 4 viewers with spare
  std::vector<NeighbourCandidate> c = {
      {"src", true, 4000, 0}, {"v1", false, 3000, 0}, {"v2", false, 3000, 0}};
  auto out = choose_neighbours("new", c, {}, pol);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "src");  // tiny audience: the source comes first

  // 4 viewers with spare upload: the broadcaster is no longer suggested.
  std::vector<std::string> ids = {"src", "v1", "v2", "v3", "v4"};
  std::vector<NeighbourCandidate> c2;
  for (auto& id : ids) c2.push_back({id, id == "src", id == "src" ? 4000 : 3000, 0});
  out = choose_neighbours("new", c2, {}, pol);
  EXPECT_EQ(out.size(), 4u);
  EXPECT_EQ(std::count(out.begin(), out.end(), "src"), 0);
}

TEST(NeighbourChoice, SpareUploadAndFewChildrenFirst) {
  NeighbourPolicy pol;
  pol.max_neighbours = 3;
  pol.broadcaster_until_viewers = 0;  // never the broadcaster
  std::vector<NeighbourCandidate> c = {
      {"full", false, 2000, 2},   // spare 0: last group
      {"busy", false, 10000, 5},  // spare 5000, 5 children
      {"idle", false, 3000, 0},   // spare 3000, 0 children
      {"one", false, 3000, 1},    // spare 2000, 1 child
      {"src", true, 100000, 0},
  };
  auto out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out, (std::vector<std::string>{"idle", "one", "busy"}));
  pol.max_neighbours = 16;
  out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out, (std::vector<std::string>{"idle", "one", "busy", "full"}));
}

TEST(NeighbourChoice, AmongPeersWithSpareThosePlayingComeFirst) {
  NeighbourPolicy pol;
  pol.broadcaster_until_viewers = 0;
  // A crowd of joiners: fresh peers have the fewest children but nothing to give yet.
  std::vector<NeighbourCandidate> c = {
      {"fresh1", false, 4000, 0, false},
      {"fresh2", false, 4000, 0, false},
      {"plays", false, 3000, 2, true},
      {"full", false, 1000, 1, true},  // no spare: last
  };
  auto out = choose_neighbours("me", c, {}, pol);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], "plays");
  EXPECT_EQ(out[3], "full");
}

TEST(NeighbourChoice, EqualChildrenPreferMoreSpare) {
  NeighbourPolicy pol;
  pol.broadcaster_until_viewers = 0;
  std::vector<NeighbourCandidate> c = {{"small", false, 1500, 0}, {"large", false, 9000, 0}};
  auto out = choose_neighbours("me", c, {}, pol);
  EXPECT_EQ(out, (std::vector<std::string>{"large", "small"}));
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
  EXPECT_EQ(spare_kbps({"x", false, 3000, 2}, 1000), 1000);
  EXPECT_EQ(spare_kbps({"x", false, 1000, 2}, 1000), -1000);
}

}  // namespace
