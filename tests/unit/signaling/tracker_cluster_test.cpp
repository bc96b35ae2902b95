// Three clustered TrackerCores wired through an in-memory bus that does what Redis pub/sub
// does for them (every event to every other instance, deliveries to one), with each event
// going through to_text / parse_cluster_event like the real link. Deterministic time.
#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "signaling/cluster_event.hpp"
#include "signaling/tracker_core.hpp"

using namespace meshcast::signaling;
using nlohmann::json;

namespace {

const std::string kKey(64, 'b');

class Cluster {
 public:
  explicit Cluster(std::vector<std::string> ids, int64_t resume_grace_ms = 30'000) {
    for (auto& id : ids) {
      TrackerConfig cfg;
      cfg.instance_id = id;
      cfg.resume_grace_ms = resume_grace_ms;
      cores.emplace(id, std::make_unique<TrackerCore>(cfg));
    }
  }
  TrackerCore& core(const std::string& i) { return *cores.at(i); }

  // A client connection on instance `i`; its frames land in inbox[{i, conn}].
  ConnId open(const std::string& i) {
    const ConnId c = next++;
    CoreOutput out;
    core(i).on_open(c, now, out);
    run(i, out);
    return c;
  }
  json send(const std::string& i, ConnId c, const json& msg) {
    CoreOutput out;
    core(i).on_text(c, msg.dump(), now, out);
    const std::size_t before = inbox[{i, c}].size();
    run(i, out);
    auto& box = inbox[{i, c}];
    return box.size() > before ? box[before] : json();
  }
  json hello(const std::string& i, ConnId c, const std::string& id, json extra = json::object()) {
    extra["type"] = "hello";
    extra["peer_id"] = id;
    if (!extra.contains("role")) extra["role"] = "viewer";
    return send(i, c, extra);
  }
  void close(const std::string& i, ConnId c) {
    CoreOutput out;
    core(i).on_close(c, now, out);
    run(i, out);
  }
  // Once a second for `seconds`: heartbeats, timers; `dead` instances are silent.
  void tick(int seconds, const std::set<std::string>& dead = {}) {
    for (int s = 0; s < seconds; ++s) {
      now += 1000;
      for (auto& [id, c] : cores) {
        if (dead.count(id)) continue;
        CoreOutput out;
        c->cluster_tick(now, true, out);
        c->on_timer(now, out);
        run(id, out, dead);
      }
    }
  }
  // Redis unreachable for everyone: ticks report the link down and nothing travels.
  void tick_link_down(int seconds) {
    for (int s = 0; s < seconds; ++s) {
      now += 1000;
      for (auto& [id, c] : cores) {
        CoreOutput out;
        c->cluster_tick(now, false, out);
        EXPECT_TRUE(out.cluster.empty()) << id;
      }
    }
  }
  bool got(const std::string& i, ConnId c, const std::string& type) {
    for (auto& j : inbox[{i, c}])
      if (j["type"] == type) return true;
    return false;
  }
  json last_of(const std::string& i, ConnId c, const std::string& type) {
    json found;
    for (auto& j : inbox[{i, c}])
      if (j["type"] == type) found = j;
    return found;
  }

