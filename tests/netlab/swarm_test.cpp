// Broadcasts across real NATs with capped uplinks: viewers behind every kind of router, each
// uplink a `tc tbf` (a modem's rate and queue). Every viewer must play (continuity from its
// `watch --stats`), the links must take the routes the routers allow, and a viewer whose
// uplink is slower than its declared budget must find out (its upload estimate) rather than
// starve its children. Timings are printed, never asserted.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/cli/stats.hpp"
#include "tests/netlab/lab_test.hpp"

using meshcast::netlab::LabHost;
using meshcast::netlab::NetLab;
using meshcast::netlab::RouterKind;
using meshcast::testing::Process;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int kBitrateKbps = 800;

struct ViewerSpec {
  std::string id;
  RouterKind kind;
  int uplink_kbps;  // 0: uncapped
};

// What one viewer's --stats lines say.
struct ViewerRun {
  ViewerSpec spec;
  int code = -1;
  std::string err;
  json last;
  std::vector<double> lag_ms;  // one per line once playing
  int most_direct = 0, most_relayed = 0, most_children = 0;
};

ViewerRun read_stats(const ViewerSpec& spec, const fs::path& path) {
  ViewerRun r;
  r.spec = spec;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    r.last = j;
    if (j.value("played", 0) > 0) r.lag_ms.push_back(j.value("lag_ms", 0.0));
    r.most_direct = std::max(r.most_direct, j.value("links_direct", 0));
    r.most_relayed = std::max(r.most_relayed, j.value("links_relayed", 0));
    r.most_children = std::max(r.most_children, j.value("children", 0));
  }
  return r;
}

class NetlabSwarm : public meshcast::netlab::LabTest {
 protected:
  void stop_processes() override {
    for (auto& p : procs_) p->stop();
    bc_.stop();
  }

  std::vector<std::string> servers(const LabHost& h) const { return lab_->server_args(h); }

  // A public, uncapped broadcaster of a synthetic 800 kbit/s stream (no encoder: the CPU
  // goes to the viewers).
  void start_broadcaster(int seconds, int copies) {
    auto added = lab_->add_host("bc", RouterKind::kPublic);
    ASSERT_TRUE(added) << added.error();
    const LabHost* h = *added;
    auto args = servers(*h);
    args.insert(args.begin(), {MESHCAST_EXE, "broadcast"});
    args.insert(args.end(), {"--stream", "live", "--id", "bc", "--synthetic", "--bitrate",
                             std::to_string(kBitrateKbps), "--copies", std::to_string(copies),
                             "--quiet", "--duration", std::to_string(seconds)});
    ASSERT_TRUE(lab_->spawn(bc_, h->ns, args, "bc/broadcast"));
    ASSERT_TRUE(lab_->wait_for_tracker_peers(1, 15000)) << bc_.err();
  }

  const LabHost* add_viewer_host(const ViewerSpec& v) {
    auto h = lab_->add_host(v.id, v.kind, v.uplink_kbps);
    EXPECT_TRUE(h) << h.error();
    return h.value_or(nullptr);
  }

  void start_viewer(const ViewerSpec& v, const LabHost& h, int seconds) {
    auto args = servers(h);
    args.insert(args.begin(), {MESHCAST_EXE, "watch"});
    args.insert(args.end(),
                {"--stream", "live", "--id", v.id, "--out", "null", "--quiet", "--duration",
                 std::to_string(seconds), "--stats", stats_path(v.id).string()});
    // The estimate is what these tests are about (watch's default is off); for comparisons
    // (docs/netlab.md) the same swarm without it.
    const char* e = std::getenv("MESHCAST_NETLAB_UPLOAD_ESTIMATE");
    args.insert(args.end(), {"--upload-estimate", e ? e : "on"});
    procs_.push_back(std::make_unique<Process>());
    ASSERT_TRUE(lab_->spawn(*procs_.back(), h.ns, args, v.id + "/watch"));
  }

  fs::path stats_path(const std::string& id) const { return lab_->dir() / id / "watch.jsonl"; }

