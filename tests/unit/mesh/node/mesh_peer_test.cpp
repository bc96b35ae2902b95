// MeshPeer over in-memory links (FakeNetwork): signed segments end to end, chunk repair,
// a partner lost mid-stream, and forged segments, without ICE or DTLS. Each test runs the
// GLib loop until what it waits for happened, bounded by a generous deadline; assertions
// are about what was played, sent and reported, never about how long it took.
#include "mesh/node/mesh_peer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "mesh/core/codec.hpp"
#include "mesh/core/ed25519.hpp"
#include "mesh/core/fragmenter.hpp"
#include "mesh/node/wire.hpp"
#include "tests/unit/mesh/node/fake_network.hpp"

using namespace meshcast;
using node::test::FakeNetwork;

namespace {

constexpr int64_t kSegmentUs = 100'000;
constexpr uint64_t kStreamId = 42;
constexpr size_t kPayloadBytes = 12'000;  // 3,000-byte stripes: 3 chunks each

// Runs the default context until pred() holds or `ms` passed (a bound, not a criterion).
bool spin_until(const std::function<bool()>& pred, int ms) {
  const int64_t end = g_get_monotonic_time() + int64_t(ms) * 1000;
  while (!pred() && g_get_monotonic_time() < end) g_main_context_iteration(nullptr, FALSE);
  return pred();
}

std::shared_ptr<std::vector<uint8_t>> payload_for(uint32_t number) {
  auto p = std::make_shared<std::vector<uint8_t>>(kPayloadBytes);
  for (size_t i = 0; i < p->size(); ++i) (*p)[i] = uint8_t(number * 31 + i * 7);
  return p;
}

// Peers on one FakeNetwork whose relays it routes as the tracker would (from the loop,
// never re-entrantly). What a peer played and whom it reported is kept per peer.
class Mesh {
 public:
  Mesh() : signer_(*mesh::Ed25519Signer::generate()) {
    verifier_ = std::make_unique<mesh::Ed25519Verifier>(
        *mesh::Ed25519Verifier::from_public(signer_.public_key()));
  }
  ~Mesh() {
    for (auto& [id, m] : members_) m->peer->stop();
    for (guint s : std::set<guint>(in_flight_)) g_source_remove(s);
    members_.clear();  // the peers (and their links) go before the network
  }

  node::MeshPeerConfig config(const std::string& id, bool source = false) {
    node::MeshPeerConfig c;
    c.self_id = id;
    c.source_id = "source";
    c.core.is_source = source;
    c.core.stream_id = kStreamId;
    c.core.segment_us = kSegmentUs;
    c.core.stream_bps = kPayloadBytes * 8 * 1'000'000 / kSegmentUs;
    c.core.upload_bps = c.core.stream_bps * (source ? 10 : 4);
    c.core.verifier = verifier_.get();
    c.core.seed = std::hash<std::string>{}(id);
    return c;
  }

  node::MeshPeer& add(node::MeshPeerConfig cfg) {
    cfg.link_factory = net.factory(cfg.self_id);
    auto m = std::make_unique<Member>();
    m->port.mesh = this;
    m->port.self = cfg.self_id;
    m->peer = std::make_unique<node::MeshPeer>(nullptr, cfg, m->port, nullptr);
    Member* mp = m.get();
    m->peer->set_on_play([mp](const mesh::Segment& seg, std::span<const mesh::Segment>, int64_t) {
      mp->played[seg.header.number] =
          seg.payload_bytes().size() == kPayloadBytes &&
          std::equal(seg.payload_bytes().begin(), seg.payload_bytes().end(),
                     payload_for(seg.header.number)->begin());
    });
    m->peer->start();
    node::MeshPeer& p = *m->peer;
    members_[cfg.self_id] = std::move(m);
    return p;
  }

