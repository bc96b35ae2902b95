// Calls across real NATs in the lab: each side runs `meshcast call` inside its own network
// namespace, behind a router of some kind, with the lab's tracker, STUN and TURN (coturn)
// on the "internet". Each test asserts that tones went both ways and which route ICE chose.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <thread>

#include "apps/cli/stats.hpp"
#include "media/common/audio_analysis.hpp"
#include "tests/netlab/lab_test.hpp"

using meshcast::netlab::LabHost;
using meshcast::netlab::NetLab;
using meshcast::netlab::RouterKind;
using meshcast::testing::Process;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int kCallSeconds = 5;

struct Side {
  int code = -1;
  json route;  // the "route" object of the last --stats line
  double link_setup_ms = -1;
  std::string wav, stderr_text;
};

struct CallResult {
  Side alice, bob;
};

// The last --stats line that has `field`.
json last_stats(const std::string& stats_path, const char* field) {
  std::ifstream in(stats_path);
  json value;
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains(field)) value = j[field];
  }
  return value;
}

void expect_tone(const std::string& wav, double hz) {
  auto w = meshcast::media::read_wav_file(wav);
  ASSERT_TRUE(w) << wav;
  auto mono = w->mono();
  double seconds = double(mono.size()) / w->sample_rate;
  EXPECT_NEAR(meshcast::media::dominant_frequency(mono, w->sample_rate), hz, hz * 0.03) << wav;
  // Audible for most of the call (playout starts a little after the link).
  EXPECT_GE(meshcast::media::audible_fraction(mono, w->sample_rate) * seconds, 0.7 * kCallSeconds)
      << wav;
}

class NetlabCall : public meshcast::netlab::LabTest {
 protected:
  void configure(NetLab& lab) override {
    lab.set_coturn_denies_private_peers(coturn_denies_private_peers());
    lab.set_turn_rest_secret(turn_rest_secret());
  }
  virtual bool coturn_denies_private_peers() const { return true; }
  virtual std::string turn_rest_secret() const { return ""; }

  const LabHost* host(const std::string& name, RouterKind kind) {
    auto h = lab_->add_host(name, kind);
    EXPECT_TRUE(h) << h.error();
    return h.value_or(nullptr);
  }

  std::vector<std::string> common_args(const LabHost& h, const std::string& id,
                                       const std::vector<std::string>& turn) {
    std::vector<std::string> a = {MESHCAST_EXE,
                                  "call",
                                  "--id",
                                  id,
                                  "--tracker",
                                  lab_->tracker_url(),
                                  "--local-address",
                                  h.address,
                                  "--stun",
                                  lab_->stun_uri(),
                                  "--quiet",
                                  "--stats",
                                  (lab_->dir() / id / "stats.jsonl").string(),
                                  "--audio-sink",
                                  "file:" + (lab_->dir() / id / "heard.wav").string()};
    for (const auto& t : turn) {
      a.push_back("--turn");
      a.push_back(t);
      if (t.rfind("turns:", 0) == 0) {  // the lab's coturn has a self-signed certificate
        a.push_back("--turn-ca");
        a.push_back(lab_->coturn().cert_file().string());
      }
    }
    return a;
  }

