// StreamMembers: the tracker's per-stream member index (dense slots + id index + rotating
// window). Checked against a std::map model; a peer's slot count must always equal the slots
// that point at it, or the tracker could free a peer a slot still points at.
#include "signaling/stream_members.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using meshcast::signaling::StreamMembers;

namespace {

struct FakePeer {
  std::string id;
  int member_slots = 0;
};
using Members = StreamMembers<FakePeer>;

std::vector<std::string> window(Members& m, std::size_t n) {
  std::vector<std::string> ids;
  m.visit_window(n, [&](const Members::Member& x) { ids.push_back(x.id()); });
  return ids;
}

std::set<std::string> ids_of(const Members& m) {
  std::set<std::string> ids;
  for (auto& x : m) ids.insert(x.id());
  return ids;
}

// Every slot is found by its id at its own address, and every id once.
void expect_consistent(const Members& m) {
  std::size_t n = 0;
  for (auto& x : m) {
    ++n;
    const auto* f = m.find(x.id());
    ASSERT_NE(f, nullptr) << x.id();
    EXPECT_EQ(f, &x) << x.id();
  }
  EXPECT_EQ(n, m.size());
  EXPECT_EQ(ids_of(m).size(), m.size());
  if (!m.empty()) {
    EXPECT_LT(m.cursor(), m.size());
  } else {
    EXPECT_EQ(m.cursor(), 0u);
  }
}

TEST(StreamMembers, InsertFindEraseAndIterate) {
  Members m;
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(m.insert("a", 10, nullptr));
  EXPECT_TRUE(m.insert("b", 20, nullptr));
  EXPECT_TRUE(m.insert("c", 30, nullptr));
  EXPECT_FALSE(m.insert("b", 99, nullptr));  // a member already: joined stays
  ASSERT_NE(m.find("b"), nullptr);
  EXPECT_EQ(m.find("b")->joined, 20);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_TRUE(m.contains("a"));
  EXPECT_FALSE(m.contains("z"));
  EXPECT_EQ(m.find("z"), nullptr);

  EXPECT_TRUE(m.erase("a"));  // the first slot: the last one moves into it
  EXPECT_FALSE(m.erase("a"));
  EXPECT_FALSE(m.erase("never"));
  EXPECT_EQ(ids_of(m), (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(m.find("c")->joined, 30);
  expect_consistent(m);

  EXPECT_TRUE(m.erase("c"));
  EXPECT_TRUE(m.erase("b"));
  EXPECT_TRUE(m.empty());
  expect_consistent(m);
  EXPECT_TRUE(m.insert("b", 40, nullptr));  // back after leaving: a new slot, a new time
  EXPECT_EQ(m.find("b")->joined, 40);
}

TEST(StreamMembers, WindowsRotateOverEveryMemberOncePerRound) {
  Members m;
  for (int i = 0; i < 10; ++i) m.insert("m" + std::to_string(i), i, nullptr);
  std::multiset<std::string> seen;
  for (int w = 0; w < 5; ++w)  // 5 windows of 4 = two rounds of 10
    for (auto& id : window(m, 4)) seen.insert(id);
  EXPECT_EQ(seen.size(), 20u);
  for (auto& x : m) EXPECT_EQ(seen.count(x.id()), 2u) << x.id();
  // A window never holds a member twice, however large it is asked to be.
  auto all = window(m, 50);
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 10u);
  Members none;
  EXPECT_TRUE(window(none, 5).empty());
}

TEST(StreamMembers, EraseOfTheCursorSlotAndOfVisitedSlotsKeepsTheRoundFair) {
  Members m;
  for (int i = 0; i < 10; ++i) m.insert("m" + std::to_string(i), i, nullptr);
  const auto first = window(m, 4);
  std::set<std::string> unseen = ids_of(m);
  for (auto& id : first) unseen.erase(id);
  // The slot the next window starts at, and one the window already passed, both leave.
  const std::string at_cursor = (m.begin() + static_cast<std::ptrdiff_t>(m.cursor()))->id();
  ASSERT_TRUE(unseen.count(at_cursor));
  EXPECT_TRUE(m.erase(at_cursor));
  unseen.erase(at_cursor);
  EXPECT_TRUE(m.erase(first[1]));
  expect_consistent(m);
  // The rest of the round is exactly the members not yet looked at...
  const auto rest = window(m, unseen.size());
  EXPECT_EQ(std::set<std::string>(rest.begin(), rest.end()), unseen);
  // ...and the next round starts over with those that were.
  const auto next = window(m, 3);
  for (auto& id : next) EXPECT_FALSE(unseen.count(id)) << id;
}

TEST(StreamMembers, PeerLinksAreCountedAndUndoneByEveryRemoval) {
  FakePeer p{"p"}, q{"q"};
  Members m;
  EXPECT_TRUE(m.insert("p", 1, &p));
  EXPECT_EQ(p.member_slots, 1);
  EXPECT_EQ(m.find("p")->peer, &p);
  // A member without a peer (its peer unknown here): no link, looked up by id by the user.
  EXPECT_TRUE(m.insert("q", 2, nullptr));
  EXPECT_EQ(m.find("q")->peer, nullptr);
  EXPECT_EQ(q.member_slots, 0);
  // Its peer shows up: inserting again links the existing slot, keeps the join time.
  EXPECT_FALSE(m.insert("q", 5, &q));
  EXPECT_EQ(m.find("q")->peer, &q);
  EXPECT_EQ(m.find("q")->joined, 2);
  EXPECT_EQ(q.member_slots, 1);
  EXPECT_FALSE(m.insert("q", 5, &q));  // linked already: not counted twice
  EXPECT_EQ(q.member_slots, 1);

  m.unlink("q");  // stays a member, no longer points at q
  EXPECT_TRUE(m.contains("q"));
  EXPECT_EQ(m.find("q")->peer, nullptr);
  EXPECT_EQ(q.member_slots, 0);
  m.unlink("q");
  m.unlink("nobody");
  EXPECT_EQ(q.member_slots, 0);

  EXPECT_TRUE(m.erase("p"));
  EXPECT_EQ(p.member_slots, 0);

  // Two streams, one peer: each stream's slot is counted; clear() undoes its own.
  Members other;
  m.insert("p", 3, &p);
  other.insert("p", 4, &p);
  EXPECT_EQ(p.member_slots, 2);
  other.clear();
  EXPECT_TRUE(other.empty());
  EXPECT_EQ(p.member_slots, 1);
  // Moving the set (a stream into the tracker's map) keeps slots, index and links.
  Members moved(std::move(m));
  EXPECT_EQ(p.member_slots, 1);
  ASSERT_NE(moved.find("p"), nullptr);
  EXPECT_EQ(moved.find("p")->peer, &p);
  expect_consistent(moved);
  moved.clear();
  EXPECT_EQ(p.member_slots, 0);
}

// Random inserts, erases, unlinks and windows against a model: membership, join times and
// link counts always agree, and no window repeats a member within a round.
TEST(StreamMembers, AgreesWithAModelUnderRandomChurn) {
  std::mt19937 rng(7);
  std::vector<FakePeer> peers(40);
  for (std::size_t i = 0; i < peers.size(); ++i) peers[i].id = "p" + std::to_string(i);
  Members m;
  std::map<std::string, std::pair<int64_t, bool>> model;  // id -> joined, linked
  std::set<std::string> visited_this_round;
  for (int step = 0; step < 5000; ++step) {
    FakePeer& p = peers[rng() % peers.size()];
    switch (rng() % 4) {
      case 0: {
        const bool link = rng() % 3 != 0;
        const bool fresh = !model.count(p.id);
        EXPECT_EQ(m.insert(p.id, step, link ? &p : nullptr), fresh);
        if (fresh) model[p.id] = {step, link};
        if (link) model[p.id].second = true;
        break;
      }
      case 1:
        EXPECT_EQ(m.erase(p.id), model.erase(p.id) > 0);
        visited_this_round.erase(p.id);
        break;
      case 2:
        m.unlink(p.id);
        if (auto it = model.find(p.id); it != model.end()) it->second.second = false;
        break;
      default:
        for (auto& id : window(m, rng() % 7)) {
          EXPECT_TRUE(visited_this_round.insert(id).second) << id << " twice in a round";
          if (visited_this_round.size() == model.size()) visited_this_round.clear();
        }
    }
    // Everyone left has had a turn (an erase can complete the round): the next one begins.
    if (visited_this_round.size() == model.size()) visited_this_round.clear();
    ASSERT_EQ(m.size(), model.size());
    for (auto& [id, v] : model) {
      const auto* f = m.find(id);
      ASSERT_NE(f, nullptr);
      EXPECT_EQ(f->joined, v.first);
      EXPECT_EQ(f->peer != nullptr, v.second);
    }
    for (auto& x : peers) {
      auto it = model.find(x.id);
      EXPECT_EQ(x.member_slots, it != model.end() && it->second.second ? 1 : 0) << x.id;
    }
    expect_consistent(m);
  }
}

}  // namespace