  // Waits for every viewer (started in `specs` order) and reads its stats.
  std::vector<ViewerRun> finish(const std::vector<ViewerSpec>& specs) {
    std::vector<ViewerRun> runs;
    for (size_t i = 0; i < specs.size(); ++i) {
      auto st = procs_[i]->wait(120'000);
      ViewerRun r = read_stats(specs[i], stats_path(specs[i].id));
      r.code = st ? *st : -1;
      r.err = procs_[i]->err();
      runs.push_back(std::move(r));
    }
    return runs;
  }

  Process bc_;
  std::vector<std::unique_ptr<Process>> procs_;
};

void print_viewer(const ViewerRun& r) {
  const json& j = r.last;
  const double rx_d = j.value("bytes_direct_rx", 0.0), rx_r = j.value("bytes_relayed_rx", 0.0);
  std::printf(
      "%-4s %-15s cap %5d | played %4d cont %.4f lag p50 %4.0f p95 %4.0f ms | links most "
      "direct %d relayed %d | rx relayed %4.1f %% | probe %5.0f estimate %5.0f kbps (cuts %d, "
      "queue %.0f ms) | children now %d most %d shed %d\n",
      r.spec.id.c_str(), to_string(r.spec.kind), r.spec.uplink_kbps, j.value("played", 0),
      j.value("continuity", 0.0), meshcast::app::percentile(r.lag_ms, 0.5),
      meshcast::app::percentile(r.lag_ms, 0.95), r.most_direct, r.most_relayed,
      rx_d + rx_r > 0 ? 100 * rx_r / (rx_d + rx_r) : 0.0, j.value("upload_probe_kbps", -1.0),
      j.value("upload_estimate_kbps", -1.0), j.value("upload_cuts", 0),
      j.value("queue_delay_ms", -1.0), j.value("children", 0), r.most_children,
      j.value("children_shed", 0));
}

}  // namespace

// 12 viewers behind every router kind, a third of the uplinks below the stream rate (0.6x), a
// third at 1.25x, a third at 3x; all declare the default budget (4x) and must find their
// uplink themselves. Every viewer plays >= 99 %; the viewer without UDP only has relayed
// links; TURN carries a small share of the bytes (the rest goes direct).
//
// Each viewer measures its uplink with a probe train before it takes children; without
// that, newcomers buried their children in their modems' queues and this test failed 1 run
// in 5 joining one a second and every run all at once (MESHCAST_NETLAB_JOIN_GAP_MS=0;
// docs/netlab.md, "Swarm tests").
TEST_F(NetlabSwarm, CappedUplinksBehindEveryNatKindAllPlay) {
  const int watch_s = [] {
    const char* s = std::getenv("MESHCAST_NETLAB_SWARM_SECONDS");
    return s ? std::max(20, std::atoi(s)) : 60;
  }();
  const int slow = kBitrateKbps * 6 / 10, mid = kBitrateKbps * 5 / 4, fast = kBitrateKbps * 3;
  const std::vector<ViewerSpec> specs = {
      {"v0", RouterKind::kPublic, fast},         {"v1", RouterKind::kPublic, mid},
      {"v2", RouterKind::kPublic, slow},         {"v3", RouterKind::kFullCone, fast},
      {"v4", RouterKind::kFullCone, mid},        {"v5", RouterKind::kFullCone, slow},
      {"v6", RouterKind::kPortRestricted, fast}, {"v7", RouterKind::kPortRestricted, mid},
      {"v8", RouterKind::kPortRestricted, slow}, {"v9", RouterKind::kSymmetric, fast},
      {"v10", RouterKind::kSymmetric, slow},     {"v11", RouterKind::kUdpBlocked, mid},
  };
  std::vector<const LabHost*> hosts;
  for (auto& v : specs) {
    hosts.push_back(add_viewer_host(v));
    ASSERT_TRUE(hosts.back());
  }
  // Viewers arrive one per `gap_ms` (a live audience trickles in; 0 = a flash crowd, all at
  // once).
  const int gap_ms = [] {
    const char* s = std::getenv("MESHCAST_NETLAB_JOIN_GAP_MS");
    return s ? std::max(0, std::atoi(s)) : 1000;
  }();
  start_broadcaster(watch_s + 25 + int(specs.size()) * gap_ms / 1000, 4);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (i > 0 && gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    // All stop together (the first to come watches longest): a viewer that outlived the
    // others would lose all its partners at once at the end, a different test's matter.
    start_viewer(specs[i], *hosts[i], watch_s + int(specs.size() - 1 - i) * gap_ms / 1000);
  }
  auto runs = finish(specs);

  double rx_direct = 0, rx_relayed = 0;
  std::vector<double> lags;
  for (auto& r : runs) {
    print_viewer(r);
    const std::string who = r.spec.id + " (" + to_string(r.spec.kind) + ", uplink " +
                            std::to_string(r.spec.uplink_kbps) + " kbit/s)";
    EXPECT_EQ(r.code, 0) << who << ": " << r.err;
    ASSERT_TRUE(r.last.is_object()) << who << ": no stats";
    EXPECT_GT(r.last.value("played", 0), 0) << who;
    EXPECT_GE(r.last.value("continuity", 0.0), 0.99) << who;
    EXPECT_GE(r.most_direct + r.most_relayed, 1) << who;
    rx_direct += r.last.value("bytes_direct_rx", 0.0);
    rx_relayed += r.last.value("bytes_relayed_rx", 0.0);
    lags.insert(lags.end(), r.lag_ms.begin(), r.lag_ms.end());
    // No UDP leaves its network: everything it got came through its TURN/TCP allocation.
    if (r.spec.kind == RouterKind::kUdpBlocked) {
      EXPECT_EQ(r.most_direct, 0) << who;
      EXPECT_EQ(r.last.value("bytes_direct_rx", 0.0), 0.0) << who;
    }
    // A public viewer reaches the public broadcaster and the cone NATs directly.
    if (r.spec.kind == RouterKind::kPublic) {
      EXPECT_GE(r.most_direct, 1) << who;
    }
  }
  const double share = rx_relayed / std::max(1.0, rx_direct + rx_relayed);
  std::printf(
      "SWARM %d s: relayed share of received bytes %.1f %% (%.1f of %.1f MB); lag p50 %.0f ms "
      "p95 %.0f ms\n",
      watch_s, 100 * share, rx_relayed / 1e6, (rx_direct + rx_relayed) / 1e6,
      meshcast::app::percentile(lags, 0.5), meshcast::app::percentile(lags, 0.95));
  // One viewer in 12 can only be reached through TURN (its ~1/12 of the bytes, and what
  // it relays on); symmetric NATs need it towards port-restricted and symmetric peers. Direct
  // paths exist for everyone else, and the mesh prefers them.
  EXPECT_LT(share, 0.3);
}