  // alice (on `a`) calls bob (on `b`) for kCallSeconds; both processes always stopped.
  CallResult call(const LabHost& a, const LabHost& b, const std::vector<std::string>& turn_a,
                  const std::vector<std::string>& turn_b, int seconds = kCallSeconds) {
    CallResult r;
    Process alice, bob;
    auto bob_args = common_args(b, "bob", turn_b);
    bob_args.insert(bob_args.end(),
                    {"--answer", "--accept-from", "alice", "--audio-source", "test:880"});
    EXPECT_TRUE(lab_->spawn(bob, b.ns, bob_args, "bob/call"));
    EXPECT_TRUE(lab_->wait_for_tracker_peers(1, 15000)) << bob.err();
    auto alice_args = common_args(a, "alice", turn_a);
    alice_args.insert(alice_args.end(), {"--to", "bob", "--duration", std::to_string(seconds),
                                         "--ring-timeout", "10", "--audio-source", "test:440"});
    EXPECT_TRUE(lab_->spawn(alice, a.ns, alice_args, "alice/call"));
    auto ac = alice.wait(60000);
    auto bc = bob.wait(15000);
    alice.stop();
    bob.stop();
    r.alice.code = ac.value_or(-1);
    r.bob.code = bc.value_or(-1);
    for (auto* s : {&r.alice, &r.bob}) {
      const std::string id = s == &r.alice ? "alice" : "bob";
      const std::string stats = (lab_->dir() / id / "stats.jsonl").string();
      s->route = last_stats(stats, "route");
      auto setup = last_stats(stats, "link_setup_ms");
      if (setup.is_number()) s->link_setup_ms = setup.get<double>();
      s->stderr_text = (s == &r.alice ? alice : bob).err();
      if (!s->route.is_object()) {  // say what the stats file held
        std::ifstream in(stats);
        std::stringstream text;
        text << in.rdbuf();
        s->stderr_text += "\n[no route in " + stats + " (" +
                          (fs::exists(stats) ? std::to_string(fs::file_size(stats)) : "missing") +
                          " bytes):\n" + text.str() + "]";
      }
      fs::remove(stats);
      s->wav = (lab_->dir() / id / "heard.wav").string();
    }
    return r;
  }

  // Exit codes, tones both ways, and a route reported on both sides.
  void expect_good_call(const CallResult& r) {
    EXPECT_EQ(r.alice.code, 0) << "alice: " << r.alice.stderr_text << "\n" << lab_->coturn().log();
    EXPECT_EQ(r.bob.code, 0) << "bob: " << r.bob.stderr_text;
    ASSERT_TRUE(r.alice.route.is_object()) << r.alice.stderr_text;
    ASSERT_TRUE(r.bob.route.is_object()) << r.bob.stderr_text;
    expect_tone(r.alice.wav, 880);  // alice hears bob
    expect_tone(r.bob.wav, 440);    // bob hears alice
    std::printf("alice route: %s\nbob route:   %s\n", r.alice.route.dump().c_str(),
                r.bob.route.dump().c_str());
  }