  // The source publishes its next segment.
  uint32_t publish(node::MeshPeer& source) {
    mesh::Segment seg;
    seg.header.stream_id = kStreamId;
    seg.header.number = next_number_;
    seg.header.created_us = g_get_real_time();
    seg.header.size = uint32_t(kPayloadBytes);
    seg.payload = payload_for(next_number_);
    source.publish(seg, signer_);
    return next_number_++;
  }
  // Publishes one segment per segment duration while the loop runs, until pred() holds or
  // `max_segments` went out.
  bool stream_until(node::MeshPeer& source, const std::function<bool()>& pred, int max_segments) {
    for (int i = 0; i < max_segments && !pred(); ++i) {
      publish(source);
      spin_until([] { return false; }, int(kSegmentUs / 1000));
    }
    return pred();
  }

  // Segments a peer played, and how many of them differ from what the source published.
  size_t played(const std::string& id) const { return members_.at(id)->played.size(); }
  size_t played_wrong(const std::string& id) const {
    size_t n = 0;
    for (auto& [num, ok] : members_.at(id)->played) n += !ok;
    return n;
  }
  bool played_segment(const std::string& id, uint32_t number) const {
    return members_.at(id)->played.count(number) > 0;
  }
  const std::vector<std::string>& reported(const std::string& id) const {
    return members_.at(id)->port.reported;
  }

  FakeNetwork net;

 private:
  struct Port : node::PeerSignaling {
    Mesh* mesh = nullptr;
    std::string self;
    std::vector<std::string> reported;
    void send_relay(const std::string& to, const std::string& kind,
                    const nlohmann::json& payload) override {
      mesh->relay(self, to, kind, payload);
    }
    void request_neighbours(const std::vector<std::string>&) override {}
    void report_forger(const std::string& peer) override { reported.push_back(peer); }
  };
  struct Member {
    Port port;
    std::unique_ptr<node::MeshPeer> peer;
    std::map<uint32_t, bool> played;  // segment number -> payload as published
  };
  struct Job {
    Mesh* mesh;
    guint source;
    std::string from, to, kind;
    nlohmann::json payload;
  };
  void relay(const std::string& from, const std::string& to, const std::string& kind,
             const nlohmann::json& payload) {
    auto* job = new Job{this, 0, from, to, kind, payload};
    job->source = g_idle_add_full(
        G_PRIORITY_DEFAULT,
        [](gpointer p) -> gboolean {
          auto* j = static_cast<Job*>(p);
          auto it = j->mesh->members_.find(j->to);
          if (it != j->mesh->members_.end())
            it->second->peer->on_relay(j->from, j->kind, j->payload);
          return G_SOURCE_REMOVE;
        },
        job,
        [](gpointer p) {
          auto* j = static_cast<Job*>(p);
          j->mesh->in_flight_.erase(j->source);
          delete j;
        });
    in_flight_.insert(job->source);
  }

  mesh::Ed25519Signer signer_;
  std::unique_ptr<mesh::Ed25519Verifier> verifier_;
  std::map<std::string, std::unique_ptr<Member>> members_;
  std::set<guint> in_flight_;
  uint32_t next_number_ = 1;
};

bool connected_to(const node::MeshPeer& p, const std::string& id) {
  for (auto& pi : p.partners())
    if (pi.id == id && pi.connected) return true;
  return false;
}

// A mesh chunk in a plain RTP packet: its message id, index, and the segment it carries.
struct ChunkId {
  uint32_t msg_id = 0;
  uint16_t index = 0;
  uint32_t ts = 0;
};
std::optional<ChunkId> chunk_of(const FakeNetwork::Packet& p) {
  if (p.rtcp) return std::nullopt;
  auto c = node::unwrap_chunk(p.bytes);
  if (!c || c->size() < mesh::kChunkHeaderBytes) return std::nullopt;
  const auto& b = *c;
  ChunkId id;
  id.msg_id = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  id.index = uint16_t((b[4] << 8) | b[5]);
  id.ts = (uint32_t(p.bytes[4]) << 24) | (uint32_t(p.bytes[5]) << 16) |
          (uint32_t(p.bytes[6]) << 8) | p.bytes[7];
  return id;
}

}  // namespace