// A viewer behind a 1 Mbit/s uplink (800 kbit/s stream) gets the stream from the broadcaster
// (which uploads two copies) before the others come, and then children for up to its
// declared 3.2 Mbit/s. It must find
// out its uplink (a probe train measures it; the estimate stays below the cap), take no
// children above it, and keep playing; so must its children.
TEST_F(NetlabSwarm, AViewerBehindAOneMegabitUplinkKeepsItsChildrenPlaying) {
  constexpr int kWatchSeconds = 35;
  const ViewerSpec relay{"r", RouterKind::kFullCone, 1000};
  std::vector<ViewerSpec> specs = {relay};
  // Six children: with four, the relay's slow-start slots (1.5x the stream rate) were not
  // always asked for beyond the uplink, and its estimate had nothing to learn from.
  for (int i = 0; i < 6; ++i) specs.push_back({"c" + std::to_string(i), RouterKind::kPublic, 0});
  std::vector<const LabHost*> hosts;
  for (auto& v : specs) {
    hosts.push_back(add_viewer_host(v));
    ASSERT_TRUE(hosts.back());
  }
  start_broadcaster(kWatchSeconds + 25, 2);
  start_viewer(specs[0], *hosts[0], kWatchSeconds + 5);
  // The relay holds the stream before the others come, so they are sent to it.
  bool playing = false;
  for (int i = 0; i < 150 && !playing; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(stats_path(relay.id));
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      playing |= j.is_object() && j.value("played", 0) > 0;
    }
  }
  ASSERT_TRUE(playing) << procs_[0]->err();
  // The children stop after the relay (they started later), so the relay is measured while
  // it relays, and the children also ride out its departure. The other way round, the
  // relay outlived its whole audience, lost every partner at once and needed new links
  // (ICE through its NAT) to go on: a different test's matter.
  for (size_t i = 1; i < specs.size(); ++i) start_viewer(specs[i], *hosts[i], kWatchSeconds + 5);
  auto runs = finish(specs);
  for (auto& r : runs) {
    print_viewer(r);
    EXPECT_EQ(r.code, 0) << r.spec.id << ": " << r.err;
    ASSERT_TRUE(r.last.is_object()) << r.spec.id << ": no stats";
    EXPECT_GE(r.last.value("continuity", 0.0), 0.99) << r.spec.id;
  }
  const ViewerRun& r = runs[0];
  EXPECT_GE(r.most_children, 1) << "the capped viewer never relayed: the test proves nothing";
  // Its probe train measured the modem (tbf counts IP and UDP headers, the probe does not:
  // a few % below the cap).
  const double probed = r.last.value("upload_probe_kbps", 0.0);
  EXPECT_GT(probed, 0.85 * relay.uplink_kbps);
  EXPECT_LT(probed, 1.1 * relay.uplink_kbps);
  EXPECT_LT(r.last.value("upload_estimate_kbps", 1e9), double(relay.uplink_kbps));
  // Down to what the uplink carries, not to the one-stripe floor (200 kbit/s): a saturated
  // modem halves the estimate, and a relay that settles at half its uplink still relays.
  EXPECT_GE(r.last.value("upload_estimate_kbps", 0.0), 0.3 * relay.uplink_kbps);
}