  // A call during which `cut`'s path goes away for cut_seconds, starting 2 s after the link
  // first reports connected: a DROP rule in its router (remap = false) or its router's WAN
  // link down, which also makes the router forget its NAT mappings (remap = true). The path
  // is always restored, also on failure. `extra` goes to both sides.
  struct CutCall {
    CallResult r;
    json alice_last, bob_last;      // the last --stats line of each side
    json alice_before, bob_before;  // each side's route just before the cut
    double restored_at = 0;         // wall clock (s) when the path came back
  };
  CutCall call_with_cut(const LabHost& a, const LabHost& b, const std::vector<std::string>& turn_a,
                        const std::vector<std::string>& turn_b, const LabHost& cut, bool remap,
                        int cut_seconds, int call_seconds,
                        const std::vector<std::string>& extra = {}) {
    CutCall c;
    Process alice, bob;
    auto bob_args = common_args(b, "bob", turn_b);
    bob_args.insert(bob_args.end(),
                    {"--answer", "--accept-from", "alice", "--audio-source", "test:880"});
    bob_args.insert(bob_args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(lab_->spawn(bob, b.ns, bob_args, "bob/call"));
    EXPECT_TRUE(lab_->wait_for_tracker_peers(1, 15000)) << bob.err();
    auto alice_args = common_args(a, "alice", turn_a);
    alice_args.insert(alice_args.end(), {"--to", "bob", "--duration", std::to_string(call_seconds),
                                         "--ring-timeout", "10", "--audio-source", "test:440"});
    alice_args.insert(alice_args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(lab_->spawn(alice, a.ns, alice_args, "alice/call"));
    const std::string alice_stats = (lab_->dir() / "alice" / "stats.jsonl").string();
    bool connected = false;
    for (int i = 0; i < 300 && !connected; ++i) {
      connected = last_stats(alice_stats, "link_state") == "connected";
      if (!connected) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(connected) << alice.err();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    c.alice_before = last_stats(alice_stats, "route");
    c.bob_before = last_stats((lab_->dir() / "bob" / "stats.jsonl").string(), "route");
    struct Restore {
      NetLab& lab;
      const LabHost& h;
      bool remap, active = false;
      void operator()() {
        if (!active) return;
        active = false;
        auto restored = remap ? lab.set_wan_link(h, true) : lab.set_path_cut(h, false);
        EXPECT_TRUE(restored) << restored.error();
      }
      ~Restore() { (*this)(); }
    } restore{*lab_, cut, remap};
    auto broken = remap ? lab_->set_wan_link(cut, false) : lab_->set_path_cut(cut, true);
    restore.active = broken.has_value();
    EXPECT_TRUE(broken) << broken.error();
    std::this_thread::sleep_for(std::chrono::seconds(cut_seconds));
    restore();
    c.restored_at =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto ac = alice.wait(60000);
    auto bc = bob.wait(15000);
    alice.stop();
    bob.stop();
    c.r.alice.code = ac.value_or(-1);
    c.r.bob.code = bc.value_or(-1);
    for (auto* s : {&c.r.alice, &c.r.bob}) {
      const std::string id = s == &c.r.alice ? "alice" : "bob";
      const std::string stats = (lab_->dir() / id / "stats.jsonl").string();
      std::ifstream in(stats);
      json& last = s == &c.r.alice ? c.alice_last : c.bob_last;
      for (std::string line; std::getline(in, line);) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_object()) last = j;
      }
      if (last.is_object() && last.contains("route")) s->route = last["route"];
      s->wav = (lab_->dir() / id / "heard.wav").string();
      s->stderr_text = (s == &c.r.alice ? alice : bob).err();
    }
    return c;
  }

  // The call healed: both exit 0, each side restarted ICE and came back connected on the
  // same DTLS session, and the last `tail_seconds` of what each heard are the other's tone.
  void expect_healed(const CutCall& c, double tail_seconds) {
    EXPECT_EQ(c.r.alice.code, 0) << "alice: " << c.r.alice.stderr_text;
    EXPECT_EQ(c.r.bob.code, 0) << "bob: " << c.r.bob.stderr_text;
    for (const json* last : {&c.alice_last, &c.bob_last}) {
      const char* who = last == &c.alice_last ? "alice" : "bob";
      ASSERT_TRUE(last->is_object()) << who;
      std::printf("%s last stats: %s\n", who, last->dump().c_str());
      EXPECT_GE(last->value("ice_restarts", 0), 1) << who;
      EXPECT_GE(last->value("heals", 0), 1) << who;
      EXPECT_EQ(last->value("link_state", ""), "connected") << who;
      EXPECT_EQ(last->value("dtls_handshakes", 0), 1) << who;  // keys kept, no new handshake
      if (last->contains("healed_at"))
        std::printf(
            "%s: media back %.2f s after the path came back (reconnecting lasted "
            "%.0f ms), route %s\n",
            who, (*last)["healed_at"].get<double>() - c.restored_at,
            last->value("last_heal_ms", -1.0), last->value("route", json()).dump().c_str());
    }
    for (const auto& [wav, hz] : {std::pair{c.r.alice.wav, 880.0}, std::pair{c.r.bob.wav, 440.0}}) {
      auto w = meshcast::media::read_wav_file(wav);
      ASSERT_TRUE(w) << wav;
      auto mono = w->mono();
      const size_t tail = size_t(tail_seconds * w->sample_rate);
      ASSERT_GT(mono.size(), tail) << wav;
      std::span<const int16_t> end(mono.data() + mono.size() - tail, tail);
      EXPECT_NEAR(meshcast::media::dominant_frequency(end, w->sample_rate), hz, hz * 0.03) << wav;
      EXPECT_GE(meshcast::media::audible_fraction(end, w->sample_rate), 0.8) << wav;
    }
  }

  static std::string ip_of(const json& route, const char* field) {
    std::string a = route.value(field, "");
    return a.substr(0, a.rfind(':'));
  }
};

}  // namespace