TEST(MeshPeerOverFakeLinks, ViewersPlayTheSignedSegmentsTheSourcePublished) {
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  node::MeshPeer& a = m.add(m.config("viewer-a"));
  node::MeshPeer& b = m.add(m.config("viewer-b"));
  a.add_neighbours({"source", "viewer-b"});
  b.add_neighbours({"source"});
  ASSERT_TRUE(
      spin_until([&] { return connected_to(a, "source") && connected_to(b, "source"); }, 5000));
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("viewer-a") >= 10 && m.played("viewer-b") >= 10; }, 100));
  EXPECT_EQ(m.played_wrong("viewer-a"), 0u);
  EXPECT_EQ(m.played_wrong("viewer-b"), 0u);
  EXPECT_TRUE(connected_to(a, "viewer-b"));
  EXPECT_TRUE(m.reported("viewer-a").empty());
  EXPECT_TRUE(m.reported("viewer-b").empty());
  EXPECT_EQ(a.counters().decode_errors + b.counters().decode_errors, 0u);
  EXPECT_GT(m.net.delivered(), 0u);
}

TEST(MeshPeerOverFakeLinks, ALostChunkIsNackedOnTheNodesClockAndResent) {
  // The viewer's monotonic clock stands still until the test moves it: the lost chunk is
  // asked for only once the NACK delay passed on that clock, and the source sends it again.
  Mesh m;
  int64_t viewer_now = 1'000'000'000;
  node::MeshPeer& src = m.add(m.config("source", true));
  auto vc = m.config("viewer");
  vc.monotonic_us = [&viewer_now] { return viewer_now; };
  node::MeshPeer& v = m.add(vc);
  v.add_neighbours({"source"});
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("viewer") >= 3; }, 100));

  // The next segment chunk from the source to the viewer with index 1 is lost, once.
  std::optional<ChunkId> lost;
  m.net.set_hook([&](FakeNetwork::Packet& p) {
    if (lost || p.from != "source" || p.to != "viewer") return false;
    auto c = chunk_of(p);
    if (!c || c->index != 1 || c->ts == 0) return false;
    lost = c;
    return true;
  });
  ASSERT_TRUE(m.stream_until(
      src, [&] { return lost.has_value(); }, 20));
  const uint32_t segment = lost->ts / vc.core.substreams;
  // The rest of that message is in; on the viewer's clock no time passed: nothing asked yet.
  spin_until([] { return false; }, 50);
  EXPECT_EQ(v.counters().nacks_sent, 0u);
  EXPECT_EQ(v.buffers().partials, 1u);

  viewer_now += node::NackTracker::kDelayUs;
  ASSERT_TRUE(spin_until([&] { return v.counters().nacks_sent > 0; }, 2000));
  ASSERT_TRUE(spin_until([&] { return src.counters().chunks_resent > 0; }, 2000));
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played_segment("viewer", segment); }, 30));
  EXPECT_EQ(v.counters().nacks_sent, 1u);
  EXPECT_EQ(src.counters().chunks_resent, 1u);
  EXPECT_EQ(m.played_wrong("viewer"), 0u);
  EXPECT_EQ(m.net.lost(), 1u);
}

