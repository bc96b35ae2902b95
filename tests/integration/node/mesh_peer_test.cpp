// MeshPeer over real loopback links, driven by a signaling stub, attacked as a stranger would.
#include "mesh/node/mesh_peer.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "mesh/link/certificate.hpp"

using namespace meshcast;

namespace {

struct RecordingSignaling : node::PeerSignaling {
  std::vector<std::tuple<std::string, std::string, nlohmann::json>> sent;
  void send_relay(const std::string& to, const std::string& kind,
                  const nlohmann::json& payload) override {
    sent.emplace_back(to, kind, payload);
  }
  void request_neighbours(const std::vector<std::string>&) override {}
  void report_forger(const std::string&) override {}
  size_t count(const std::string& kind, const std::string& reason = "") const {
    size_t n = 0;
    for (auto& [to, k, p] : sent)
      n += k == kind && (reason.empty() || p.value("reason", "") == reason);
    return n;
  }
};

bool spin_until(const std::function<bool()>& pred, int ms) {
  const int64_t end = g_get_monotonic_time() + ms * 1000;
  while (!pred() && g_get_monotonic_time() < end) g_main_context_iteration(nullptr, FALSE);
  return pred();
}

void spin(int ms) {
  spin_until([] { return false; }, ms);
}

node::MeshPeerConfig config(const std::string& id) {
  node::MeshPeerConfig c;
  c.self_id = id;
  return c;
}

// In-process peers whose relays it routes, as the tracker would; anyone may inject. Relays
// are delivered from the loop, as over a socket (never re-entrantly); when the router goes,
// its peers stop and what is still in flight is dropped.
class Router {
 public:
  ~Router() {
    for (auto& [id, m] : members_) m->peer->stop();
    for (Job* j : std::set<Job*>(in_flight_)) g_source_remove(j->source);
  }
  // A started peer with this configuration.
  node::MeshPeer& add(const node::MeshPeerConfig& cfg) {
    auto m = std::make_unique<Member>();
    m->port.r = this;
    m->port.self = cfg.self_id;
    m->peer = std::make_unique<node::MeshPeer>(nullptr, cfg, m->port,
                                               link::Certificate::process_default());
    m->peer->start();
    node::MeshPeer& p = *m->peer;
    members_[cfg.self_id] = std::move(m);
    return p;
  }

 private:
  struct Job {
    Router* r;
    guint source = 0;
    std::string to, from, kind;
    nlohmann::json payload;
  };
  struct Port : node::PeerSignaling {
    Router* r = nullptr;
    std::string self;
    void send_relay(const std::string& to, const std::string& kind,
                    const nlohmann::json& payload) override {
      auto* job = new Job{r, 0, to, self, kind, payload};
      job->source = g_idle_add_full(
          G_PRIORITY_DEFAULT_IDLE,
          [](gpointer p) -> gboolean {
            auto* j = static_cast<Job*>(p);
            auto it = j->r->members_.find(j->to);
            if (it != j->r->members_.end())
              it->second->peer->on_relay(j->from, j->kind, j->payload);
            return G_SOURCE_REMOVE;
          },
          job,
          [](gpointer p) {
            auto* j = static_cast<Job*>(p);
            j->r->in_flight_.erase(j);
            delete j;
          });
      r->in_flight_.insert(job);
    }
    void request_neighbours(const std::vector<std::string>&) override {}
    void report_forger(const std::string&) override {}
  };
  struct Member {
    Port port;
    std::unique_ptr<node::MeshPeer> peer;
  };
  std::map<std::string, std::unique_ptr<Member>> members_;
  std::set<Job*> in_flight_;
};

bool connected_to(const node::MeshPeer& p, const std::string& id) {
  for (auto& pi : p.partners())
    if (pi.id == id && pi.connected) return true;
  return false;
}

}  // namespace