// Control: two public hosts, nothing in between; the host candidates connect directly.
TEST_F(NetlabCall, PublicToPublicIsDirectHostToHost) {
  auto* a = host("a", RouterKind::kPublic);
  auto* b = host("b", RouterKind::kPublic);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()});
  expect_good_call(r);
  for (const auto* s : {&r.alice, &r.bob}) {
    EXPECT_EQ(s->route.value("kind", ""), "direct");
    EXPECT_EQ(s->route.value("local", ""), "host");
    EXPECT_EQ(s->route.value("remote", ""), "host");
    EXPECT_EQ(s->route.value("transport", ""), "udp");
  }
  EXPECT_EQ(ip_of(r.alice.route, "remote_address"), b->address);
  EXPECT_EQ(ip_of(r.bob.route, "remote_address"), a->address);
}

// Two cone NATs: STUN finds each side's mapped address and the peers reach each other
// there, directly (the TURN server is offered but not used).
TEST_F(NetlabCall, FullConeToPortRestrictedConeIsDirectThroughTheMappedAddresses) {
  auto* a = host("a", RouterKind::kFullCone);
  auto* b = host("b", RouterKind::kPortRestricted);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()});
  expect_good_call(r);
  for (const auto* s : {&r.alice, &r.bob}) {
    EXPECT_EQ(s->route.value("kind", ""), "direct");
    for (const char* side : {"local", "remote"}) {
      std::string type = s->route.value(side, "");
      EXPECT_TRUE(type == "srflx" || type == "prflx") << side << ": " << type;
    }
  }
  EXPECT_EQ(ip_of(r.alice.route, "local_address"), a->wan_address);
  EXPECT_EQ(ip_of(r.bob.route, "local_address"), b->wan_address);
  // Each side sends to the other's router, not to a private address or the relay.
  EXPECT_EQ(ip_of(r.alice.route, "remote_address"), b->wan_address);
  EXPECT_EQ(ip_of(r.bob.route, "remote_address"), a->wan_address);
}

// Two symmetric NATs: a mapping made for the STUN server is useless to the peer, so media
// must go through TURN over UDP.
TEST_F(NetlabCall, SymmetricToSymmetricGoesThroughTurnOverUdp) {
  auto* a = host("a", RouterKind::kSymmetric);
  auto* b = host("b", RouterKind::kSymmetric);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()});
  expect_good_call(r);
  int relays = 0;
  for (const auto* s : {&r.alice, &r.bob}) {
    EXPECT_EQ(s->route.value("kind", ""), "relayed");
    if (s->route.value("local", "") == "relay") {
      ++relays;
      EXPECT_EQ(s->route.value("relay_transport", ""), "udp");
      EXPECT_EQ(ip_of(s->route, "local_address"), NetLab::kServerAddress);
    }
  }
  EXPECT_GE(relays, 1);
}

// A symmetric NAT against a port-restricted cone: the cone only accepts replies from where
// it sent, the symmetric side changes its port per destination; TURN carries the call.
TEST_F(NetlabCall, SymmetricToPortRestrictedConeIsRelayed) {
  auto* a = host("a", RouterKind::kSymmetric);
  auto* b = host("b", RouterKind::kPortRestricted);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()});
  expect_good_call(r);
  for (const auto* s : {&r.alice, &r.bob}) EXPECT_EQ(s->route.value("kind", ""), "relayed");
}