  // Frames of `from`'s output go to its inboxes; its cluster events travel as text to the
  // other instances (bounded: a loop of events would be a bug, not a reason to spin).
  void run(const std::string& from, CoreOutput& first, const std::set<std::string>& dead = {}) {
    std::deque<std::pair<std::string, CoreOutput>> work;
    work.emplace_back(from, std::move(first));
    for (int steps = 0; !work.empty(); ++steps) {
      ASSERT_LT(steps, 100'000) << "cluster events do not settle";
      auto [inst, out] = std::move(work.front());
      work.pop_front();
      for (auto& [conn, text] : out.send) inbox[{inst, conn}].push_back(json::parse(text));
      for (auto c : out.close) closed.emplace_back(inst, c);
      for (auto& e : out.cluster) {
        ++events;
        const std::string text = to_text(e);
        std::string why;
        auto parsed = parse_cluster_event(text, &why);
        ASSERT_TRUE(parsed) << why << ": " << text;
        for (auto& [id, c] : cores) {
          if (id == inst || dead.count(id)) continue;
          if (e.type == ClusterEventType::kDeliver && id != e.target) continue;
          CoreOutput o;
          c->on_cluster(*parsed, now, o);
          work.emplace_back(id, std::move(o));
        }
      }
    }
  }

  std::map<std::string, std::unique_ptr<TrackerCore>> cores;
  std::map<std::pair<std::string, ConnId>, std::vector<json>> inbox;
  std::vector<std::pair<std::string, ConnId>> closed;
  ConnId next = 1;
  int64_t now = 1000;
  int events = 0;
};

bool names(const json& neighbours, const std::string& id) {
  for (auto& n : neighbours)
    if (n["peer_id"] == id) return true;
  return false;
}

}  // namespace

TEST(TrackerCluster, ViewersOnOtherInstancesJoinAndRelayWithTheBroadcaster) {
  Cluster cl({"a", "b", "c"});
  const ConnId bc = cl.open("a"), v1 = cl.open("b"), v2 = cl.open("c");
  ASSERT_EQ(cl.hello("a", bc, "bc", {{"role", "broadcaster"}, {"upload_kbps", 5000}})["type"],
            "hello_ok");
  ASSERT_EQ(
      cl.send("a", bc, {{"type", "stream_create"}, {"name", "live"}, {"public_key", kKey}})["type"],
      "stream_create_ok");
  cl.hello("b", v1, "v1");
  cl.hello("c", v2, "v2");
  // Every instance knows the stream and both remote peers.
  for (auto i : {"a", "b", "c"}) {
    EXPECT_EQ(cl.core(i).stream_count(), 1u) << i;
    EXPECT_EQ(cl.core(i).peer_count(), 3u) << i;
    EXPECT_EQ(cl.core(i).local_peer_count(), 1u) << i;
  }
  json j1 = cl.send("b", v1, {{"type", "join"}, {"stream", "live"}});
  ASSERT_EQ(j1["type"], "join_ok") << j1;
  EXPECT_EQ(j1["owner"], "bc");
  EXPECT_TRUE(names(j1["neighbours"], "bc")) << j1;
  json j2 = cl.send("c", v2, {{"type", "join"}, {"stream", "live"}});
  ASSERT_EQ(j2["type"], "join_ok") << j2;
  EXPECT_TRUE(names(j2["neighbours"], "v1")) << "a viewer on another instance is a candidate";

  // An offer from B reaches the broadcaster's socket on A, its answer comes back to B.
  EXPECT_EQ(cl.send("b", v1,
                    {{"type", "relay"},
                     {"id", 1},
                     {"to", "bc"},
                     {"kind", "offer"},
                     {"payload", {{"sdp", "x"}}}})["type"],
            "relay_ok");
  json offer = cl.last_of("a", bc, "relay");
  EXPECT_EQ(offer["from"], "v1");
  EXPECT_EQ(offer["payload"]["sdp"], "x");
  cl.send("a", bc, {{"type", "relay"}, {"to", "v1"}, {"kind", "answer"}, {"payload", 1}});
  EXPECT_EQ(cl.last_of("b", v1, "relay")["from"], "bc");
  // Two viewers on B and C relay to each other through the cluster, too.
  cl.send("c", v2, {{"type", "relay"}, {"to", "v1"}, {"kind", "offer"}, {"payload", 2}});
  EXPECT_EQ(cl.last_of("b", v1, "relay")["from"], "v2");

  // The owner ends the stream on A: the viewers on B and C hear it from their own instance.
  cl.send("a", bc, {{"type", "stream_end"}, {"name", "live"}});
  EXPECT_TRUE(cl.got("b", v1, "stream_ended"));
  EXPECT_TRUE(cl.got("c", v2, "stream_ended"));
  for (auto i : {"a", "b", "c"}) EXPECT_EQ(cl.core(i).stream_count(), 0u) << i;
}

TEST(TrackerCluster, PeersWithoutASharedStreamCannotRelayAcrossInstances) {
  Cluster cl({"a", "b"});
  const ConnId x = cl.open("a"), y = cl.open("b");
  cl.hello("a", x, "x");
  cl.hello("b", y, "y");
  EXPECT_EQ(cl.send("a", x, {{"type", "relay"}, {"to", "y"}, {"kind", "offer"}})["code"],
            "not_related");
  EXPECT_EQ(cl.send("a", x, {{"type", "relay"}, {"to", "nobody"}, {"kind", "offer"}})["code"],
            "peer_offline");
  EXPECT_FALSE(cl.got("b", y, "relay"));
}

TEST(TrackerCluster, APrivateStreamKeyIsCheckedOnEveryInstance) {
  Cluster cl({"a", "b"});
  const ConnId bc = cl.open("a"), ok = cl.open("b"), thief = cl.open("b");
  cl.hello("a", bc, "bc");
  cl.send("a", bc,
          {{"type", "stream_create"},
           {"name", "club"},
           {"public_key", kKey},
           {"private", true},
           {"view_key", "members-only-key"}});
  cl.hello("b", ok, "ok");
  cl.hello("b", thief, "thief");
  EXPECT_EQ(cl.send("b", thief, {{"type", "join"}, {"stream", "club"}})["code"], "access_denied");
  EXPECT_EQ(cl.send("b", thief,
                    {{"type", "join"}, {"stream", "club"}, {"view_key", "guessing!"}})["code"],
            "access_denied");
  EXPECT_EQ(cl.send("b", thief, {{"type", "stream_list"}})["streams"].size(), 0u);
  EXPECT_EQ(cl.core("b").api_streams("").at("streams").size(), 0u);
  EXPECT_EQ(
      cl.send("b", ok,
              {{"type", "join"}, {"stream", "club"}, {"view_key", "members-only-key"}})["type"],
      "join_ok");
  // The owner rotates the key on A: the member on B loses access there.
  cl.send("a", bc, {{"type", "stream_update"}, {"name", "club"}, {"view_key", "new-key-1234"}});
  EXPECT_TRUE(cl.got("b", ok, "stream_access_revoked"));
  EXPECT_EQ(cl.send("b", ok, {{"type", "relay"}, {"to", "bc"}, {"kind", "offer"}})["code"],
            "not_related");
  // No instance keeps the key itself, and a secret holder can still end the stream.
  for (auto& e : cl.core("a").cluster_share())
    EXPECT_EQ(to_text(e).find("new-key-1234"), std::string::npos);
}

TEST(TrackerCluster, ACallBetweenInstances) {
  Cluster cl({"a", "b"});
  const ConnId x = cl.open("a"), y = cl.open("b");
  cl.hello("a", x, "x");
  cl.hello("b", y, "y");
  json inv = cl.send("a", x, {{"type", "call_invite"}, {"to", "y"}});
  ASSERT_EQ(inv["type"], "call_invite_ok") << inv;
  const std::string cid = inv["call_id"];
  ASSERT_EQ(cl.last_of("b", y, "call_incoming")["call_id"], cid);
  ASSERT_EQ(cl.send("b", y, {{"type", "call_accept"}, {"call_id", cid}})["type"], "call_accept_ok");
  EXPECT_EQ(cl.last_of("a", x, "call_accepted")["call_id"], cid);
  // Accepted: the two may relay to each other through the cluster.
  cl.send("b", y, {{"type", "relay"}, {"to", "x"}, {"kind", "offer"}, {"payload", 3}});
  EXPECT_EQ(cl.last_of("a", x, "relay")["from"], "y");
  cl.send("a", x, {{"type", "call_hangup"}, {"call_id", cid}});
  EXPECT_EQ(cl.last_of("b", y, "call_ended")["reason"], "hangup");
  EXPECT_EQ(cl.core("a").call_count(), 0u);
  EXPECT_EQ(cl.core("b").call_count(), 0u);
  EXPECT_EQ(cl.send("b", y, {{"type", "relay"}, {"to", "x"}, {"kind", "offer"}})["code"],
            "not_related");
}

TEST(TrackerCluster, ADeadInstanceIsDroppedAndItsPeersResumeElsewhere) {
  Cluster cl({"a", "b", "c"});
  const ConnId bc = cl.open("a"), v = cl.open("a"), w = cl.open("b");
  cl.hello("a", bc, "bc");
  cl.send("a", bc, {{"type", "stream_create"}, {"name", "live"}, {"public_key", kKey}});
  const std::string token = cl.hello("a", v, "v")["token"];
  cl.hello("b", w, "w");
  cl.send("a", v, {{"type", "join"}, {"stream", "live"}});
  cl.send("b", w, {{"type", "join"}, {"stream", "live"}});
  cl.tick(2);
  // A goes silent. Before its timeout, its viewer resumes on C with its token.
  cl.tick(2, {"a"});
  const ConnId v2 = cl.open("c");
  json r = cl.send("c", v2,
                   {{"type", "hello"}, {"peer_id", "v"}, {"role", "viewer"}, {"resume", token}});
  ASSERT_EQ(r["type"], "hello_ok") << r;
  EXPECT_EQ(r["resumed"], true);
  EXPECT_EQ(r["streams"], json::array({"live"}));
  // A resume with a wrong token is refused on any instance.
  const ConnId evil = cl.open("b");
  EXPECT_EQ(
      cl.send("b", evil,
              {{"type", "hello"}, {"peer_id", "v"}, {"role", "viewer"}, {"resume", "00"}})["code"],
      "bad_resume");
  // After the timeout A's remaining peers are gone everywhere, and its stream with them.
  cl.tick(6, {"a"});
  for (auto i : {"b", "c"}) {
    EXPECT_FALSE(cl.core(i).has_peer("bc")) << i;
    EXPECT_TRUE(cl.core(i).has_peer("v")) << i;
    EXPECT_EQ(cl.core(i).stream_count(), 0u) << i;
    EXPECT_EQ(cl.core(i).live_instances(), 2u) << i;
  }
  EXPECT_TRUE(cl.got("b", w, "stream_ended"));
}

TEST(TrackerCluster, ARecordReadBackRebuildsTheMirror) {
  // What an instance stores is enough for a new one to know the whole directory (a restart of
  // an instance, or Redis restarted and every instance writing its share again).
  Cluster cl({"a", "b"});
  const ConnId bc = cl.open("a"), v = cl.open("a");
  cl.hello("a", bc, "bc");
  cl.send("a", bc, {{"type", "stream_create"}, {"name", "live"}, {"public_key", kKey}});
  cl.hello("a", v, "v");
  cl.send("a", v, {{"type", "join"}, {"stream", "live"}});
  TrackerConfig cfg;
  cfg.instance_id = "fresh";
  TrackerCore fresh(cfg);
  CoreOutput out;
  for (auto& e : cl.core("a").cluster_share())
    fresh.on_cluster(*parse_cluster_event(to_text(e)), 5000, out);
  EXPECT_EQ(fresh.stream_count(), 1u);
  EXPECT_EQ(fresh.peer_count(), 2u);
  auto overlay = fresh.api_overlay("live", "");
  ASSERT_TRUE(overlay);
  EXPECT_EQ((*overlay)["peers"].size(), 2u);
  EXPECT_EQ((*overlay)["viewers"], 1);
}

TEST(TrackerCluster, ARedisOutageJudgesNobodyDead) {
  Cluster cl({"a", "b"});
  const ConnId x = cl.open("a"), y = cl.open("b");
  cl.hello("a", x, "x");
  cl.hello("b", y, "y");
  cl.tick(2);
  cl.tick_link_down(20);  // far beyond instance_timeout_ms
  cl.tick(1);
  for (auto i : {"a", "b"}) {
    EXPECT_TRUE(cl.core(i).has_peer("x")) << i;
    EXPECT_TRUE(cl.core(i).has_peer("y")) << i;
    EXPECT_EQ(cl.core(i).live_instances(), 2u) << i;
  }
  // Once the link is back, a really silent instance is dropped after the usual timeout.
  cl.tick(7, {"b"});
  EXPECT_FALSE(cl.core("a").has_peer("y"));
  EXPECT_EQ(cl.core("a").live_instances(), 1u);
}

TEST(TrackerCluster, ABroadcasterThatMovesKeepsItsStream) {
  Cluster cl({"a", "b", "c"});
  const ConnId bc = cl.open("a"), v = cl.open("c");
  const std::string token = cl.hello("a", bc, "bc")["token"];
  cl.send("a", bc, {{"type", "stream_create"}, {"name", "live"}, {"public_key", kKey}});
  cl.hello("c", v, "v");
  cl.send("c", v, {{"type", "join"}, {"stream", "live"}});
  // Its connection to A drops; it comes back through B with its token while A is alive.
  cl.close("a", bc);
  const ConnId again = cl.open("b");
  json r =
      cl.send("b", again,
              {{"type", "hello"}, {"peer_id", "bc"}, {"role", "broadcaster"}, {"resume", token}});
  ASSERT_EQ(r["resumed"], true) << r;
  // A let go of it (its stored records are deleted), and nobody took that for an end.
  EXPECT_EQ(cl.core("a").local_peer_count(), 0u);
  for (auto i : {"a", "b", "c"}) {
    EXPECT_EQ(cl.core(i).stream_count(), 1u) << i;
    EXPECT_TRUE(cl.core(i).has_peer("bc")) << i;
  }
  EXPECT_FALSE(cl.got("c", v, "stream_ended"));
  cl.send("c", v, {{"type", "relay"}, {"to", "bc"}, {"kind", "offer"}, {"payload", 4}});
  EXPECT_EQ(cl.last_of("b", again, "relay")["from"], "v");
  // It is B's now: ending it there ends it everywhere.
  cl.send("b", again, {{"type", "stream_end"}, {"name", "live"}});
  EXPECT_TRUE(cl.got("c", v, "stream_ended"));
  for (auto i : {"a", "b", "c"}) EXPECT_EQ(cl.core(i).stream_count(), 0u) << i;
}