// Lag between machines whose clocks disagree, across NATs: the broadcaster (behind a full
// cone NAT) runs its clock 3 s ahead, one viewer (behind a port-restricted cone) 2 s behind,
// the other (public) is right. MESHCAST_TEST_CLOCK_OFFSET_MS shifts them (the namespaces
// share one kernel clock, so the truth is known). Each measures its offset to the tracker
// over its own NATed connection, so both viewers report the same lag, and a positive one.
TEST_F(NetlabSwarm, LagIsRightAcrossNatsWhenClocksDisagree) {
  auto added = lab_->add_host("bc", RouterKind::kFullCone);
  ASSERT_TRUE(added) << added.error();
  const LabHost* b = *added;
  const std::vector<ViewerSpec> specs = {{"shifted", RouterKind::kPortRestricted, 0},
                                         {"plain", RouterKind::kPublic, 0}};
  const std::vector<std::string> offsets = {"-2000", "0"};
  auto shifted_by = [](const std::string& ms, const char* command,
                       const std::vector<std::string>& rest) {
    std::vector<std::string> a = {"env", "MESHCAST_TEST_CLOCK_OFFSET_MS=" + ms, MESHCAST_EXE,
                                  command};
    a.insert(a.end(), rest.begin(), rest.end());
    return a;
  };
  auto bargs = servers(*b);
  bargs.insert(bargs.end(), {"--stream", "live", "--id", "bc", "--synthetic", "--bitrate", "300",
                             "--quiet", "--duration", "45"});
  ASSERT_TRUE(lab_->spawn(bc_, b->ns, shifted_by("3000", "broadcast", bargs), "bc/broadcast"));
  ASSERT_TRUE(lab_->wait_for_tracker_peers(1, 15000)) << bc_.err();
  for (size_t i = 0; i < specs.size(); ++i) {
    const LabHost* h = add_viewer_host(specs[i]);
    ASSERT_TRUE(h);
    auto args = servers(*h);
    args.insert(args.end(), {"--stream", "live", "--id", specs[i].id, "--out", "null", "--quiet",
                             "--duration", "20", "--stats", stats_path(specs[i].id).string()});
    procs_.push_back(std::make_unique<Process>());
    ASSERT_TRUE(lab_->spawn(*procs_.back(), h->ns, shifted_by(offsets[i], "watch", args),
                            specs[i].id + "/watch"));
  }
  auto runs = finish(specs);
  std::vector<double> median_lag;
  for (auto& r : runs) {
    EXPECT_EQ(r.code, 0) << r.spec.id << ": " << r.err;
    ASSERT_GE(r.lag_ms.size(), 10u) << r.spec.id << ": " << r.err;
    // The second half of the run: start-up settled.
    std::vector<double> late(r.lag_ms.begin() + long(r.lag_ms.size() / 2), r.lag_ms.end());
    median_lag.push_back(meshcast::app::percentile(late, 0.5));
    std::printf("%s: clock offset to the tracker %.1f ms, lag median %.1f ms\n", r.spec.id.c_str(),
                r.last.value("clock_offset_ms", 0.0), median_lag.back());
  }
  // The tracker's clock is 2 s ahead of the shifted viewer's.
  EXPECT_NEAR(runs[0].last.value("clock_offset_ms", 0.0), 2000, 50);
  EXPECT_NEAR(runs[1].last.value("clock_offset_ms", 0.0), 0, 50);
  // Uncorrected, the shifted viewer would report 5 s less: a negative lag.
  EXPECT_GT(median_lag[0], 0);
  EXPECT_NEAR(median_lag[0], median_lag[1], 50);
}