// A network that lets no UDP out: its host offers TURN over UDP and over TCP; only the TCP
// allocation succeeds and carries the call to a cone-NAT peer.
TEST_F(NetlabCall, UdpBlockedToConeGoesThroughTurnOverTcp) {
  auto* a = host("a", RouterKind::kUdpBlocked);
  auto* b = host("b", RouterKind::kFullCone);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_udp_uri(), lab_->turn_tcp_uri()}, {lab_->turn_udp_uri()});
  expect_good_call(r);
  EXPECT_EQ(r.alice.route.value("kind", ""), "relayed");
  EXPECT_EQ(r.alice.route.value("local", ""), "relay");
  EXPECT_EQ(r.alice.route.value("relay_transport", ""), "tcp");
  EXPECT_EQ(r.bob.route.value("kind", ""), "relayed");
}

// turns: on the same blocked network. libnice would speak plain TURN to the TLS port; meshcast
// carries its TCP connection over TLS (TlsTunnel), checking the server's certificate against
// --turn-ca. The route names the TLS server, and coturn's log shows the session was TLS.
TEST_F(NetlabCall, TurnsUriReachesTheRelayOverTls) {
  auto* a = host("a", RouterKind::kUdpBlocked);
  auto* b = host("b", RouterKind::kFullCone);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_tls_uri()}, {lab_->turn_udp_uri()});
  expect_good_call(r);
  EXPECT_EQ(r.alice.route.value("local", ""), "relay");
  EXPECT_EQ(r.alice.route.value("relay_scheme", ""), "turns");
  EXPECT_EQ(r.alice.route.value("relay_transport", ""), "tls");
  EXPECT_EQ(r.alice.route.value("relay_server", ""), std::string(NetLab::kServerAddress) + ":5349");
  // coturn logs how each session on its TLS port ended, "reason: TLS/TCP ..." for a TLS
  // client (alice has hung up by now) and "reason: TCP connection closed" for plain TURN.
  const std::string local = std::string("local ") + NetLab::kServerAddress + ":5349";
  std::string closed;
  for (int i = 0; i < 50 && closed.empty(); ++i) {
    std::istringstream log(lab_->coturn().log());
    for (std::string line; std::getline(log, line);)
      if (line.find("closed (2nd stage)") != std::string::npos &&
          line.find(local) != std::string::npos)
        closed = line;
    if (closed.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(closed.empty()) << lab_->coturn().log();
  EXPECT_NE(closed.find("reason: TLS/TCP"), std::string::npos) << closed;
}

// Not a pass/fail test: how long the link takes to set up (offer -> ICE + DTLS connected, the
// caller's link_setup_ms) per router pair, over MESHCAST_NETLAB_CALLS calls (default 10).
// Run with --gtest_also_run_disabled_tests --gtest_filter='*SetupTimes*'.
TEST_F(NetlabCall, DISABLED_SetupTimesPerRouterPair) {
  const char* env = std::getenv("MESHCAST_NETLAB_CALLS");
  const int calls = env ? std::max(1, std::atoi(env)) : 10;
  struct Pair {
    RouterKind a, b;
    bool a_tcp;
  };
  const std::vector<Pair> pairs = {{RouterKind::kPublic, RouterKind::kPublic, false},
                                   {RouterKind::kFullCone, RouterKind::kPortRestricted, false},
                                   {RouterKind::kSymmetric, RouterKind::kSymmetric, false},
                                   {RouterKind::kSymmetric, RouterKind::kPortRestricted, false},
                                   {RouterKind::kUdpBlocked, RouterKind::kFullCone, true}};
  int n = 0;
  for (const auto& p : pairs) {
    ++n;
    auto* a = host("a" + std::to_string(n), p.a);
    auto* b = host("b" + std::to_string(n), p.b);
    ASSERT_TRUE(a && b);
    std::vector<std::string> turn_a = {lab_->turn_udp_uri()};
    if (p.a_tcp) turn_a.push_back(lab_->turn_tcp_uri());
    std::vector<double> setup;
    std::string kinds;
    for (int i = 0; i < calls; ++i) {
      auto r = call(*a, *b, turn_a, {lab_->turn_udp_uri()}, 1);
      EXPECT_EQ(r.alice.code, 0) << r.alice.stderr_text;
      if (r.alice.link_setup_ms >= 0) setup.push_back(r.alice.link_setup_ms);
      kinds = r.alice.route.value("kind", "?");
    }
    std::printf("SETUP %s <-> %s: %zu/%d calls, route %s, link setup p50 %.0f ms p95 %.0f ms\n",
                to_string(p.a), to_string(p.b), setup.size(), calls, kinds.c_str(),
                meshcast::app::percentile(setup, 0.5), meshcast::app::percentile(setup, 0.95));
  }
}

// A broadcast from behind a symmetric NAT to four viewers behind every other kind of router
// (one lets no UDP out and has TURN over TCP). The mesh links between all of them need STUN
// or TURN; every viewer must play at least 99 % of what it should have.
TEST_F(NetlabCall, BroadcastFromSymmetricNatReachesViewersBehindMixedNats) {
  constexpr int kWatchSeconds = 15;
  auto* bc_host = host("bc", RouterKind::kSymmetric);
  const std::vector<RouterKind> kinds = {RouterKind::kFullCone, RouterKind::kPortRestricted,
                                         RouterKind::kSymmetric, RouterKind::kUdpBlocked};
  std::vector<const LabHost*> viewers;
  for (size_t i = 0; i < kinds.size(); ++i)
    viewers.push_back(host("v" + std::to_string(i), kinds[i]));
  ASSERT_TRUE(bc_host);
  for (auto* v : viewers) ASSERT_TRUE(v);
  auto servers = [&](const LabHost& h) { return lab_->server_args(h); };
  Process bc;
  auto bc_args = servers(*bc_host);
  bc_args.insert(bc_args.begin(), {MESHCAST_EXE, "broadcast"});
  bc_args.insert(bc_args.end(),
                 {"--stream", "live", "--id", "bc", "--synthetic", "--bitrate", "300", "--quiet",
                  "--duration", std::to_string(kWatchSeconds + 15)});
  ASSERT_TRUE(lab_->spawn(bc, bc_host->ns, bc_args, "bc/broadcast"));
  ASSERT_TRUE(lab_->wait_for_tracker_peers(1, 15000)) << bc.err();
  std::vector<std::unique_ptr<Process>> procs;
  for (size_t i = 0; i < viewers.size(); ++i) {
    const std::string id = "v" + std::to_string(i);
    auto args = servers(*viewers[i]);
    args.insert(args.begin(), {MESHCAST_EXE, "watch"});
    args.insert(args.end(), {"--stream", "live", "--id", id, "--out", "null", "--quiet",
                             "--duration", std::to_string(kWatchSeconds), "--stats",
                             (lab_->dir() / id / "watch.jsonl").string()});
    procs.push_back(std::make_unique<Process>());
    ASSERT_TRUE(lab_->spawn(*procs.back(), viewers[i]->ns, args, id + "/watch"));
  }
  for (size_t i = 0; i < viewers.size(); ++i) {
    const std::string id = "v" + std::to_string(i);
    auto st = procs[i]->wait(60'000);
    ASSERT_TRUE(st) << id << " did not finish";
    EXPECT_EQ(*st, 0) << id << " (" << to_string(kinds[i]) << "): " << procs[i]->err();
    std::ifstream in(lab_->dir() / id / "watch.jsonl");
    json last;
    int most_direct = 0, most_relayed = 0;  // over the run (links close as peers leave)
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      last = j;
      most_direct = std::max(most_direct, j.value("links_direct", 0));
      most_relayed = std::max(most_relayed, j.value("links_relayed", 0));
    }
    ASSERT_TRUE(last.is_object()) << id << ": no stats";
    std::printf("%s (%s): %s\n", id.c_str(), to_string(kinds[i]), last.dump().c_str());
    EXPECT_GT(last.value("played", 0), 0) << id;
    EXPECT_GE(last.value("continuity", 0.0), 0.99) << id << " (" << to_string(kinds[i]) << ")";
    std::printf("%s: most links direct %d, relayed %d\n", id.c_str(), most_direct, most_relayed);
    EXPECT_GE(most_direct + most_relayed, 1) << id;
    // Without UDP every link of this viewer goes through its TURN/TCP allocation.
    if (kinds[i] == RouterKind::kUdpBlocked) {
      EXPECT_EQ(most_direct, 0) << id;
      EXPECT_GE(most_relayed, 1) << id;
    }
  }
  bc.stop();
}

// Links that heal: alice's router drops everything for 5 s mid-call. Her side hears nothing
// for 3 s, goes reconnecting and restarts ICE (new credentials through the tracker, which
// her TCP connection reaches again once the path is back); bob restarts on her message. The
// call goes on: both exit 0, both counted a restart, and the end of the call is tone.
TEST_F(NetlabCall, PortRestrictedToFullConeHealsAfterAFiveSecondCut) {
  auto* a = host("a", RouterKind::kPortRestricted);
  auto* b = host("b", RouterKind::kFullCone);
  ASSERT_TRUE(a && b);
  auto c = call_with_cut(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()}, *a, false, 5, 18);
  expect_healed(c, 3.0);
  EXPECT_EQ(c.alice_last["route"].value("kind", ""), "direct");
}

