// Three `meshcast tracker --cluster` instances share one redis-server that the test starts on
// 127.0.0.1 (a free port, its own temp dir, no persistence) and always stops. Real broadcast
// and watch processes on different instances find each other and play.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/integration/common/observe.hpp"
#include "tests/integration/common/test_processes.hpp"

namespace {

using meshcast::testing::Process;
using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using meshcast::testing::http_get;
using meshcast::testing::last_stats;
using meshcast::testing::metric;

class TrackerCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meshcast-cluster-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "redis");
    redis_port_ = meshcast::testing::free_port();
    ASSERT_TRUE(start_redis());
    for (const char* id : {"a", "b", "c"}) {
      ports_[id] = meshcast::testing::free_port();
      ASSERT_TRUE(start_tracker(id));
    }
    ASSERT_TRUE(cluster_formed(3));
  }
  void TearDown() override {
    procs_.clear();
    trackers_.clear();
    if (redis_) redis_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool start_redis() {
    redis_ = std::make_unique<Process>();
    if (!redis_->start(
            {"redis-server", "--port", std::to_string(redis_port_), "--bind", "127.0.0.1", "--dir",
             (dir_ / "redis").string(), "--save", "", "--appendonly", "no", "--daemonize", "no"},
            dir_ / ("redis-" + std::to_string(++redis_starts_))))
      return false;
    for (int i = 0; i < 250 && redis_->running(); ++i) {
      if (redis_->out().find("Ready to accept connections") != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "redis-server did not start: " << redis_->out() << redis_->err();
    return false;
  }
  bool start_tracker(const std::string& id) {
    auto& t = trackers_[id];
    t = std::make_unique<Process>();
    if (!t->start({MESHCAST_EXE, "tracker", "--listen", "127.0.0.1:" + std::to_string(ports_[id]),
                   "--cluster", "redis://127.0.0.1:" + std::to_string(redis_port_), "--instance-id",
                   id, "--log-level", "info"},
                  dir_ / ("tracker-" + id)))
      return false;
    for (int i = 0; i < 500; ++i) {
      if (t->out().find("listening on") != std::string::npos) return true;
      if (!t->running()) break;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "tracker " << id << " did not start: " << t->err();
    return false;
  }
  // Every instance counts `n` live instances (bounded wait).
  bool cluster_formed(long n, const std::vector<std::string>& ids = {"a", "b", "c"}) {
    for (int i = 0; i < 100; ++i) {
      bool all = true;
      for (auto& id : ids)
        all = all && metric(http_get(ports_[id], "/metrics"), "meshcast_cluster_instances") == n;
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    for (auto& id : ids) ADD_FAILURE() << id << ":\n" << http_get(ports_[id], "/metrics");
    return false;
  }
  // The broadcaster's stream is known on every instance (bounded wait).
  bool stream_everywhere() {
    for (int i = 0; i < 150; ++i) {
      bool all = true;
      for (auto& [id, port] : ports_)
        all = all && metric(http_get(port, "/metrics"), "meshcast_cluster_streams") == 1;
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  Process& spawn(std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), MESHCAST_EXE);
    procs_.push_back(std::make_unique<Process>());
    EXPECT_TRUE(procs_.back()->start(args, dir_ / name));
    return *procs_.back();
  }
  std::string url(const std::string& id) {
    return "ws://127.0.0.1:" + std::to_string(ports_[id]) + "/ws";
  }
  Process& broadcaster(const std::string& on, int seconds) {
    return spawn({"broadcast", "--tracker", url(on), "--stream", "live", "--id", "bc",
                  "--synthetic", "--bitrate", "300", "--quiet", "--log-level", "info", "--duration",
                  std::to_string(seconds)},
                 "bc");
  }
  // `on`: one instance ("b") or several ("b,c": the viewer picks in a random order).
  Process& viewer(const std::string& on, int n, int seconds) {
    std::string urls;
    for (std::size_t at = 0; at < on.size();) {
      const std::size_t comma = std::min(on.find(',', at), on.size());
      urls += (urls.empty() ? "" : ",") + url(on.substr(at, comma - at));
      at = comma + 1;
    }
    return spawn({"watch", "--tracker", urls, "--stream", "live", "--id", "v" + std::to_string(n),
                  "--out", "null", "--quiet", "--log-level", "info", "--duration",
                  std::to_string(seconds), "--stats", stats_file(n).string()},
                 "v" + std::to_string(n));
  }
  fs::path stats_file(int n) const { return dir_ / ("v" + std::to_string(n) + ".jsonl"); }
  uint64_t played(int n) const { return last_stats(stats_file(n)).value("played", uint64_t(0)); }
  bool all_playing(const std::vector<int>& viewers, std::chrono::seconds limit) {
    for (auto until = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(200ms)) {
      bool all = true;
      for (int n : viewers) all = all && played(n) > 0;
      if (all) return true;
    }
    return false;
  }
  std::string logs() {
    std::string s;
    for (auto& [id, t] : trackers_) s += "tracker " + id + ":\n" + t->err();
    return s;
  }
  void expect_clean_finish(Process& p, int n) {
    auto st = p.wait(60'000);
    ASSERT_TRUE(st) << "viewer " << n << " did not finish";
    EXPECT_EQ(*st, 0) << p.err();
    const json s = last_stats(stats_file(n));
    EXPECT_GE(s.value("continuity", 0.0), 0.99) << "viewer " << n << ": " << s.dump();
  }

  fs::path dir_;
  uint16_t redis_port_ = 0;
  int redis_starts_ = 0;
  std::unique_ptr<Process> redis_;
  std::map<std::string, uint16_t> ports_;
  std::map<std::string, std::unique_ptr<Process>> trackers_;
  std::vector<std::unique_ptr<Process>> procs_;
};

}  // namespace

// The broadcaster registers on A, the viewers on B and C: they learn the stream and each other
// through Redis, their offers and answers travel between instances, and both play.
TEST_F(TrackerCluster, ViewersOnOtherInstancesPlayABroadcastFromA) {
  Process& bc = broadcaster("a", 40);
  ASSERT_TRUE(stream_everywhere()) << bc.err() << logs();
  Process& v0 = viewer("b", 0, 25);
  Process& v1 = viewer("c", 1, 25);
  ASSERT_TRUE(all_playing({0, 1}, 25s)) << bc.err() << logs();
  // The relays crossed instances: B and C carry none of the broadcaster's connection.
  for (auto id : {"a", "b", "c"}) {
    const std::string m = http_get(ports_[id], "/metrics");
    EXPECT_EQ(metric(m, "meshcast_cluster_peers"), 3) << id << m;
    EXPECT_EQ(metric(m, "meshcast_peers_connected"), 1) << id << m;
    EXPECT_GT(metric(m, "meshcast_messages_total{type=\"relay\"}"), 0) << id << m;
    EXPECT_EQ(metric(m, "meshcast_cluster_rejected_events_total"), 0) << id << m;
  }
  // Any instance shows the whole cluster's overlay.
  json overlay = json::parse(http_get(ports_["b"], "/api/streams/live/overlay"), nullptr, false);
  ASSERT_TRUE(overlay.is_object());
  EXPECT_EQ(overlay["peers"].size(), 3u) << overlay.dump();
  expect_clean_finish(v0, 0);
  expect_clean_finish(v1, 1);
  bc.stop();
}

// Redis stops for a few seconds and comes back empty: no instance restarts, each writes its
// share again, so a fourth instance started afterwards reads the whole directory back from
// Redis and a viewer joining there finds A's broadcast.
TEST_F(TrackerCluster, RecoversFromARedisRestart) {
  Process& bc = broadcaster("a", 60);
  ASSERT_TRUE(stream_everywhere()) << bc.err() << logs();
  Process& v0 = viewer("b", 0, 45);
  ASSERT_TRUE(all_playing({0}, 25s)) << bc.err() << logs();
  redis_->stop();
  auto link_up = [&](const std::string& id) {
    return metric(http_get(ports_[id], "/metrics"), "meshcast_cluster_link_up");
  };
  for (int i = 0; i < 50 && link_up("a") != 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(link_up("a"), 0);
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(start_redis());
  // The records are back in the new, empty Redis without any tracker restarting.
  auto hlen = [&](const std::string& key) {
    std::string out;
    meshcast::testing::run_command(
        {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(redis_port_), "HLEN", key},
        dir_ / "redis-cli", &out);
    return out;
  };
  for (int i = 0; i < 100 && hlen("meshcast:peers:b") != "1\n"; ++i)
    std::this_thread::sleep_for(100ms);
  for (auto id : {"a", "b", "c"}) {
    for (int i = 0; i < 50 && link_up(id) != 1; ++i) std::this_thread::sleep_for(100ms);
    EXPECT_EQ(link_up(id), 1) << id;
  }
  EXPECT_EQ(hlen("meshcast:peers:a"), "1\n");
  EXPECT_EQ(hlen("meshcast:peers:b"), "1\n");
  EXPECT_EQ(hlen("meshcast:streams:a"), "1\n");
  ports_["d"] = meshcast::testing::free_port();
  ASSERT_TRUE(start_tracker("d"));
  ASSERT_TRUE(cluster_formed(4, {"a", "b", "c", "d"}));
  Process& v1 = viewer("d", 1, 20);
  ASSERT_TRUE(all_playing({1}, 25s)) << v1.err() << logs();
  EXPECT_EQ(metric(http_get(ports_["d"], "/metrics"), "meshcast_cluster_peers"), 3);
  expect_clean_finish(v1, 1);
  expect_clean_finish(v0, 0);
  EXPECT_NE(trackers_["a"]->err().find("redis: link lost"), std::string::npos) << logs();
  bc.stop();
}

// The viewers know instances B and C. The busier of the two is killed mid-stream (SIGKILL, no
// goodbye): its viewers reconnect to the other one and resume their sessions there, the
// others drop the dead instance, and playback stays continuous.
TEST_F(TrackerCluster, ViewersOfAKilledInstanceResumeOnAnother) {
  Process& bc = broadcaster("a", 60);
  ASSERT_TRUE(stream_everywhere()) << bc.err() << logs();
  Process& v0 = viewer("b,c", 0, 40);
  Process& v1 = viewer("b,c", 1, 40);
  ASSERT_TRUE(all_playing({0, 1}, 25s)) << bc.err() << logs();
  const long on_b = metric(http_get(ports_["b"], "/metrics"), "meshcast_peers_connected");
  const long on_c = metric(http_get(ports_["c"], "/metrics"), "meshcast_peers_connected");
  ASSERT_EQ(on_b + on_c, 2) << logs();
  const std::string victim = on_b >= on_c ? "b" : "c", survivor = victim == "b" ? "c" : "b";
  std::this_thread::sleep_for(3s);
  ::kill(-trackers_[victim]->pid(), SIGKILL);
  trackers_[victim]->wait(5000);
  ports_.erase(victim);

  // Everyone ends up on the survivor, the dead instance is dropped by A and the survivor, and
  // nobody was lost on the way: still three peers.
  std::string m;
  for (int i = 0; i < 150; ++i) {
    std::this_thread::sleep_for(100ms);
    m = http_get(ports_[survivor], "/metrics");
    if (metric(m, "meshcast_peers_connected") == 2 && metric(m, "meshcast_cluster_instances") == 2)
      break;
  }
  EXPECT_EQ(metric(m, "meshcast_peers_connected"), 2) << m << logs();
  EXPECT_EQ(metric(m, "meshcast_cluster_instances"), 2) << m;
  EXPECT_EQ(metric(m, "meshcast_cluster_peers"), 3) << m;
  // Resumed, not registered anew: the survivor saw no join for the viewers that moved.
  // (a counter that never counted is absent: -1)
  EXPECT_EQ(std::max(0L, metric(m, "meshcast_messages_total{type=\"join\"}")),
            on_b >= on_c ? on_c : on_b)
      << m;
  ASSERT_TRUE(cluster_formed(2, {"a", survivor}));
  expect_clean_finish(v0, 0);
  expect_clean_finish(v1, 1);
  bc.stop();
}

// Alice on B calls Bob on C: the invitation, the acceptance and the offer/answer travel
// between instances through Redis, and Opus flows both ways over the direct link.
TEST_F(TrackerCluster, ACallBetweenPeersOnTwoInstancesCarriesAudioBothWays) {
  auto call_args = [&](const std::string& on, const std::string& id) {
    return std::vector<std::string>{"call",
                                    "--tracker",
                                    url(on),
                                    "--id",
                                    id,
                                    "--audio-source",
                                    "test",
                                    "--audio-sink",
                                    "null",
                                    "--quiet",
                                    "--log-level",
                                    "info",
                                    "--stats",
                                    (dir_ / (id + ".jsonl")).string(),
                                    "--known-peers",
                                    (dir_ / (id + "-known")).string()};
  };
  auto bob_args = call_args("c", "bob");
  bob_args.push_back("--answer");
  Process& bob = spawn(bob_args, "bob");
  // Bob is known on every instance before Alice rings.
  bool known = false;
  for (int i = 0; i < 100 && !known; ++i) {
    known = metric(http_get(ports_["b"], "/metrics"), "meshcast_cluster_peers") == 1;
    if (!known) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(known) << bob.err() << logs();
  auto alice_args = call_args("b", "alice");
  for (const char* a : {"--to", "bob", "--duration", "6"}) alice_args.push_back(a);
  Process& alice = spawn(alice_args, "alice");
  auto a_st = alice.wait(60'000);
  ASSERT_TRUE(a_st) << "alice did not finish: " << alice.err();
  EXPECT_EQ(*a_st, 0) << alice.err() << logs();
  auto b_st = bob.wait(20'000);
  ASSERT_TRUE(b_st) << "bob did not finish: " << bob.err();
  EXPECT_EQ(*b_st, 0) << bob.err();
  // 20 ms frames for most of 6 s, decoded normally on both sides.
  for (const char* id : {"alice", "bob"}) {
    const json s = last_stats(dir_ / (std::string(id) + ".jsonl"));
    EXPECT_GT(s.value("frames_normal", 0), 150) << id << ": " << s.dump();
  }
  // The call signalling crossed instances: Alice's invitation entered at B, Bob's acceptance
  // at C, and both relayed offers and answers.
  const std::string mb = http_get(ports_["b"], "/metrics"), mc = http_get(ports_["c"], "/metrics");
  EXPECT_EQ(metric(mb, "meshcast_messages_total{type=\"call_invite\"}"), 1) << mb;
  EXPECT_EQ(metric(mc, "meshcast_messages_total{type=\"call_accept\"}"), 1) << mc;
  EXPECT_GT(metric(mb, "meshcast_messages_total{type=\"relay\"}"), 0) << mb;
  EXPECT_GT(metric(mc, "meshcast_messages_total{type=\"relay\"}"), 0) << mc;
}

// A private stream created on A: viewers on B and C without its view key, or with a wrong
// one, are refused (exit 3) by instances that never saw the key; the right key plays.
TEST_F(TrackerCluster, APrivateStreamsKeyIsEnforcedOnEveryInstance) {
  Process& bc = spawn({"broadcast", "--tracker", url("a"), "--stream", "live", "--id", "bc",
                       "--private", "--view-key", "s3cret-key", "--synthetic", "--bitrate", "300",
                       "--quiet", "--duration", "40"},
                      "bc");
  ASSERT_TRUE(stream_everywhere()) << bc.err() << logs();
  auto watch = [&](const std::string& on, const std::string& id, const std::string& key) {
    std::vector<std::string> args = {"watch",      "--tracker",
                                     url(on),      "--stream",
                                     "live",       "--id",
                                     id,           "--out",
                                     "null",       "--quiet",
                                     "--duration", "6",
                                     "--stats",    (dir_ / (id + ".jsonl")).string()};
    if (!key.empty()) {
      args.push_back("--view-key");
      args.push_back(key);
    }
    return &spawn(args, id);
  };
  Process* none = watch("b", "nokey", "");
  Process* wrong = watch("c", "wrongkey", "not-the-key");
  Process* right = watch("c", "rightkey", "s3cret-key");
  for (auto [p, want] : {std::pair{none, 3}, std::pair{wrong, 3}, std::pair{right, 0}}) {
    auto st = p->wait(60'000);
    ASSERT_TRUE(st) << p->err();
    EXPECT_EQ(*st, want) << p->err() << logs();
  }
  EXPECT_NE(none->err().find("private"), std::string::npos) << none->err();
  EXPECT_GT(last_stats(dir_ / "rightkey.jsonl").value("played", uint64_t(0)), 3u);
  // A stats file of a refused viewer shows nothing played (if it wrote one at all).
  EXPECT_EQ(last_stats(dir_ / "nokey.jsonl").value("played", uint64_t(0)), 0u);
  bc.stop();
}

// An id bound to an identity key on one instance is bound on all of them: "alice" broadcasts
// with key 1 through A and leaves; someone with key 2 asking for "alice" at B is refused
// (exit 3, id_taken) although B never saw alice connect; key 1 gets the id back at C.
TEST_F(TrackerCluster, AnIdBoundOnOneInstanceIsRefusedToAnotherKeyOnTheOthers) {
  const std::string key1 = (dir_ / "alice.key").string(), key2 = (dir_ / "mallory.key").string();
  auto broadcast = [&](const std::string& on, const std::string& key, const std::string& name) {
    return &spawn(
        {"broadcast", "--tracker", url(on), "--stream", "live", "--id", "alice", "--identity", key,
         "--synthetic", "--bitrate", "100", "--quiet", "--log-level", "info", "--duration", "4"},
        name);
  };
  auto cluster_peers = [&](long n) {
    for (int i = 0; i < 100; ++i) {
      bool all = true;
      for (auto& [id, port] : ports_)
        all = all && metric(http_get(port, "/metrics"), "meshcast_cluster_peers") == n;
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  // Exit 0: the hello was admitted and the stream created (a refusal exits with 3).
  Process* owner = broadcast("a", key1, "owner");
  auto st = owner->wait(30'000);
  ASSERT_TRUE(st) << owner->err();
  ASSERT_EQ(*st, 0) << owner->err() << logs();
  EXPECT_EQ(
      metric(http_get(ports_["a"], "/metrics"), "meshcast_messages_total{type=\"stream_create\"}"),
      1);
  // alice has left: no instance holds a session for the id, only the binding remains.
  ASSERT_TRUE(cluster_peers(0)) << logs();
  for (auto& [id, port] : ports_)
    EXPECT_EQ(metric(http_get(port, "/metrics"), "meshcast_identities"), 1) << id;

  Process* impostor = broadcast("b", key2, "impostor");
  st = impostor->wait(30'000);
  ASSERT_TRUE(st) << impostor->err();
  EXPECT_EQ(*st, 3) << impostor->err() << logs();
  EXPECT_NE(impostor->err().find("id_taken"), std::string::npos) << impostor->err();
  EXPECT_NE(impostor->err().find("another identity key"), std::string::npos) << impostor->err();
  EXPECT_EQ(metric(http_get(ports_["b"], "/metrics"), "meshcast_errors_total{code=\"id_taken\"}"),
            1);

  Process* back = broadcast("c", key1, "back");
  st = back->wait(30'000);
  ASSERT_TRUE(st) << back->err();
  EXPECT_EQ(*st, 0) << back->err() << logs();
  EXPECT_EQ(
      metric(http_get(ports_["c"], "/metrics"), "meshcast_messages_total{type=\"stream_create\"}"),
      1);

  // One binding in Redis, written by the instance that made it.
  std::string out;
  meshcast::testing::run_command({"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(redis_port_),
                                  "HKEYS", "meshcast:identities"},
                                 dir_ / "redis-cli", &out);
  EXPECT_EQ(out, "alice\n");
}
