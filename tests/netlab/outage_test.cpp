// The tracker is not a single point of failure for a running stream, across real NATs: the
// lab's tracker is killed (SIGKILL, no goodbye) for 30 s while a broadcaster behind a full
// cone NAT streams to viewers behind every kind of router, some of whose links relay through
// coturn (which stays up). The mesh links carry the stream meanwhile; every client retries
// the tracker (and says so), and all register again with the restarted, empty tracker.
// Timings (how long re-registration took) are printed, never asserted.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/netlab/lab_test.hpp"

using meshcast::netlab::LabHost;
using meshcast::netlab::NetLab;
using meshcast::netlab::RouterKind;
using meshcast::testing::Process;
using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int kBitrateKbps = 300;
// Upper bounds only: the test ends the broadcast itself (SIGINT, a normal stop), and the
// viewers end with it (the tracker tells them the stream ended).
constexpr int kMaxSeconds = 150;
constexpr auto kOutage = 30s;

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Every JSON line of a --stats file.
std::vector<json> stats_lines(const fs::path& path) {
  std::vector<json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object()) lines.push_back(std::move(j));
  }
  return lines;
}

json last_stats(const fs::path& path) {
  auto lines = stats_lines(path);
  return lines.empty() ? json::object() : lines.back();
}

// Seconds from `since` to the first stats line showing a tracker retry (-1: none).
double retrying_after(const fs::path& path, double since) {
  for (const auto& j : stats_lines(path))
    if (j.value("t", 0.0) > since && j.value("tracker_retries", 0) > 0)
      return j.value("t", 0.0) - since;
  return -1;
}

struct Viewer {
  std::string id;
  RouterKind kind;
  const LabHost* host = nullptr;
  std::unique_ptr<Process> proc = std::make_unique<Process>();
  json at_kill = json::object();            // its stats line when the tracker died
  uint64_t played_mid = 0, played_end = 0;  // halfway through the outage, and at its end
};

class NetlabOutage : public meshcast::netlab::LabTest {
 protected:
  void stop_processes() override {
    for (auto& v : viewers_) v.proc->stop();
    bc_.stop();
  }

  std::vector<std::string> servers(const LabHost& h) const { return lab_->server_args(h); }
  fs::path stats_path(const std::string& id) const { return lab_->dir() / id / "stats.jsonl"; }

  // Not --quiet: the status line (one line a second on a pipe) is part of what is tested.
  void start_broadcaster(const LabHost& h) {
    auto args = servers(h);
    args.insert(args.begin(), {MESHCAST_EXE, "broadcast"});
    args.insert(args.end(), {"--stream", "live", "--id", "bc", "--synthetic", "--bitrate",
                             std::to_string(kBitrateKbps), "--log-level", "info", "--duration",
                             std::to_string(kMaxSeconds), "--stats", stats_path("bc").string()});
    ASSERT_TRUE(lab_->spawn(bc_, h.ns, args, "bc/broadcast"));
  }
  void start_viewer(Viewer& v) {
    auto args = servers(*v.host);
    args.insert(args.begin(), {MESHCAST_EXE, "watch"});
    args.insert(args.end(), {"--stream", "live", "--id", v.id, "--out", "null", "--duration",
                             std::to_string(kMaxSeconds), "--stats", stats_path(v.id).string()});
    ASSERT_TRUE(lab_->spawn(*v.proc, v.host->ns, args, v.id + "/watch"));
  }
  uint64_t played(const Viewer& v) const {
    return last_stats(stats_path(v.id)).value("played", uint64_t(0));
  }
  // Waits (bounded) until each of `vs` has played at least `segments`.
  bool wait_playing(const std::vector<Viewer*>& vs, uint64_t segments, std::chrono::seconds limit) {
    for (auto until = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(200ms)) {
      bool all = true;
      for (auto* v : vs) all = all && played(*v) >= segments;
      if (all) return true;
    }
    return false;
  }

  void run_outage(bool silent);

  Process bc_;
  std::vector<Viewer> viewers_;
};

}  // namespace