// The relayed case, and the mapping dies too: alice's symmetric router takes its WAN link
// down for 5 s, which makes it forget every NAT mapping. Her old TURN allocation is
// unreachable (her packets come from new random ports) and her tracker connection is reset
// once the link is back; the call session resumes its tracker session, a fresh ICE
// generation allocates a new relay, and the call goes on through TURN.
TEST_F(NetlabCall, SymmetricToSymmetricHealsThroughANewRelayAfterTheMappingsDie) {
  auto* a = host("a", RouterKind::kSymmetric);
  auto* b = host("b", RouterKind::kSymmetric);
  ASSERT_TRUE(a && b);
  auto c = call_with_cut(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()}, *a, true, 5, 20);
  expect_healed(c, 3.0);
  EXPECT_EQ(c.alice_last["route"].value("kind", ""), "relayed");
  EXPECT_EQ(c.bob_last["route"].value("kind", ""), "relayed");
  // The relayed address media goes through now is not one from before the cut: the restart
  // allocated again.
  auto relay_of = [](const json& route) {
    std::string r = route.value("local", "") == "relay" ? route.value("local_address", "") : "";
    if (route.value("remote", "") == "relay") r = route.value("remote_address", "");
    return r;
  };
  std::printf("relay before the cut: %s / %s, after: %s / %s\n", relay_of(c.alice_before).c_str(),
              relay_of(c.bob_before).c_str(), relay_of(c.alice_last["route"]).c_str(),
              relay_of(c.bob_last["route"]).c_str());
  ASSERT_FALSE(relay_of(c.alice_before).empty()) << c.alice_before.dump();
  EXPECT_NE(relay_of(c.alice_last["route"]), relay_of(c.alice_before));
  EXPECT_NE(relay_of(c.alice_last["route"]), relay_of(c.bob_before));
  std::printf("alice tracker resumes: %d\n", c.alice_last.value("tracker_resumes", 0));
}