TEST(MeshPeerOverFakeLinks, PacedPacketsLeaveOnTheNodesClock) {
  // The source paces its uplink on a clock the test moves: while it stands still nothing
  // beyond the pacer's burst leaves, and once it moves the queue empties.
  Mesh m;
  int64_t src_now = 1'000'000'000;
  auto sc = m.config("source", true);
  sc.pace_bps = sc.core.stream_bps * 2;
  sc.monotonic_us = [&src_now] { return src_now; };
  node::MeshPeer& src = m.add(sc);
  m.add(m.config("viewer")).add_neighbours({"source"});
  for (int i = 0; i < 100 && m.played("viewer") < 3; ++i) {
    m.publish(src);
    src_now += kSegmentUs;
    spin_until([] { return false; }, int(kSegmentUs / 1000));
  }
  ASSERT_GE(m.played("viewer"), 3u);

  // Three segments at once, more than the burst, on a clock that does not move.
  for (int i = 0; i < 3; ++i) m.publish(src);
  spin_until([] { return false; }, 300);
  EXPECT_GT(src.buffers().paced_bytes, 0u);
  const uint64_t held = src.buffers().paced_bytes;
  spin_until([] { return false; }, 100);
  EXPECT_GE(src.buffers().paced_bytes, held);  // nothing of it left meanwhile

  // The clock runs again (the burst caps what a jump would free): the queue empties.
  bool emptied = false;
  for (int i = 0; i < 300 && !emptied; ++i) {
    src_now += 10'000;
    spin_until([] { return false; }, 10);
    emptied = src.buffers().paced_bytes == 0;
  }
  EXPECT_TRUE(emptied);
  EXPECT_EQ(src.counters().paced_evicted, 0u);
}

TEST(MeshPeerOverFakeLinks, APartnerLostMidStreamIsDroppedAndPlayoutGoesOnFromAnother) {
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  node::MeshPeer& a = m.add(m.config("viewer-a"));
  node::MeshPeer& b = m.add(m.config("viewer-b"));
  a.add_neighbours({"source"});
  b.add_neighbours({"source", "viewer-a"});
  ASSERT_TRUE(m.stream_until(
      src,
      [&] {
        return m.played("viewer-b") >= 5 && connected_to(b, "viewer-a") &&
               connected_to(b, "source");
      },
      100));

  // The source closes its link to viewer-b, and the two can no longer reach each other.
  m.net.block("source", "viewer-b");
  ASSERT_TRUE(m.net.close("source", "viewer-b"));
  ASSERT_TRUE(spin_until([&] { return !connected_to(b, "source"); }, 2000));
  const size_t before = m.played("viewer-b");
  uint64_t from_a_before = 0;
  for (auto& pi : b.partners())
    if (pi.id == "viewer-a") from_a_before = pi.media_bytes_received;
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("viewer-b") >= before + 10; }, 150));
  EXPECT_FALSE(connected_to(b, "source"));
  EXPECT_FALSE(connected_to(src, "viewer-b"));
  uint64_t from_a = 0;
  for (auto& pi : b.partners())
    if (pi.id == "viewer-a") from_a = pi.media_bytes_received;
  EXPECT_GT(from_a, from_a_before);  // what it played since came through viewer-a
  EXPECT_EQ(m.played_wrong("viewer-b"), 0u);
}

// Everything the viewer gets comes through `relay`; the link from it alters each segment
// message on the way with `alter` (given the first chunk of a message).
void relay_alters(Mesh& m, const std::function<void(std::vector<uint8_t>& first_chunk)>& alter) {
  m.net.set_hook([alter](FakeNetwork::Packet& p) {
    auto c = chunk_of(p);
    if (p.from == "relay" && p.to == "viewer" && c && c->ts != 0 && c->index == 0) alter(p.bytes);
    return false;
  });
}