// Broadcaster behind a full cone NAT, five viewers: public, full cone, port-restricted and two
// behind symmetric NATs (their links to the port-restricted and symmetric peers can only go
// through coturn). Once all play, the tracker dies for 30 s and comes back empty on the same
// address. Then a sixth viewer joins: the directory has the stream again. `silent`: its host
// also drops every packet meanwhile, so nobody gets a FIN or a refused connect.
void NetlabOutage::run_outage(bool silent) {
  auto added = lab_->add_host("bc", RouterKind::kFullCone);
  ASSERT_TRUE(added) << added.error();
  const LabHost* b = *added;
  const std::vector<std::pair<std::string, RouterKind>> specs = {
      {"pub", RouterKind::kPublic},        {"fc", RouterKind::kFullCone},
      {"pr", RouterKind::kPortRestricted}, {"sym1", RouterKind::kSymmetric},
      {"sym2", RouterKind::kSymmetric},    {"late", RouterKind::kPortRestricted}};
  viewers_.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    viewers_[i].id = specs[i].first;
    viewers_[i].kind = specs[i].second;
    auto host = lab_->add_host(specs[i].first, specs[i].second);
    ASSERT_TRUE(host) << host.error();
    viewers_[i].host = *host;
  }
  Viewer& late = viewers_.back();
  std::vector<Viewer*> early;
  for (size_t i = 0; i + 1 < viewers_.size(); ++i) early.push_back(&viewers_[i]);

  start_broadcaster(*b);
  ASSERT_TRUE(lab_->wait_for_tracker_peers(1, 15000)) << bc_.err();
  for (auto* v : early) start_viewer(*v);
  ASSERT_TRUE(wait_playing(early, 1, 30s)) << bc_.err();
  std::this_thread::sleep_for(2s);  // a few segments over the links each viewer settled on

  // The outage.
  if (silent) {
    auto cut = lab_->set_tracker_reachable(false);
    ASSERT_TRUE(cut) << cut.error();
  }
  ASSERT_TRUE(lab_->kill_tracker());
  const double killed_at = now_s();
  for (auto* v : early) v->at_kill = last_stats(stats_path(v->id));
  std::this_thread::sleep_for(kOutage / 2);
  for (auto* v : early) v->played_mid = played(*v);
  std::this_thread::sleep_for(kOutage / 2);
  for (auto* v : early) v->played_end = played(*v);
  // Still retrying (not given up) and saying so, in the stats and on the status line.
  for (auto* v : early) {
    EXPECT_GT(last_stats(stats_path(v->id)).value("tracker_retries", 0), 0) << v->id;
    EXPECT_NE(v->proc->err().find("tracker lost, retry"), std::string::npos) << v->id;
  }
  EXPECT_GT(last_stats(stats_path("bc")).value("tracker_retries", 0), 0);
  EXPECT_NE(bc_.err().find("tracker lost, retry"), std::string::npos);
  ASSERT_TRUE(bc_.running()) << "the broadcaster gave up during the outage:\n" << bc_.err();

  if (silent) {
    auto reachable = lab_->set_tracker_reachable(true);
    ASSERT_TRUE(reachable) << reachable.error();
  }
  auto restarted = lab_->restart_tracker();
  ASSERT_TRUE(restarted) << restarted.error();
  const double restarted_at = now_s();

  // The restarted tracker learns every peer and the stream again (its --stats lines, one a
  // second), and each client's stats say it is connected again.
  const size_t want_peers = 1 + early.size();
  double registered_at = 0;
  std::map<std::string, double> reconnected_at;
  for (auto until = std::chrono::steady_clock::now() + 40s;
       std::chrono::steady_clock::now() < until &&
       (registered_at == 0 || reconnected_at.size() < want_peers);
       std::this_thread::sleep_for(200ms)) {
    for (const auto& j : stats_lines(lab_->dir() / "tracker_stats.jsonl")) {
      if (registered_at == 0 && j.value("t", 0.0) > restarted_at &&
          j.value("peers", size_t(0)) >= want_peers && j.value("streams", 0) >= 1)
        registered_at = j.value("t", 0.0);
    }
    std::vector<std::string> ids = {"bc"};
    for (auto* v : early) ids.push_back(v->id);
    for (const auto& id : ids) {
      if (reconnected_at.count(id)) continue;
      for (const auto& j : stats_lines(stats_path(id)))
        if (j.value("t", 0.0) > restarted_at && j.value("tracker_retries", -1) == 0) {
          reconnected_at[id] = j.value("t", 0.0);
          break;
        }
    }
  }
  EXPECT_GT(registered_at, 0) << "the restarted tracker never saw " << want_peers
                              << " peers and the stream";
  EXPECT_EQ(reconnected_at.size(), want_peers);

  // A viewer that was not there before finds the stream in the new tracker's directory.
  start_viewer(late);
  const double late_started_at = now_s();
  double late_playing_at = 0;
  if (wait_playing({&late}, 1, 30s)) {
    late_playing_at = now_s();
    EXPECT_TRUE(wait_playing({&late}, 10, 20s)) << late.proc->err();
  } else {
    ADD_FAILURE() << "a viewer joining after the restart never played:\n" << late.proc->err();
  }

  // The broadcaster is still live; SIGINT is its normal stop (exit 0 unless it failed).
  ASSERT_TRUE(bc_.running()) << bc_.err();
  const uint64_t segments = last_stats(stats_path("bc")).value("segments", uint64_t(0));
  kill(-bc_.pid(), SIGINT);
  auto bst = bc_.wait(15'000);
  ASSERT_TRUE(bst) << "the broadcaster did not stop";
  EXPECT_EQ(*bst, 0) << bc_.err();
  EXPECT_NE(bc_.err().find("registered again"), std::string::npos) << bc_.err();

  std::printf("outage %.1f s; tracker restarted, all %zu peers and the stream back after %.1f s\n",
              restarted_at - killed_at, want_peers,
              registered_at > 0 ? registered_at - restarted_at : -1.0);
  std::printf(
      "broadcaster: %llu segments, retrying %.1f s after the kill, reconnected %.1f s "
      "after the restart\n",
      (unsigned long long)segments, retrying_after(stats_path("bc"), killed_at),
      reconnected_at.count("bc") ? reconnected_at["bc"] - restarted_at : -1.0);
  int with_partners = 0;
  for (auto& v : viewers_) {
    // Viewers end with the stream: the tracker they joined again tells them.
    auto st = v.proc->wait(20'000);
    EXPECT_TRUE(st) << v.id << " did not end with the stream";
    if (st) {
      EXPECT_EQ(*st, 0) << v.id << ": " << v.proc->err();
    }
    const json s = last_stats(stats_path(v.id));
    if (&v == &late) {
      std::printf(
          "%-4s %-15s | joined %.1f s after the restart, first played %.1f s later | "
          "partners %d | played %llu missed %llu\n",
          v.id.c_str(), to_string(v.kind), late_started_at - restarted_at,
          late_playing_at > 0 ? late_playing_at - late_started_at : -1.0, s.value("partners", 0),
          (unsigned long long)s.value("played", uint64_t(0)),
          (unsigned long long)s.value("missed", uint64_t(0)));
      continue;
    }
    const int partners = v.at_kill.value("partners", 0);
    std::printf(
        "%-4s %-15s | partners at kill %d (direct %d relayed %d) | played at kill %4llu, "
        "+15 s %4llu, +30 s %4llu | end: played %4llu missed %3llu continuity %.4f | "
        "retrying after %.1f s, reconnected %.1f s after the restart\n",
        v.id.c_str(), to_string(v.kind), partners, v.at_kill.value("links_direct", 0),
        v.at_kill.value("links_relayed", 0),
        (unsigned long long)v.at_kill.value("played", uint64_t(0)),
        (unsigned long long)v.played_mid, (unsigned long long)v.played_end,
        (unsigned long long)s.value("played", uint64_t(0)),
        (unsigned long long)s.value("missed", uint64_t(0)), s.value("continuity", 0.0),
        retrying_after(stats_path(v.id), killed_at),
        reconnected_at.count(v.id) ? reconnected_at[v.id] - restarted_at : -1.0);
    if (partners == 0) continue;  // nothing to play on without the tracker
    ++with_partners;
    const uint64_t at_kill = v.at_kill.value("played", uint64_t(0));
    EXPECT_GT(v.played_mid, at_kill) << v.id << " stalled in the first half of the outage";
    EXPECT_GT(v.played_end, v.played_mid) << v.id << " stalled in the second half";
    EXPECT_GE(s.value("continuity", 0.0), 0.99) << v.id << ": " << s.dump();
  }
  EXPECT_GE(with_partners, int(early.size()) - 1)
      << "most viewers had no partner when the tracker died: the test proves little";
}

// The tracker process is killed: its kernel closes the connections (FIN) and refuses connects
// until it is back, so everyone knows at once.
TEST_F(NetlabOutage, StreamSurvivesA30sTrackerOutageAcrossNats) { run_outage(false); }

// The tracker's host vanishes (a crash, a cut cable): no FIN, no RST, connects unanswered. The
// clients must find out from their keepalives that the connection is dead.
TEST_F(NetlabOutage, StreamSurvivesATrackerHostThatVanishesFor30s) { run_outage(true); }