// Control: a cut longer than the heal window still ends the call, with a reason that says
// the link could not be healed (exit 1 on both sides).
TEST_F(NetlabCall, ACutLongerThanTheHealWindowEndsTheCall) {
  auto* a = host("a", RouterKind::kPortRestricted);
  auto* b = host("b", RouterKind::kFullCone);
  ASSERT_TRUE(a && b);
  auto c = call_with_cut(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()}, *a, false, 14, 30,
                         {"--heal-window", "5"});
  for (const auto* s : {&c.r.alice, &c.r.bob}) {
    std::printf("%s", s->stderr_text.c_str());
    EXPECT_EQ(s->code, 1) << s->stderr_text;
    EXPECT_NE(s->stderr_text.find("could not reconnect within"), std::string::npos)
        << s->stderr_text;
  }
  EXPECT_GE(c.alice_last.value("ice_restarts", 0), 1);
}

namespace {
class NetlabCallWithoutDeniedPeers : public NetlabCall {
 protected:
  bool coturn_denies_private_peers() const override { return false; }
};
}  // namespace

// Why the lab's (and docs/operations.md's) coturn denies private peers. Without the rule,
// coturn tries to relay to the peers' private host candidates; the internet namespace has no
// route for them (blackhole), the send fails at once and coturn closes the whole allocation.
// libnice's later requests on it are refused and a call that needs the relay fails.
TEST_F(NetlabCallWithoutDeniedPeers, ARelayedCallFails) {
  auto* a = host("a", RouterKind::kSymmetric);
  auto* b = host("b", RouterKind::kSymmetric);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()});
  // Whoever fails first exits 1 with "ICE failed"; the other may hear of it first through
  // the tracker (exit 8: the peer left before the call connected). Nobody talked.
  int ice_failed = 0;
  for (const auto* s : {&r.alice, &r.bob}) {
    EXPECT_TRUE(s->code == 1 || s->code == 8) << s->code << ": " << s->stderr_text;
    ice_failed += s->stderr_text.find("ICE failed") != std::string::npos;
  }
  EXPECT_GE(ice_failed, 1) << r.alice.stderr_text << r.bob.stderr_text;
  // coturn had given a permission for a private address and dropped it with the allocation.
  const std::string log = lab_->coturn().log();
  std::istringstream in(log);
  bool private_peer_deleted = false;
  for (std::string line; std::getline(in, line);)
    private_peer_deleted |= line.find(": peer 192.168.") != std::string::npos &&
                            line.find(" deleted") != std::string::npos;
  EXPECT_TRUE(private_peer_deleted) << log;
}