TEST(MeshPeerAttack, AnIdWithTheSameHashCannotSpeakForAnother) {
  // "Im_bnC" and "broadcaster-demo" share their 32-bit FNV-1a hash. The impostor's relay
  // "bye" must not cut the viewer's link to the real one, and its own offer gets its own
  // link, not the other's.
  Router router;
  node::MeshPeer& a = router.add(config("viewer-a"));
  router.add(config("broadcaster-demo"));
  node::MeshPeer& m = router.add(config("Im_bnC"));
  a.add_neighbours({"broadcaster-demo"});
  ASSERT_TRUE(spin_until([&] { return connected_to(a, "broadcaster-demo"); }, 5000));
  // The impostor says goodbye in the other's name... as itself: the tracker stamps `from`.
  a.on_relay("Im_bnC", "bye", nlohmann::json::object());
  a.on_relay("Im_bnC", "candidate", {{"candidate", "garbage"}});
  spin(300);
  EXPECT_TRUE(connected_to(a, "broadcaster-demo"));
  // It offers a link: that is a second partner, not a replacement.
  m.add_neighbours({"viewer-a"});
  ASSERT_TRUE(spin_until([&] { return connected_to(a, "Im_bnC"); }, 5000));
  EXPECT_TRUE(connected_to(a, "broadcaster-demo"));
  EXPECT_EQ(a.partners().size(), 2u);
}

TEST(MeshPeerAttack, OnlyTheOwnerIsBelievedToBeTheSourceAndUploadClaimsAreCapped) {
  // A liar says "I am the source" and declares 4 Tbit/s of upload; the real broadcaster says
  // it is the source. The viewer believes the owner only, and no upload above 4x the stream.
  Router router;
  node::MeshPeerConfig cv = config("viewer"), cb = config("broadcaster-live"), cl = config("liar");
  cv.source_id = "broadcaster-live";
  cv.core.stream_bps = 500'000;
  cb.core.is_source = true;
  cl.core.is_source = true;
  cl.core.upload_bps = 4'000'000'000'000ull;
  node::MeshPeer& v = router.add(cv);
  router.add(cb);
  router.add(cl);
  v.add_neighbours({"broadcaster-live", "liar"});
  ASSERT_TRUE(spin_until(
      [&] {
        auto bi = v.core_id("broadcaster-live"), li = v.core_id("liar");
        return bi && li && v.core().is_partner(*bi) && v.core().is_partner(*li) &&
               v.core().partner_upload_kbps(*li) > 0;  // its Hello is in
      },
      5000));
  spin(300);  // and the broadcaster's
  const auto bi = *v.core_id("broadcaster-live"), li = *v.core_id("liar");
  EXPECT_TRUE(v.core().partner_is_source(bi));
  EXPECT_FALSE(v.core().partner_is_source(li));
  EXPECT_LE(v.core().partner_upload_kbps(li), 4u * 500u);
}

TEST(MeshPeerAttack, OffersThatNeverCompleteHoldOnlyAFewAgents) {
  // 40 strangers each send a valid offer and then nothing (no candidates answered, no
  // DTLS): the victim answers only a few and refuses the rest as busy.
  auto cert = link::Certificate::process_default();
  RecordingSignaling sig;
  node::MeshPeerConfig cfg;
  cfg.self_id = "victim";
  node::MeshPeer victim(nullptr, cfg, sig, cert);
  victim.start();
  std::vector<std::unique_ptr<link::PeerLink>> attackers;
  for (int i = 0; i < 40; ++i) {
    auto l = link::PeerLink::create(g_main_context_default(), cfg.link, cert, link::Role::kOfferer);
    ASSERT_TRUE(l) << l.error();
    auto started = (*l)->start();
    ASSERT_TRUE(started) << started.error();
    victim.on_relay("stranger-" + std::to_string(i), "offer", (*l)->local_description().to_json());
    attackers.push_back(std::move(*l));
  }
  spin(200);
  EXPECT_LE(victim.buffers().links, node::MeshPeer::kMaxPendingAnswers);
  EXPECT_EQ(sig.count("answer"), node::MeshPeer::kMaxPendingAnswers);
  EXPECT_EQ(sig.count("bye", "busy"), 40 - node::MeshPeer::kMaxPendingAnswers);
  victim.stop();
}

TEST(MeshPeerAttack, GarbageRelaysAreCountedNotFatal) {
  auto cert = link::Certificate::process_default();
  RecordingSignaling sig;
  node::MeshPeerConfig cfg;
  cfg.self_id = "victim";
  node::MeshPeer victim(nullptr, cfg, sig, cert);
  victim.start();
  victim.on_relay("x", "offer", nlohmann::json::array({1, 2}));
  victim.on_relay("x", "offer", {{"ufrag", std::string(100000, 'a')}});
  victim.on_relay("y", "answer", nlohmann::json(5));
  victim.on_relay("y", "candidate", {{"candidate", 7}});
  victim.on_relay("z", "no-such-kind", nlohmann::json::object());
  EXPECT_EQ(victim.counters().decode_errors, 2u);
  EXPECT_EQ(victim.buffers().links, 0u);
  victim.stop();
}
