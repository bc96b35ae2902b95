// Three clustered TrackerCores wired through an in-memory bus that does what Redis pub/sub
// does for them (every event to every other instance, deliveries to one), with each event
// going through to_text / parse_cluster_event like the real link. Identity bindings go
// through an in-memory `meshcast:identities` hash with HSETNX's rule, as RedisClusterLink
// does. Deterministic time.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>

#include "signaling/cluster_event.hpp"
#include "signaling/identity_key.hpp"
#include "signaling/identity_proof.hpp"
#include "signaling/tracker_core.hpp"

using namespace meshcast::signaling;
using meshcast::ms_to_us;
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
  // A hello proving `key` over the nonce of this connection's welcome.
  json signed_hello(const std::string& i, ConnId c, const std::string& id, const IdentityKey& key) {
    std::string nonce;
    for (auto& j : inbox[{i, c}])
      if (j["type"] == "welcome") nonce = j["nonce"];
    return {{"type", "hello"},
            {"peer_id", id},
            {"role", "caller"},
            {"identity_key", key.public_key_b64()},
            {"identity_sig", key.sign_b64(hello_proof_message(nonce, id))}};
  }
  json hello_as(const std::string& i, ConnId c, const std::string& id, const IdentityKey& key) {
    return send(i, c, signed_hello(i, c, id, key));
  }
  // The link (re)connects, in this order: each instance writes its share (records published,
  // bindings offered with HSETNX); every instance then reads the stored bindings back.
  void reconnect(const std::vector<std::string>& order) {
    for (auto& i : order) {
      CoreOutput out;
      out.cluster = core(i).cluster_share();
      run(i, out);
    }
    for (auto& i : order) read_back_bindings(i);
  }
  void read_back_bindings(const std::string& i) {
    for (auto& [name, text] : redis_ids) {
      CoreOutput out;
      core(i).on_cluster(*parse_cluster_event(text), now, out);
      run(i, out);
    }
  }
  // Redis restarts empty; the instances in `back` reconnect (in that order).
  void restart_redis(const std::vector<std::string>& back) {
    redis_ids.clear();
    reconnect(back);
  }
  // A new instance joins: it reads the stored bindings and the others' records back.
  void add_instance(const std::string& i) {
    TrackerConfig cfg;
    cfg.instance_id = i;
    cores.emplace(i, std::make_unique<TrackerCore>(cfg));
    CoreOutput up;
    core(i).cluster_tick(now, true, up);
    run(i, up);
    read_back_bindings(i);
    for (auto& [id, c] : cores) {
      if (id == i) continue;
      for (auto& e : c->cluster_share()) {
        if (e.type == ClusterEventType::kIdentity) continue;  // those are in the hash
        CoreOutput out;
        core(i).on_cluster(*parse_cluster_event(to_text(e)), now, out);
        run(i, out);
      }
    }
  }
  void close(const std::string& i, ConnId c) {
    CoreOutput out;
    core(i).on_close(c, now, out);
    run(i, out);
  }
  // Once a second for `seconds`: heartbeats, timers; `dead` instances are silent.
  void tick(int seconds, const std::set<std::string>& dead = {}) {
    for (int s = 0; s < seconds; ++s) {
      now += ms_to_us(1000);
      for (auto& [id, c] : cores) {
        if (dead.count(id)) continue;
        CoreOutput out;
        c->cluster_tick(now, !link_down, out);
        c->on_timer(now, out);
        run(id, out, dead);
      }
    }
  }
  // Redis unreachable for everyone: ticks report the link down and nothing travels.
  void tick_link_down(int seconds) {
    for (int s = 0; s < seconds; ++s) {
      now += ms_to_us(1000);
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
      if (link_down) continue;  // the link drops what it cannot send
      // Records and frames first: HSETNX's answer comes after what was published meanwhile.
      std::stable_partition(out.cluster.begin(), out.cluster.end(), [](const ClusterEvent& e) {
        return e.type != ClusterEventType::kIdentity;
      });
      for (auto& e : out.cluster) {
        ++events;
        if (e.type == ClusterEventType::kIdentity) {
          // HSETNX: the first writer of a name publishes it (everyone, itself included, hears
          // it); a later one reads back what is stored (only it hears that).
          auto [it, fresh] = redis_ids.try_emplace(e.name, to_text(e));
          auto stored = parse_cluster_event(it->second);
          ASSERT_TRUE(stored) << it->second;
          for (auto& [id, c] : cores) {
            if (dead.count(id) || (!fresh && id != inst)) continue;
            CoreOutput o;
            c->on_cluster(*stored, now, o);
            work.emplace_back(id, std::move(o));
          }
          continue;
        }
        const std::string text = to_text(e);
        auto parsed = parse_cluster_event(text);
        ASSERT_TRUE(parsed) << parsed.error() << ": " << text;
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
  std::map<std::string, std::string> redis_ids;  // meshcast:identities: name -> binding
  bool link_down = false;                        // Redis unreachable: nothing travels
  ConnId next = 1;
  meshcast::TimeUs now = ms_to_us(1000);
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
    fresh.on_cluster(*parse_cluster_event(to_text(e)), ms_to_us(5000), out);
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

// ---- identity bindings across the cluster (docs/protocol.md, "Tracker cluster") ----------

TEST(TrackerCluster, ANameBoundOnOneInstanceNeedsItsKeyOnEveryOther) {
  Cluster cl({"a", "b", "c"}, /*resume_grace_ms=*/0);
  cl.tick(1);  // links up
  const auto alice = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  const ConnId a1 = cl.open("a");
  ASSERT_EQ(cl.hello_as("a", a1, "alice", alice)["type"], "hello_ok");
  for (auto i : {"a", "b", "c"}) EXPECT_EQ(cl.core(i).bound_key("alice"), alice.public_key_b64());
  EXPECT_EQ(cl.redis_ids.size(), 1u);
  cl.close("a", a1);  // alice is offline: the name is free of sessions, not of its key
  // Mallory picks another instance: her key, then no key at all.
  const ConnId m = cl.open("b");
  json r = cl.hello_as("b", m, "alice", mallory);
  EXPECT_EQ(r["code"], "id_taken") << r;
  EXPECT_EQ(cl.hello("b", m, "alice")["code"], "id_taken");
  for (auto i : {"a", "b", "c"}) EXPECT_FALSE(cl.core(i).has_peer("alice")) << i;
  // Alice herself is welcome on any instance.
  const ConnId a2 = cl.open("c");
  EXPECT_EQ(cl.hello_as("c", a2, "alice", alice)["type"], "hello_ok");
  for (auto i : {"a", "b", "c"}) EXPECT_EQ(cl.core(i).bound_key("alice"), alice.public_key_b64());
}

TEST(TrackerCluster, LaterInstancesAndARestartedRedisKnowTheBindings) {
  Cluster cl({"a", "b"}, /*resume_grace_ms=*/0);
  cl.tick(1);
  const auto alice = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  const ConnId a1 = cl.open("a");
  ASSERT_EQ(cl.hello_as("a", a1, "alice", alice)["type"], "hello_ok");
  cl.close("a", a1);
  // An instance started afterwards reads the binding back.
  cl.add_instance("d");
  EXPECT_EQ(cl.core("d").bound_key("alice"), alice.public_key_b64());
  const ConnId m = cl.open("d");
  EXPECT_EQ(cl.hello_as("d", m, "alice", mallory)["code"], "id_taken");
  // Redis restarts empty and only B (which merely heard of the binding) reconnects: B writes
  // it again, so an instance started after that still knows it.
  cl.restart_redis({"b"});
  ASSERT_EQ(cl.redis_ids.count("alice"), 1u);
  EXPECT_EQ(parse_cluster_event(cl.redis_ids["alice"])->key, alice.public_key_b64());
  cl.add_instance("e");
  EXPECT_EQ(cl.core("e").bound_key("alice"), alice.public_key_b64());
  const ConnId m2 = cl.open("e"), a2 = cl.open("e");
  EXPECT_EQ(cl.hello_as("e", m2, "alice", mallory)["code"], "id_taken");
  EXPECT_EQ(cl.hello_as("e", a2, "alice", alice)["type"], "hello_ok");
}

// Alice on A and Mallory on B ask for "bob" at the same moment: each instance has the name
// free. Both hellos wait for Redis; the claim Redis stores first wins on every instance,
// whichever order the instances hear of things, and the other is refused with id_taken.
TEST(TrackerCluster, TwoInstancesBindingOneNameAtOnceAgreeOnOneKey) {
  for (const bool b_first : {true, false}) {
    SCOPED_TRACE(b_first ? "B's claim reaches Redis first" : "A's claim reaches Redis first");
    Cluster cl({"a", "b", "c"});
    cl.tick(1);
    const auto alice = *IdentityKey::generate(), mallory = *IdentityKey::generate();
    const ConnId x = cl.open("a"), y = cl.open("b");
    CoreOutput oa, ob;
    cl.core("a").on_text(x, cl.signed_hello("a", x, "bob", alice).dump(), cl.now, oa);
    cl.core("b").on_text(y, cl.signed_hello("b", y, "bob", mallory).dump(), cl.now, ob);
    // Nobody is answered before the cluster decides, and nothing claims "bob" as a peer yet.
    EXPECT_TRUE(oa.send.empty());
    EXPECT_TRUE(ob.send.empty());
    ASSERT_EQ(oa.cluster.size(), 1u);
    EXPECT_EQ(oa.cluster[0].type, ClusterEventType::kIdentity);
    if (b_first) {
      cl.run("b", ob);
      cl.run("a", oa);
    } else {
      cl.run("a", oa);
      cl.run("b", ob);
    }
    const std::string win = b_first ? "b" : "a", lose = b_first ? "a" : "b";
    const ConnId won = b_first ? y : x, lost = b_first ? x : y;
    const std::string key = (b_first ? mallory : alice).public_key_b64();
    EXPECT_EQ(cl.last_of(win, won, "hello_ok")["peer_id"], "bob");
    EXPECT_TRUE(cl.last_of(lose, lost, "hello_ok").is_null());
    const json refusal = cl.last_of(lose, lost, "error");
    EXPECT_EQ(refusal["code"], "id_taken") << refusal;
    EXPECT_EQ(refusal["ref_type"], "hello") << refusal;
    EXPECT_EQ(cl.redis_ids.size(), 1u);
    for (auto i : {"a", "b", "c"}) {
      EXPECT_EQ(cl.core(i).bound_key("bob"), key) << i;
      EXPECT_TRUE(cl.core(i).has_peer("bob")) << i;
    }
    EXPECT_EQ(cl.core(win).local_peer_count(), 1u);
    EXPECT_EQ(cl.core(lose).local_peer_count(), 0u);
    // The loser's retry with its key is refused by its own instance from now on.
    EXPECT_EQ(cl.send(lose, lost, cl.signed_hello(lose, lost, "bob", b_first ? alice : mallory))
                  .value("code", ""),
              "duplicate_peer_id");
  }
}

// Redis is unreachable while A and B each bind "bob" to another key (each instance serves its
// own clients meanwhile). When the link is back, the binding Redis stores first stays
// everywhere and the peer that held the name under the other key is told and disconnected.
TEST(TrackerCluster, ANameBoundTwiceWhileRedisWasAwayKeepsOneAndTellsTheLoser) {
  Cluster cl({"a", "b", "c"});
  cl.tick(1);
  cl.link_down = true;
  cl.tick_link_down(1);
  const auto alice = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  const ConnId x = cl.open("a"), y = cl.open("b");
  ASSERT_EQ(cl.hello_as("a", x, "bob", alice)["type"], "hello_ok");
  ASSERT_EQ(cl.hello_as("b", y, "bob", mallory)["type"], "hello_ok");
  cl.link_down = false;
  cl.reconnect({"b", "a", "c"});  // B's share reaches Redis first
  const json told = cl.last_of("a", x, "error");
  EXPECT_EQ(told["code"], "id_taken") << told;
  EXPECT_NE(std::find(cl.closed.begin(), cl.closed.end(), std::pair<std::string, ConnId>{"a", x}),
            cl.closed.end());
  EXPECT_EQ(std::find(cl.closed.begin(), cl.closed.end(), std::pair<std::string, ConnId>{"b", y}),
            cl.closed.end());
  cl.tick(1);
  for (auto i : {"a", "b", "c"}) {
    EXPECT_EQ(cl.core(i).bound_key("bob"), mallory.public_key_b64()) << i;
    EXPECT_TRUE(cl.core(i).has_peer("bob")) << i;
    EXPECT_EQ(cl.core(i).peer_count(), 1u) << i;
  }
  EXPECT_EQ(cl.core("a").local_peer_count(), 0u);
  EXPECT_EQ(cl.core("b").local_peer_count(), 1u);
  // "bob" on A now routes to B's peer: a relay from A reaches it there.
  const ConnId z = cl.open("a");
  cl.hello("a", z, "zed");
  EXPECT_EQ(cl.send("a", z, {{"type", "call_invite"}, {"to", "bob"}})["type"], "call_invite_ok");
  EXPECT_FALSE(cl.last_of("b", y, "call_incoming").is_null());
}

// The link looked up but Redis never answered the claim: after cluster_bind_timeout_ms the
// instance binds the name itself rather than leave the client waiting.
TEST(TrackerCluster, AClaimWithoutAnAnswerIsBoundLocallyAfterTheTimeout) {
  Cluster cl({"a", "b"});
  cl.tick(1);
  cl.link_down = true;  // the instance has not noticed yet: its last tick saw the link up
  const auto alice = *IdentityKey::generate();
  const ConnId x = cl.open("a");
  EXPECT_TRUE(cl.hello_as("a", x, "alice", alice).is_null()) << "waits for the cluster";
  const ConnId again = cl.open("a");
  EXPECT_EQ(cl.hello_as("a", again, "alice", alice)["code"], "duplicate_peer_id");
  CoreOutput out;
  cl.core("a").on_timer(cl.now + ms_to_us(2'999), out);
  EXPECT_TRUE(out.send.empty());
  ASSERT_EQ(cl.core("a").next_deadline().value_or(0), cl.now + ms_to_us(3'000));
  cl.core("a").on_timer(cl.now + ms_to_us(3'000), out);
  cl.run("a", out);
  EXPECT_EQ(cl.last_of("a", x, "hello_ok")["peer_id"], "alice");
  EXPECT_EQ(cl.core("a").bound_key("alice"), alice.public_key_b64());
}

// An instance's records can leave a stream's member without a peer here: the owner's record
// stops naming its stream (it stays a member, its slot unlinked), another owner takes the
// stream over, then the first peer goes. Joins must skip that member, and no member slot may
// point at the removed peer (the member index caches peer pointers).
TEST(TrackerCluster, AMemberWithoutAPeerIsSkippedAndNoSlotDangles) {
  TrackerConfig cfg;
  cfg.instance_id = "a";
  cfg.neighbour_scan_limit = 2;  // the rotating window, not the whole audience
  cfg.broadcaster_until_viewers = 10;
  TrackerCore core(cfg);
  meshcast::TimeUs now = ms_to_us(1000);
  CoreOutput out;
  auto peer = [&](const std::string& id, std::vector<std::pair<std::string, int64_t>> streams) {
    ClusterEvent e;
    e.type = ClusterEventType::kPeer;
    e.instance = "b";
    e.peer.id = id;
    e.peer.role = "broadcaster";
    e.peer.upload_kbps = 100000;
    e.peer.streams = std::move(streams);
    core.on_cluster(e, now, out);
  };
  auto stream = [&](const std::string& owner) {
    ClusterEvent e;
    e.type = ClusterEventType::kStream;
    e.instance = "b";
    e.stream.name = "s";
    e.stream.owner = owner;
    e.stream.public_key = kKey;
    e.stream.secret_hash = "h";
    e.stream.by = owner;
    core.on_cluster(e, now, out);
  };
  peer("old", {});
  stream("old");
  peer("old", {});  // its record no longer names "s": still the owner and a member
  peer("new", {});
  stream("new");  // "new" takes the stream over
  ClusterEvent gone;
  gone.type = ClusterEventType::kPeerGone;
  gone.instance = "b";
  gone.name = "old";
  core.on_cluster(gone, now, out);
  ASSERT_FALSE(core.has_peer("old"));
  ASSERT_EQ(core.stream_count(), 1u);
  EXPECT_EQ((*core.api_overlay("s", ""))["viewers"], 1);  // "old" is a member, peerless

  std::vector<json> replies;
  for (int i = 0; i < 4; ++i) {
    const ConnId c = 10 + i;
    out = {};
    core.on_open(c, now, out);
    core.on_text(
        c, json{{"type", "hello"}, {"peer_id", "v" + std::to_string(i)}, {"role", "viewer"}}.dump(),
        now, out);
    core.on_text(c, json{{"type", "join"}, {"stream", "s"}, {"max", 16}}.dump(), now, out);
    for (auto& [to, text] : out.send)
      if (auto j = json::parse(text); to == c && j["type"] == "join_ok") replies.push_back(j);
  }
  ASSERT_EQ(replies.size(), 4u);
  for (auto& r : replies) {
    EXPECT_FALSE(names(r["neighbours"], "old")) << r.dump();
    EXPECT_TRUE(names(r["neighbours"], "new")) << r.dump();  // the owner, always looked up
  }
  // The viewers leave and the stream ends: every slot goes with its peer or its stream.
  for (int i = 0; i < 4; ++i) core.on_close(10 + i, now, out);
  now += ms_to_us(cfg.resume_grace_ms);
  core.on_timer(now, out);
  ClusterEvent end;
  end.type = ClusterEventType::kStreamEnd;
  end.instance = "b";
  end.name = "s";
  core.on_cluster(end, now, out);
  EXPECT_EQ(core.stream_count(), 0u);
  EXPECT_EQ(core.member_link_repairs(), 0u);
}