namespace {
class NetlabCallWithTrackerTurn : public NetlabCall {
 protected:
  std::string turn_rest_secret() const override { return "lab-rest-secret-5d1f"; }
};
}  // namespace

// No TURN password on the command line: coturn knows only a shared secret (use-auth-secret),
// the tracker hands each admitted peer time-limited credentials made from it in hello_ok,
// and two symmetric NATs still talk through the relay. coturn has no static user here, so
// the relay works only with the tracker's credentials.
TEST_F(NetlabCallWithTrackerTurn, SymmetricToSymmetricRelaysWithTheTrackersCredentials) {
  auto* a = host("a", RouterKind::kSymmetric);
  auto* b = host("b", RouterKind::kSymmetric);
  ASSERT_TRUE(a && b);
  auto r = call(*a, *b, {}, {});
  expect_good_call(r);
  for (const auto* s : {&r.alice, &r.bob}) EXPECT_EQ(s->route.value("kind", ""), "relayed");
  // The control: the old static user (given with --turn, which replaces the tracker's
  // servers) is refused by this coturn, and the same two NATs cannot talk.
  auto refused = call(*a, *b, {lab_->turn_udp_uri()}, {lab_->turn_udp_uri()});
  EXPECT_NE(refused.alice.code, 0);
  for (const auto* s : {&refused.alice, &refused.bob})
    EXPECT_FALSE(s->route.is_object() && s->route.value("kind", "") == "relayed");
}