TEST(MeshPeerOverFakeLinks, ASegmentWithABadSignatureIsRejectedAndItsSenderReported) {
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  node::MeshPeer& relay = m.add(m.config("relay"));
  node::MeshPeer& v = m.add(m.config("viewer"));
  relay.add_neighbours({"source"});
  m.net.block("source", "viewer");
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("relay") >= 3; }, 100));
  // One bit of the signature, in the first chunk of every segment message.
  relay_alters(m, [](std::vector<uint8_t>& b) {
    b[node::kRtpHeaderSize + mesh::kChunkHeaderBytes + mesh::kSegmentHopsOffset + 1] ^= 0x01;
  });
  v.add_neighbours({"relay"});
  ASSERT_TRUE(m.stream_until(
      src, [&] { return !m.reported("viewer").empty(); }, 100));
  EXPECT_EQ(m.reported("viewer").front(), "relay");
  EXPECT_TRUE(v.is_banned("relay"));
  EXPECT_GE(v.counters().forgers_reported, 1u);
  EXPECT_GE(v.stats().forged_rejected, 1u);
  EXPECT_EQ(m.played("viewer"), 0u);
  // Banned: its offers are refused from now on.
  relay.add_neighbours({"viewer"});
  spin_until([] { return false; }, 100);
  EXPECT_FALSE(connected_to(v, "relay"));
}

TEST(MeshPeerOverFakeLinks, APayloadThatDoesNotMatchItsDigestsIsNeverPlayed) {
  // The payload is altered but not the signed digest list: the message does not decode, and
  // the viewer drops the partner that sent it.
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  node::MeshPeer& relay = m.add(m.config("relay"));
  node::MeshPeer& v = m.add(m.config("viewer"));
  relay.add_neighbours({"source"});
  m.net.block("source", "viewer");
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("relay") >= 3; }, 100));
  uint64_t altered = 0;
  relay_alters(m, [&](std::vector<uint8_t>& b) {
    b.back() ^= 0x5a;
    ++altered;
  });
  v.add_neighbours({"relay"});
  ASSERT_TRUE(m.stream_until(
      src, [&] { return altered > 0 && !connected_to(v, "relay"); }, 100));
  EXPECT_EQ(m.played("viewer"), 0u);
}

TEST(MeshPeerOverFakeLinks, AMaliciousRelaysForgeriesAreNeverPlayed) {
  // The test-only attack hook: a relay that alters what it relays and sprays forged copies
  // at every partner. Viewers report it and play only what the source signed.
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  auto bad = m.config("mallory");
  bad.attack.tamper_relayed = true;
  node::MeshPeer& mallory = m.add(bad);
  node::MeshPeer& v = m.add(m.config("viewer"));
  mallory.add_neighbours({"source"});
  v.add_neighbours({"source", "mallory"});
  ASSERT_TRUE(m.stream_until(
      src, [&] { return !m.reported("viewer").empty() && m.played("viewer") >= 10; }, 150));
  EXPECT_EQ(m.reported("viewer").front(), "mallory");
  EXPECT_TRUE(v.is_banned("mallory"));
  EXPECT_EQ(m.played_wrong("viewer"), 0u);
}

// A viewer that estimates its upload measures its uplink with a probe train to its first
// partner before it offers more than a stripe's slot. The partner's answers are timed here
// as a 1.5 Mbit/s modem would space the train: the budget follows them.
TEST(MeshPeerOverFakeLinks, AViewerProbesItsUplinkAndStartsItsBudgetFromIt) {
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  auto vc = m.config("viewer");
  vc.estimate_upload = true;
  constexpr double kModemBps = 1.5e6;
  size_t probes = 0, answers = 0;
  m.net.set_hook([&](FakeNetwork::Packet& p) {
    if (!p.rtcp) return false;
    if (p.from == "viewer" && node::unwrap_probe(p.bytes)) ++probes;
    if (p.from == "source") {
      if (auto r = node::unwrap_probe_reply(p.bytes)) {
        ++answers;
        r->arrival_us = 1'000'000 + uint64_t(r->received * 1100 * 8e6 / kModemBps);
        p.bytes = node::wrap_probe_reply(*r, 1);
      }
    }
    return false;
  });
  node::MeshPeer& v = m.add(vc);
  // Before any link: one stripe's slot, not a guess.
  EXPECT_EQ(v.upload_estimate().budget_bps, vc.core.stream_bps / vc.core.substreams);
  v.add_neighbours({"source"});
  ASSERT_TRUE(spin_until([&] { return v.upload_estimate().probed_bps > 0; }, 5000));
  EXPECT_EQ(v.counters().uplink_probes, 1u);
  EXPECT_EQ(probes, 20u);
  EXPECT_EQ(src.counters().probe_replies, answers);
  EXPECT_GE(answers, 2u);
  EXPECT_NEAR(double(v.upload_estimate().probed_bps), kModemBps, 0.02 * kModemBps);
  EXPECT_NEAR(double(v.upload_estimate().budget_bps), 0.8 * kModemBps, 0.02 * kModemBps);
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("viewer") >= 3; }, 100));
}

// A partner that sends marked probe packets without end makes us answer a bounded number
// of them (16 per 10 s), not one each: answering is sending, and it is not ours to spend.
TEST(MeshPeerOverFakeLinks, AFloodOfProbePacketsGetsABoundedNumberOfAnswers) {
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  auto vc = m.config("viewer");
  // The viewer's clock stands still: however slow this machine, all falls in one window.
  vc.monotonic_us = [] { return int64_t(5'000'000'000); };
  node::MeshPeer& v = m.add(vc);
  v.add_neighbours({"source"});
  ASSERT_TRUE(m.stream_until(
      src, [&] { return m.played("viewer") >= 3; }, 100));
  // From now on every packet the source sends the viewer is a marked probe of a new train.
  uint32_t train = 1000;
  size_t flood = 0, answers = 0;
  m.net.set_hook([&](FakeNetwork::Packet& p) {
    if (p.from == "source" && p.to == "viewer") {
      p.rtcp = true;
      p.bytes = node::wrap_probe({train++, 0, 1, true}, 64, 7);
      ++flood;
    } else if (p.from == "viewer" && p.rtcp && node::unwrap_probe_reply(p.bytes)) {
      ++answers;
    }
    return false;
  });
  m.stream_until(
      src, [&] { return flood >= 100; }, 100);
  spin_until([] { return false; }, 100);
  ASSERT_GE(flood, 100u);
  EXPECT_EQ(answers, 16u);
  EXPECT_EQ(v.counters().probe_replies, 16u);
}

// A partner that never answers the probe (an older version ignores it): the viewer tries
// the partners it has, and after a few seconds starts from its guess (1.5x the stream
// rate) instead of staying at one stripe's slot. The viewer's clock is moved by the test.
TEST(MeshPeerOverFakeLinks, AProbeNobodyAnswersEndsInTheGuessNotAtTheFloor) {
  Mesh m;
  node::MeshPeer& src = m.add(m.config("source", true));
  auto vc = m.config("viewer");
  vc.estimate_upload = true;
  int64_t viewer_now = 1'000'000'000;
  vc.monotonic_us = [&viewer_now] { return viewer_now; };
  m.net.set_hook([](FakeNetwork::Packet& p) {
    return p.rtcp && node::unwrap_probe_reply(p.bytes).has_value();  // lost, every one
  });
  node::MeshPeer& v = m.add(vc);
  v.add_neighbours({"source"});
  ASSERT_TRUE(spin_until([&] { return v.counters().uplink_probes == 1; }, 5000));
  const uint64_t floor = vc.core.stream_bps / vc.core.substreams;
  viewer_now += 2'000'000;  // the train's answers are overdue; no other partner to try
  spin_until([] { return false; }, 1200);
  EXPECT_EQ(v.counters().uplink_probes, 1u);
  EXPECT_EQ(v.upload_estimate().budget_bps, floor);
  viewer_now += 4'000'000;  // 6 s after the train
  ASSERT_TRUE(spin_until([&] { return v.upload_estimate().budget_bps != floor; }, 3000));
  EXPECT_EQ(v.upload_estimate().budget_bps, vc.core.stream_bps * 3 / 2);
  EXPECT_EQ(v.upload_estimate().probed_bps, 0u);
  EXPECT_GE(src.counters().probe_replies, 2u);  // it answered; the answers were lost
}
