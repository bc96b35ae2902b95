// Drives the sans-IO tracker core directly: deterministic time, no sockets.
#include "signaling/tracker_core.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "signaling/identity_key.hpp"
#include "signaling/identity_proof.hpp"
#include "signaling/neighbour_choice.hpp"

using namespace meshcast::signaling;
using meshcast::ms_to_us;
using nlohmann::json;

namespace {

const std::string kKey(64, 'b');

class CoreHarness {
 public:
  explicit CoreHarness(TrackerConfig cfg = {}, std::unique_ptr<IdentityStore> ids = nullptr)
      : core(cfg, std::move(ids)) {}
  // Opens a connection; its welcome (the nonce to sign) is kept in `nonce`, not the inbox.
  ConnId open(const std::string& ip = "") {
    ConnId id = next++;
    CoreOutput out;
    core.on_open(id, now, out, ip);
    EXPECT_EQ(out.send.size(), 1u);
    if (!out.send.empty()) {
      json w = json::parse(out.send[0].second);
      EXPECT_EQ(w["type"], "welcome");
      nonce[id] = w["nonce"].get<std::string>();
    }
    return id;
  }
  // Sends one frame; returns every frame the core produced for `conn`.
  std::vector<json> send(ConnId conn, const json& msg) { return send_text(conn, msg.dump()); }
  std::vector<json> send_text(ConnId conn, const std::string& text) {
    CoreOutput out;
    core.on_text(conn, text, now, out);
    return collect(out, conn);
  }
  std::vector<json> collect(const CoreOutput& out, ConnId conn) {
    std::vector<json> mine;
    for (auto& [to, text] : out.send) {
      json j = json::parse(text);
      inbox[to].push_back(j);
      if (to == conn) mine.push_back(j);
    }
    for (auto c : out.close) closed.push_back(c);
    return mine;
  }
  json last(ConnId conn) { return inbox[conn].empty() ? json() : inbox[conn].back(); }
  json hello(ConnId conn, const std::string& id, json extra = json::object()) {
    extra["type"] = "hello";
    extra["peer_id"] = id;
    if (!extra.contains("role")) extra["role"] = "viewer";
    return send(conn, extra).at(0);
  }
  // hello proving `key` over this connection's nonce (or `nonce_of`'s: a replay).
  json hello_as(ConnId conn, const std::string& id, const IdentityKey& key, ConnId nonce_of = 0,
                const std::string& signed_id = "") {
    const std::string& n = nonce[nonce_of ? nonce_of : conn];
    return send(conn, {{"type", "hello"},
                       {"peer_id", id},
                       {"role", "caller"},
                       {"identity_key", key.public_key_b64()},
                       {"identity_sig",
                        key.sign_b64(hello_proof_message(n, signed_id.empty() ? id : signed_id))}})
        .at(0);
  }
  void close(ConnId conn) {
    CoreOutput out;
    core.on_close(conn, now, out);
    collect(out, 0);
  }
  // A broadcaster "src" with ample upload and its public stream "s"; returns its connection.
  ConnId open_stream() {
    const ConnId o = open();
    hello(o, "src", {{"upload_kbps", 100000}});
    send(o, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}});
    return o;
  }
  // `n` viewers "v100", "v101", ... with ample upload join "s"; returns their connections.
  std::vector<ConnId> join_viewers(int n) {
    std::vector<ConnId> vs;
    for (int i = 0; i < n; ++i) {
      vs.push_back(open());
      hello(vs.back(), "v" + std::to_string(100 + i), {{"upload_kbps", 100000}});
      EXPECT_EQ(send(vs.back(), {{"type", "join"}, {"stream", "s"}, {"max", 1}}).at(0)["type"],
                "join_ok");
    }
    return vs;
  }
  bool received(ConnId conn, const std::string& type) {
    for (auto& j : inbox[conn])
      if (j["type"] == type) return true;
    return false;
  }

  TrackerCore core;
  ConnId next = 1;
  meshcast::TimeUs now = meshcast::ms_to_us(1000);
  std::map<ConnId, std::vector<json>> inbox;
  std::map<ConnId, std::string> nonce;
  std::vector<ConnId> closed;
};

TEST(TrackerCore, HelloAssignsIdsAndRejectsDuplicates) {
  CoreHarness h;
  auto a = h.open(), b = h.open(), c = h.open();
  auto r = h.hello(a, "alice");
  EXPECT_EQ(r["type"], "hello_ok");
  EXPECT_EQ(r["peer_id"], "alice");
  EXPECT_EQ(r["token"].get<std::string>().size(), 32u);
  EXPECT_EQ(h.hello(b, "alice")["code"], "duplicate_peer_id");
  auto assigned = h.send(c, {{"type", "hello"}, {"role", "viewer"}, {"id", 5}}).at(0);
  EXPECT_EQ(assigned["id"], 5);
  EXPECT_EQ(assigned["peer_id"].get<std::string>().rfind("p-", 0), 0u);
  EXPECT_EQ(h.hello(a, "again")["code"], "already_registered");
  EXPECT_EQ(h.send(b, {{"type", "stream_list"}}).at(0)["code"], "not_registered");
  EXPECT_EQ(h.core.peer_count(), 2u);
}

TEST(TrackerCore, ConnectionWithoutHelloIsClosed) {
  TrackerConfig cfg;
  cfg.hello_timeout_ms = 5000;
  CoreHarness h(cfg);
  auto quiet = h.open(), talker = h.open();
  h.hello(talker, "talker");
  ASSERT_TRUE(h.core.next_deadline().has_value());
  EXPECT_EQ(*h.core.next_deadline(), h.now + ms_to_us(5000));
  CoreOutput out;
  h.core.on_timer(h.now + ms_to_us(5000), out);
  h.collect(out, 0);
  EXPECT_EQ(h.closed, std::vector<ConnId>{quiet});
  EXPECT_EQ(h.last(quiet)["code"], "not_registered");
  EXPECT_FALSE(h.core.next_deadline().has_value());
}

TEST(TrackerCore, PrivateStreamNeedsViewKeyAndOnlyOwnerEnds) {
  CoreHarness h;
  auto o = h.open(), v = h.open(), x = h.open();
  h.hello(o, "owner", {{"role", "broadcaster"}});
  h.hello(v, "viewer");
  h.hello(x, "mallory");
  auto created = h.send(o, {{"type", "stream_create"},
                            {"name", "s"},
                            {"public_key", kKey},
                            {"private", true},
                            {"view_key", "sesame-open"}})
                     .at(0);
  ASSERT_EQ(created["type"], "stream_create_ok");
  std::string secret = created["secret"];
  EXPECT_EQ(h.send(v, {{"type", "join"}, {"stream", "s"}}).at(0)["code"], "access_denied");
  EXPECT_EQ(
      h.send(v, {{"type", "join"}, {"stream", "s"}, {"view_key", "sesame-opeN"}}).at(0)["code"],
      "access_denied");
  EXPECT_EQ(h.send(v, {{"type", "stream_describe"}, {"name", "s"}}).at(0)["code"], "access_denied");
  auto joined = h.send(v, {{"type", "join"}, {"stream", "s"}, {"view_key", "sesame-open"}}).at(0);
  ASSERT_EQ(joined["type"], "join_ok");
  EXPECT_EQ(joined["public_key"], kKey);
  ASSERT_EQ(joined["neighbours"].size(), 1u);
  EXPECT_EQ(joined["neighbours"][0]["peer_id"], "owner");
  // stream_list does not show private streams to non-members at all; members see them.
  auto list = h.send(x, {{"type", "stream_list"}}).at(0);
  EXPECT_TRUE(list["streams"].empty()) << list;
  auto member_list = h.send(v, {{"type", "stream_list"}}).at(0);
  ASSERT_EQ(member_list["streams"].size(), 1u);
  EXPECT_EQ(member_list["streams"][0]["name"], "s");
  EXPECT_EQ(h.send(x, {{"type", "stream_end"}, {"name", "s"}}).at(0)["code"], "not_owner");
  EXPECT_EQ(h.send(x, {{"type", "stream_end"}, {"name", "s"}, {"secret", "nope"}}).at(0)["code"],
            "not_owner");
  // The secret makes its holder the owner.
  EXPECT_EQ(h.send(x, {{"type", "stream_end"}, {"name", "s"}, {"secret", secret}}).at(0)["type"],
            "stream_end_ok");
  EXPECT_TRUE(h.received(v, "stream_ended"));
  EXPECT_TRUE(h.received(o, "stream_ended"));
  EXPECT_EQ(h.core.stream_count(), 0u);
}

TEST(TrackerCore, RelayNeedsSharedStreamOrAcceptedCall) {
  CoreHarness h;
  auto a = h.open(), b = h.open();
  h.hello(a, "a");
  h.hello(b, "b");
  EXPECT_EQ(h.send(a, {{"type", "relay"}, {"to", "b"}, {"kind", "offer"}}).at(0)["code"],
            "not_related");
  EXPECT_EQ(h.send(a, {{"type", "relay"}, {"to", "zz"}, {"kind", "offer"}}).at(0)["code"],
            "peer_offline");
  auto inv = h.send(a, {{"type", "call_invite"}, {"to", "b"}, {"id", 1}});
  ASSERT_EQ(inv.at(0)["type"], "call_invite_ok");
  EXPECT_EQ(inv.at(1)["type"], "call_ringing");
  std::string cid = inv.at(0)["call_id"];
  EXPECT_EQ(h.last(b)["type"], "call_incoming");
  // Ringing is not enough: the callee never gets the caller's relay before accepting.
  size_t before = h.inbox[b].size();
  EXPECT_EQ(h.send(a, {{"type", "relay"}, {"to", "b"}, {"kind", "offer"}}).at(0)["code"],
            "not_related");
  EXPECT_EQ(h.inbox[b].size(), before);
  EXPECT_EQ(h.send(a, {{"type", "call_accept"}, {"call_id", cid}}).at(0)["code"], "bad_call_state");
  EXPECT_EQ(h.send(b, {{"type", "call_accept"}, {"call_id", cid}}).at(0)["type"], "call_accept_ok");
  EXPECT_EQ(h.last(a)["type"], "call_accepted");
  EXPECT_TRUE(
      h.send(a, {{"type", "relay"}, {"to", "b"}, {"kind", "offer"}, {"payload", {{"sdp", "x"}}}})
          .empty());
  EXPECT_EQ(
      h.last(b),
      (json{{"type", "relay"}, {"from", "a"}, {"kind", "offer"}, {"payload", {{"sdp", "x"}}}}));
  h.send(b, {{"type", "call_hangup"}, {"call_id", cid}});
  EXPECT_EQ(h.last(a)["type"], "call_ended");
  EXPECT_EQ(h.send(a, {{"type", "relay"}, {"to", "b"}, {"kind", "offer"}}).at(0)["code"],
            "not_related");
}

TEST(TrackerCore, CallPolicyDeclineAndTimeout) {
  CoreHarness h;
  auto a = h.open(), b = h.open(), c = h.open();
  h.hello(a, "alice");
  h.hello(b, "bob", {{"accept_calls", json::array({"alice"})}});
  h.hello(c, "carol", {{"accept_calls", "none"}});
  EXPECT_EQ(h.send(a, {{"type", "call_invite"}, {"to", "carol"}}).at(0)["code"], "call_refused");
  EXPECT_EQ(h.send(c, {{"type", "call_invite"}, {"to", "bob"}}).at(0)["code"], "call_refused");
  auto inv = h.send(a, {{"type", "call_invite"}, {"to", "bob"}, {"timeout_ms", 1000}});
  std::string cid = inv.at(0)["call_id"];
  EXPECT_EQ(h.send(a, {{"type", "call_invite"}, {"to", "bob"}}).at(0)["code"], "call_exists");
  EXPECT_EQ(
      h.send(b, {{"type", "call_decline"}, {"call_id", cid}, {"reason", "busy"}}).at(0)["type"],
      "call_decline_ok");
  EXPECT_EQ(h.last(a)["type"], "call_declined");
  EXPECT_EQ(h.last(a)["reason"], "busy");

  inv = h.send(a, {{"type", "call_invite"}, {"to", "bob"}, {"timeout_ms", 1000}});
  ASSERT_TRUE(h.core.next_deadline().has_value());
  EXPECT_EQ(*h.core.next_deadline(), h.now + ms_to_us(1000));
  CoreOutput out;
  h.core.on_timer(h.now + ms_to_us(999), out);
  EXPECT_TRUE(out.send.empty());
  h.core.on_timer(h.now + ms_to_us(1000), out);
  h.collect(out, 0);
  EXPECT_EQ(h.last(a)["type"], "call_timeout");
  EXPECT_EQ(h.last(b)["type"], "call_timeout");
  EXPECT_EQ(h.core.call_count(), 0u);
  EXPECT_FALSE(h.core.next_deadline().has_value());
}

TEST(TrackerCore, DisconnectRemovesEveryTraceAfterTheResumeGrace) {
  CoreHarness h;
  auto o = h.open(), v = h.open(), w = h.open();
  h.hello(o, "owner", {{"upload_kbps", 4000}});
  h.hello(v, "v", {{"upload_kbps", 4000}});
  h.hello(w, "w", {{"upload_kbps", 4000}});
  h.send(o, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}});
  h.send(v, {{"type", "join"}, {"stream", "s"}});
  h.send(w, {{"type", "join"}, {"stream", "s"}});
  h.send(w, {{"type", "report"},
             {"partners", {{{"id", "v"}, {"role", "parent"}}}},
             {"stats", {{"lag_ms", 80}}}});
  h.send(v, {{"type", "call_invite"}, {"to", "owner"}});
  auto overlay = h.core.api_overlay("s", "");
  ASSERT_TRUE(overlay);
  EXPECT_NE(overlay->dump().find("\"v\""), std::string::npos);

  CoreOutput out;
  h.core.on_close(v, h.now, out);
  h.collect(out, 0);
  // Within the grace "v" may still resume: nothing is torn down; its partners get a hint.
  EXPECT_TRUE(h.core.has_peer("v"));
  EXPECT_EQ(h.last(w), (json{{"type", "peer_left"}, {"peer_id", "v"}, {"reason", "disconnected"}}));
  EXPECT_EQ(h.core.call_count(), 1u);
  EXPECT_NE(h.core.metrics_text().find("meshcast_peers_detached 1\n"), std::string::npos);
  ASSERT_TRUE(h.core.next_deadline());
  EXPECT_EQ(*h.core.next_deadline(), h.now + ms_to_us(TrackerConfig{}.resume_grace_ms));
  h.now += ms_to_us(TrackerConfig{}.resume_grace_ms);
  out = {};
  h.core.on_timer(h.now, out);
  h.collect(out, 0);
  EXPECT_FALSE(h.core.has_peer("v"));
  EXPECT_EQ(h.last(w), (json{{"type", "peer_left"}, {"peer_id", "v"}}));
  EXPECT_TRUE(h.received(o, "call_ended"));
  EXPECT_EQ(h.core.call_count(), 0u);
  overlay = h.core.api_overlay("s", "");
  EXPECT_EQ(overlay->dump().find("\"v\""), std::string::npos) << overlay->dump();
  EXPECT_NE(h.core.metrics_text().find("meshcast_peers_connected 2\n"), std::string::npos);
  // The owner leaving ends its stream for everyone.
  auto left = h.send(o, {{"type", "leave"}, {"id", 9}});
  EXPECT_EQ(left.at(0)["type"], "leave_ok");
  EXPECT_EQ(h.closed, std::vector<ConnId>{o});
  EXPECT_TRUE(h.received(w, "stream_ended"));
  EXPECT_EQ(h.core.stream_count(), 0u);
  EXPECT_EQ(h.core.peer_count(), 1u);
  EXPECT_NE(h.core.metrics_text().find("meshcast_peers_connected 1\n"), std::string::npos);
}

TEST(TrackerCore, AClaimToPlayRanksNothingConfirmedUploadDoes) {
  TrackerConfig cfg;
  cfg.broadcaster_until_viewers = 0;
  CoreHarness h(cfg);
  h.open_stream();
  std::vector<ConnId> vs;
  for (const char* id : {"fresh", "plays", "new"}) {
    vs.push_back(h.open());
    h.hello(vs.back(), id, {{"upload_kbps", 4000}});
    ASSERT_EQ(h.send(vs.back(), {{"type", "join"}, {"stream", "s"}}).at(0)["type"], "join_ok");
  }
  // The list's first place is the trusted broadcaster; the second is the best viewer.
  auto second = [&] {
    auto n = h.send(vs[2], {{"type", "neighbours"}, {"stream", "s"}, {"max", 2}}).at(0);
    return n["neighbours"].at(1)["peer_id"].get<std::string>();
  };
  // "plays" claims thousands of played segments: no rank for that.
  h.send(vs[1], {{"type", "report"}, {"stats", {{"played", 5000}, {"has_data", 1}}}});
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.insert(second());
  EXPECT_EQ(seen.size(), 2u);  // both are tried in turn, neither preferred
  // "new" reports bytes received from "fresh": fresh is a confirmed relay and comes first.
  h.now += ms_to_us(1000);
  h.send(vs[2], {{"type", "report"},
                 {"partners", {{{"id", "fresh"}, {"role", "parent"}, {"rx_bytes", 100000}}}}});
  h.send(vs[0], {{"type", "report"}});  // its suggestions so far are taken: no load
  auto n = h.send(vs[1], {{"type", "neighbours"}, {"stream", "s"}, {"max", 2}}).at(0);
  EXPECT_EQ(n["neighbours"].at(1)["peer_id"], "fresh");
}

TEST(TrackerCore, LargeStreamsScanARotatingWindow) {
  TrackerConfig cfg;
  cfg.neighbour_scan_limit = 10;
  cfg.broadcaster_until_viewers = 0;
  CoreHarness h(cfg);
  h.open_stream();
  const std::vector<ConnId> vs = h.join_viewers(30);
  ASSERT_FALSE(testing::Test::HasFailure());
  // Successive requests look at successive windows: together they cover the audience.
  std::set<std::string> seen;
  for (int r = 0; r < 4; ++r) {
    auto n = h.send(vs[0], {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}}).at(0);
    ASSERT_EQ(n["type"], "neighbours_ok");
    EXPECT_LE(n["neighbours"].size(), 11u);  // the window, and the owner as the trusted place
    for (auto& x : n["neighbours"])
      if (x["peer_id"] != "src") seen.insert(x["peer_id"].get<std::string>());
  }
  EXPECT_EQ(seen.size(), 29u);  // every other viewer (not the requester)
}

// Members leave in the middle of a round of windows (the member index swap-removes their
// slots): the rest of the round still reaches every remaining viewer, never a departed one,
// and no slot is left pointing at a removed peer.
TEST(TrackerCore, LargeStreamWindowsSurviveLeavesMidRound) {
  TrackerConfig cfg;
  cfg.neighbour_scan_limit = 10;
  cfg.broadcaster_until_viewers = 0;
  cfg.resume_grace_ms = 0;  // a closed connection removes its peer at once
  CoreHarness h(cfg);
  h.open_stream();
  const std::vector<ConnId> vs = h.join_viewers(30);
  ASSERT_FALSE(testing::Test::HasFailure());
  auto ask = [&] {
    auto n = h.send(vs[0], {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}}).at(0);
    EXPECT_EQ(n["type"], "neighbours_ok");
    std::set<std::string> ids;
    for (auto& x : n["neighbours"])
      if (x["peer_id"] != "src") ids.insert(x["peer_id"].get<std::string>());
    h.send(vs[0], {{"type", "report"}});  // its suggestions so far are taken: no load
    return ids;
  };
  std::set<std::string> gone;
  std::set<std::string> seen = ask();
  // Ten viewers leave, some already looked at in this round and some not; one by leave, the
  // others by closing their connections.
  h.send(vs[1], {{"type", "leave"}});
  gone.insert("v101");
  for (int i = 2; i < 30; i += 3) {
    h.close(vs[i]);
    gone.insert("v" + std::to_string(100 + i));
  }
  for (int r = 0; r < 3; ++r)
    for (auto& id : ask()) {
      EXPECT_FALSE(gone.count(id)) << id << " offered after it left";
      seen.insert(id);
    }
  std::set<std::string> remaining;
  for (int i = 1; i < 30; ++i)
    if (!gone.count("v" + std::to_string(100 + i))) remaining.insert("v" + std::to_string(100 + i));
  for (auto& id : remaining) EXPECT_TRUE(seen.count(id)) << id << " never offered";
  for (int r = 0; r < 3; ++r)
    for (auto& id : ask()) EXPECT_FALSE(gone.count(id)) << id << " offered after it left";
  EXPECT_EQ(h.core.member_link_repairs(), 0u);
}

TEST(TrackerCore, RateLimitAndOversize) {
  TrackerConfig cfg;
  cfg.max_rate = 10;
  cfg.burst = 20;
  CoreHarness h(cfg);
  auto a = h.open();
  int ok = 0, limited = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = h.send(a, {{"type", "ping"}});
    if (!r.empty() && r[0]["type"] == "ping_ok") ++ok;
    if (!r.empty() && r[0]["type"] == "error" && r[0]["code"] == "rate_limited") ++limited;
  }
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(limited, 10);
  h.now += ms_to_us(1000);
  EXPECT_EQ(h.send_text(a, std::string(70 * 1024, 'x')).at(0)["code"], "too_large");
  EXPECT_EQ(h.send_text(a, "\x01\x02").at(0)["code"], "bad_json");
  EXPECT_EQ(h.core.metrics().errors("rate_limited"), 10u);
}

TEST(TrackerCore, NeighboursRefreshExcludesAndSpreads) {
  CoreHarness h;
  auto o = h.open();
  h.hello(o, "src", {{"upload_kbps", 3000}});
  h.send(o,
         {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}, {"bitrate_kbps", 1000}});
  std::vector<ConnId> vs;
  for (int i = 0; i < 12; ++i) {
    vs.push_back(h.open());
    h.hello(vs.back(), "v" + std::to_string(i), {{"upload_kbps", 20000}});
    auto r = h.send(vs.back(), {{"type", "join"}, {"stream", "s"}, {"max", 4}}).at(0);
    ASSERT_EQ(r["type"], "join_ok");
    EXPECT_LE(r["neighbours"].size(), 4u);
  }
  // However many viewers declare spare upload, none is trusted yet: the owner keeps the
  // trusted place in every list.
  auto late =
      h.send(vs.back(),
             {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}, {"exclude", {"v0", "v1"}}})
          .at(0);
  ASSERT_EQ(late["type"], "neighbours_ok");
  int owners = 0;
  for (auto& n : late["neighbours"]) {
    owners += n["peer_id"] == "src";
    EXPECT_NE(n["peer_id"], "v0");
    EXPECT_NE(n["peer_id"], "v11");
  }
  EXPECT_EQ(owners, 1);
  // Partners a peer already reported are not offered again.
  h.send(vs[0],
         {{"type", "report"},
          {"partners", {{{"id", "v1"}, {"role", "parent"}}, {{"id", "v2"}, {"role", "pull"}}}}});
  auto fresh = h.send(vs[0], {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}}).at(0);
  ASSERT_EQ(fresh["type"], "neighbours_ok");
  EXPECT_EQ(fresh["neighbours"].size(), 10u);  // 11 other viewers - 2 partners, + the owner
  for (auto& n : fresh["neighbours"]) {
    EXPECT_NE(n["peer_id"], "v1");
    EXPECT_NE(n["peer_id"], "v2");
  }
  auto a = h.open();
  h.hello(a, "outsider");
  EXPECT_EQ(h.send(a, {{"type", "neighbours"}, {"stream", "s"}}).at(0)["code"], "not_member");
}

}  // namespace

// ---- issue: trust nothing a peer says (bounded tracker, private streams) ----------------

namespace {

// An owner per 8 streams (the per-peer cap) creating `n` streams "s000".."s(n-1)", each
// with a codec object of about `pad` bytes so that descriptions are large.
void create_streams(CoreHarness& h, int n, std::size_t pad = 0) {
  for (int i = 0; i < n; ++i) {
    if (i % 8 == 0) h.hello(h.open(), "owner" + std::to_string(i / 8));
    const ConnId owner = h.next - 1;
    char name[16];
    std::snprintf(name, sizeof name, "s%03d", i);
    auto r = h.send(owner, {{"type", "stream_create"},
                            {"name", name},
                            {"public_key", kKey},
                            {"codec", {{"video", "vp8"}, {"note", std::string(pad, 'x')}}}});
    ASSERT_EQ(r.at(0)["type"], "stream_create_ok") << r.at(0);
  }
}

}  // namespace

TEST(TrackerCore, StreamListIsPaginated) {
  CoreHarness h;
  create_streams(h, 120);
  auto v = h.open();
  h.hello(v, "lister");
  std::vector<std::string> seen;
  json req = {{"type", "stream_list"}, {"limit", 50}};
  for (int page = 0; page < 10; ++page) {
    auto r = h.send(v, req).at(0);
    ASSERT_EQ(r["type"], "stream_list_ok") << r;
    EXPECT_LE(r["streams"].size(), 50u);
    for (auto& s : r["streams"]) seen.push_back(s["name"]);
    if (!r.contains("next")) break;
    req["after"] = r["next"];
  }
  ASSERT_EQ(seen.size(), 120u);  // every stream exactly once, in name order
  for (std::size_t i = 0; i < seen.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "s%03zu", i);
    EXPECT_EQ(seen[i], name);
  }
  // Without "limit" a page holds 50 streams.
  EXPECT_EQ(h.send(v, {{"type", "stream_list"}}).at(0)["streams"].size(), 50u);
  // Out-of-range and malformed page parameters are rejected with a clear code.
  EXPECT_EQ(h.send(v, {{"type", "stream_list"}, {"limit", 0}}).at(0)["code"], "bad_field");
  EXPECT_EQ(h.send(v, {{"type", "stream_list"}, {"limit", 101}}).at(0)["code"], "bad_field");
  EXPECT_EQ(h.send(v, {{"type", "stream_list"}, {"after", "bad name!"}}).at(0)["code"],
            "bad_field");
  EXPECT_EQ(h.send(v, {{"type", "stream_list"}, {"after", 7}}).at(0)["code"], "bad_field");
  // The HTTP view pages the same way.
  auto api = h.core.api_streams("", "s049", 100);
  EXPECT_EQ(api["streams"].size(), 70u);
  EXPECT_EQ(api["streams"][0]["name"], "s050");
  EXPECT_FALSE(api.contains("next"));
  EXPECT_EQ(h.core.api_streams("", "", 10)["next"], "s009");
}

TEST(TrackerCore, AttackerPaysForBigRepliesAndHonestPeersKeepWorking) {
  // 56 streams with ~1.8 KB codecs: a page of 50 is ~100 KB for a 22-byte request.
  TrackerConfig cfg;
  cfg.max_rate = 200;
  cfg.burst = 400;
  CoreHarness h(cfg);
  create_streams(h, 56, 1800);
  auto attacker = h.open();
  h.hello(attacker, "attacker");
  auto honest = h.open();
  h.hello(honest, "honest");
  std::size_t bytes = 0;
  int answered = 0, limited = 0;
  for (int i = 0; i < 1000; ++i) {  // all at one instant: no refill
    CoreOutput out;
    h.core.on_text(attacker, R"({"type":"stream_list"})", h.now, out);
    for (auto& [to, text] : out.send) {
      if (to != attacker) continue;
      bytes += text.size();
      answered += text.find("stream_list_ok") != std::string::npos;
      limited += text.find("rate_limited") != std::string::npos;
    }
  }
  // Without cost accounting 400 lists (the burst) would be answered: ~40 MB. Each list now
  // costs ~100 tokens, so the burst buys a handful.
  EXPECT_LE(answered, 5);
  EXPECT_GE(answered, 1);
  EXPECT_LT(bytes, 1'000'000u);
  EXPECT_GT(limited, 0);
  // An honest peer on its own connection is unaffected.
  auto r = h.send(honest, {{"type", "stream_list"}, {"limit", 5}}).at(0);
  EXPECT_EQ(r["type"], "stream_list_ok");
  EXPECT_EQ(h.send(honest, {{"type", "ping"}}).at(0)["type"], "ping_ok");
  // The attacker's debt is paid back at the normal rate, then it is served again.
  h.now += ms_to_us(5000);
  EXPECT_EQ(h.send(attacker, {{"type", "stream_list"}, {"limit", 1}}).at(0)["type"],
            "stream_list_ok");
}

TEST(TrackerCore, CostAccountingOffChargesOneTokenPerRequest) {
  TrackerConfig cfg;
  cfg.burst = 20;
  cfg.reply_bytes_per_token = 0;
  CoreHarness h(cfg);
  create_streams(h, 8, 1800);
  auto v = h.open();
  h.hello(v, "v");  // 1 token
  int ok = 0;
  for (int i = 0; i < 30; ++i)
    ok += h.send(v, {{"type", "stream_list"}}).at(0).value("type", "") == "stream_list_ok";
  EXPECT_EQ(ok, 19);
}

TEST(TrackerCore, PrivateStreamsAreNotListedToOutsiders) {
  CoreHarness h;
  auto o = h.open();
  h.hello(o, "owner", {{"role", "broadcaster"}});
  h.send(o, {{"type", "stream_create"}, {"name", "open"}, {"public_key", kKey}});
  h.send(o, {{"type", "stream_create"},
             {"name", "hidden"},
             {"public_key", kKey},
             {"private", true},
             {"view_key", "sesame-open"}});
  auto x = h.open();
  h.hello(x, "outsider");
  auto list = h.send(x, {{"type", "stream_list"}}).at(0);
  ASSERT_EQ(list["streams"].size(), 1u);
  EXPECT_EQ(list["streams"][0]["name"], "open");
  EXPECT_EQ(h.send(o, {{"type", "stream_list"}}).at(0)["streams"].size(), 2u);  // owner
  // HTTP: only with the key; the overlay answers "none" for both unknown and locked.
  EXPECT_EQ(h.core.api_streams("")["streams"].size(), 1u);
  EXPECT_EQ(h.core.api_streams("sesame-open")["streams"].size(), 2u);
  EXPECT_FALSE(h.core.api_overlay("hidden", "").has_value());
  EXPECT_FALSE(h.core.api_overlay("hidden", "wrong-key-x").has_value());
  EXPECT_FALSE(h.core.api_overlay("nope", "").has_value());
  ASSERT_TRUE(h.core.api_overlay("hidden", "sesame-open").has_value());
}

TEST(TrackerCore, OverlayIsPaginated) {
  CoreHarness h;
  auto o = h.open_stream();
  (void)o;
  for (int i = 0; i < 30; ++i) {
    auto v = h.open();
    char id[16];
    std::snprintf(id, sizeof id, "v%02d", i);
    h.hello(v, id);
    ASSERT_EQ(h.send(v, {{"type", "join"}, {"stream", "s"}}).at(0)["type"], "join_ok");
  }
  auto page = h.core.api_overlay("s", "", "", 10);
  ASSERT_TRUE(page);
  EXPECT_EQ((*page)["peers"].size(), 10u);
  EXPECT_EQ((*page)["viewers"], 30);
  std::size_t total = (*page)["peers"].size();
  while (page->contains("next")) {
    page = h.core.api_overlay("s", "", (*page)["next"].get<std::string>(), 10);
    ASSERT_TRUE(page);
    total += (*page)["peers"].size();
  }
  EXPECT_EQ(total, 31u);  // 30 viewers + the broadcaster
}

TEST(TrackerCore, RotatedViewKeyRemovesMembersWithoutTheNewKey) {
  CoreHarness h;
  auto o = h.open();
  h.hello(o, "owner", {{"role", "broadcaster"}});
  std::string secret = h.send(o, {{"type", "stream_create"},
                                  {"name", "s"},
                                  {"public_key", kKey},
                                  {"private", true},
                                  {"view_key", "old-key-123"}})
                           .at(0)["secret"];
  auto a = h.open(), b = h.open();
  h.hello(a, "alice");
  h.hello(b, "bob");
  ASSERT_EQ(
      h.send(a, {{"type", "join"}, {"stream", "s"}, {"view_key", "old-key-123"}}).at(0)["type"],
      "join_ok");
  ASSERT_EQ(
      h.send(b, {{"type", "join"}, {"stream", "s"}, {"view_key", "old-key-123"}}).at(0)["type"],
      "join_ok");
  ASSERT_EQ(
      h.send(a, {{"type", "relay"}, {"to", "bob"}, {"kind", "offer"}, {"id", 1}}).at(0)["type"],
      "relay_ok");
  // The owner rotates the key.
  auto up = h.send(o, {{"type", "stream_update"}, {"name", "s"}, {"view_key", "new-key-456"}});
  ASSERT_EQ(up.at(0)["type"], "stream_update_ok") << up.at(0);
  EXPECT_EQ(up.at(0)["revoked"], 2);
  EXPECT_EQ(h.last(a)["type"], "stream_access_revoked");
  EXPECT_EQ(h.last(a)["name"], "s");
  EXPECT_EQ(h.last(a)["reason"], "view_key_changed");
  EXPECT_EQ(h.last(b)["type"], "stream_access_revoked");
  // Every request that needs membership now fails for them.
  EXPECT_EQ(h.send(a, {{"type", "neighbours"}, {"stream", "s"}}).at(0)["code"], "not_member");
  EXPECT_EQ(h.send(a, {{"type", "relay"}, {"to", "bob"}, {"kind", "offer"}}).at(0)["code"],
            "not_related");
  EXPECT_EQ(h.send(a, {{"type", "relay"}, {"to", "owner"}, {"kind", "offer"}}).at(0)["code"],
            "not_related");
  EXPECT_EQ(
      h.send(b, {{"type", "join"}, {"stream", "s"}, {"view_key", "old-key-123"}}).at(0)["code"],
      "access_denied");
  EXPECT_EQ(h.send(b, {{"type", "stream_list"}}).at(0)["streams"].size(), 0u);
  EXPECT_EQ(h.core.api_overlay("s", "new-key-456")->at("peers").size(), 1u);  // owner only
  // A holder of the new key joins again and is back in the peer set.
  auto j = h.send(a, {{"type", "join"}, {"stream", "s"}, {"view_key", "new-key-456"}}).at(0);
  ASSERT_EQ(j["type"], "join_ok");
  EXPECT_EQ(j["neighbours"][0]["peer_id"], "owner");
  EXPECT_EQ(h.send(a, {{"type", "neighbours"}, {"stream", "s"}}).at(0)["type"], "neighbours_ok");
  // An update that keeps the key (bitrate only) removes nobody.
  auto keep = h.send(o, {{"type", "stream_update"}, {"name", "s"}, {"bitrate_kbps", 900}});
  EXPECT_EQ(keep.at(0)["revoked"], 0);
  EXPECT_EQ(h.last(a)["type"], "stream_updated");
  // A secret holder rotating keeps itself in; a public stream made private revokes too.
  auto c = h.open();
  h.hello(c, "carol");
  ASSERT_EQ(
      h.send(c, {{"type", "join"}, {"stream", "s"}, {"view_key", "new-key-456"}}).at(0)["type"],
      "join_ok");
  auto by_secret = h.send(c, {{"type", "stream_update"},
                              {"name", "s"},
                              {"secret", secret},
                              {"view_key", "third-key-789"}});
  EXPECT_EQ(by_secret.at(0)["revoked"], 1);  // alice; carol made the change
  EXPECT_EQ(h.send(c, {{"type", "neighbours"}, {"stream", "s"}}).at(0)["type"], "neighbours_ok");
}

TEST(TrackerCore, PublicStreamMadePrivateRevokesViewers) {
  CoreHarness h;
  auto o = h.open_stream();
  auto v = h.open();
  h.hello(v, "viewer");
  ASSERT_EQ(h.send(v, {{"type", "join"}, {"stream", "s"}}).at(0)["type"], "join_ok");
  auto up = h.send(
      o,
      {{"type", "stream_update"}, {"name", "s"}, {"private", true}, {"view_key", "now-secret-1"}});
  EXPECT_EQ(up.at(0)["revoked"], 1);
  EXPECT_TRUE(h.received(v, "stream_access_revoked"));
  EXPECT_EQ(h.send(v, {{"type", "neighbours"}, {"stream", "s"}}).at(0)["code"], "not_member");
}

// ---- session resume -------------------------------------------------------------------------

namespace {
json resume_hello(CoreHarness& h, ConnId c, const std::string& id, const std::string& token) {
  return h.hello(c, id, {{"resume", token}});
}
// "src" (its session token returned) owns stream "s"; "v" has joined it.
struct OwnerAndViewer {
  ConnId o, v;
  std::string token;
};
OwnerAndViewer owner_and_viewer(CoreHarness& h) {
  const ConnId o = h.open(), v = h.open();
  const std::string token = h.hello(o, "src")["token"];
  h.send(o, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}});
  h.hello(v, "v");
  h.send(v, {{"type", "join"}, {"stream", "s"}});
  return {o, v, token};
}
void drop(CoreHarness& h, ConnId c) {
  CoreOutput out;
  h.core.on_close(c, h.now, out);
  h.collect(out, 0);
}
}  // namespace

TEST(TrackerCore, ResumeWithTheTokenKeepsStreamsMembersAndCalls) {
  CoreHarness h;
  const ConnId o = h.open(), v = h.open();
  const std::string token = h.hello(o, "src", {{"upload_kbps", 100000}})["token"];
  h.send(o, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}});
  h.hello(v, "v");
  h.send(v, {{"type", "join"}, {"stream", "s"}});
  drop(h, o);
  h.now += ms_to_us(5000);

  // Away: relays to it fail, newcomers are not sent to it, its viewers are not told.
  EXPECT_EQ(
      h.send(v, {{"type", "relay"}, {"id", 1}, {"to", "src"}, {"kind", "offer"}}).at(0)["code"],
      "peer_offline");
  const ConnId n = h.open();
  h.hello(n, "n");
  auto j = h.send(n, {{"type", "join"}, {"stream", "s"}}).at(0);
  EXPECT_EQ(j["type"], "join_ok");
  EXPECT_EQ(j["neighbours"].dump().find("\"src\""), std::string::npos) << j.dump();
  EXPECT_FALSE(h.received(v, "stream_ended"));
  EXPECT_EQ(h.core.stream_count(), 1u);

  const ConnId o2 = h.open();
  auto r = resume_hello(h, o2, "src", token);
  ASSERT_EQ(r["type"], "hello_ok") << r.dump();
  EXPECT_EQ(r["resumed"], true);
  EXPECT_EQ(r["streams"], json::array({"s"}));
  EXPECT_NE(r["token"], token);  // a token is good for one resume
  EXPECT_EQ(h.core.detached_count(), 0u);
  // Back: relays reach it on the new connection, it still owns the stream.
  h.send(v, {{"type", "relay"}, {"id", 2}, {"to", "src"}, {"kind", "offer"}});
  EXPECT_EQ(h.last(o2)["type"], "relay");
  EXPECT_EQ(h.send(o2, {{"type", "stream_end"}, {"name", "s"}}).at(0)["type"], "stream_end_ok");
  EXPECT_TRUE(h.received(v, "stream_ended"));
}

TEST(TrackerCore, AnotherClientCannotResumeOrTakeADetachedId) {
  CoreHarness h;
  const ConnId o = h.open();
  const std::string token = h.hello(o, "bob")["token"];
  drop(h, o);
  const ConnId m = h.open();
  EXPECT_EQ(resume_hello(h, m, "bob", std::string(32, '0'))["code"], "bad_resume");
  EXPECT_EQ(h.hello(m, "bob")["code"], "duplicate_peer_id");
  // A token for another id does not open this one.
  const ConnId a = h.open();
  const std::string alice_token = h.hello(a, "alice")["token"];
  EXPECT_EQ(resume_hello(h, m, "bob", alice_token)["code"], "bad_resume");
  // The owner's token does; the used token is then worthless.
  const ConnId o2 = h.open();
  EXPECT_EQ(resume_hello(h, o2, "bob", token)["resumed"], true);
  drop(h, o2);
  EXPECT_EQ(resume_hello(h, m, "bob", token)["code"], "bad_resume");
  // resume without the id it belongs to is malformed.
  EXPECT_EQ(h.send(m, {{"type", "hello"}, {"role", "viewer"}, {"resume", token}}).at(0)["code"],
            "missing_field");
}

TEST(TrackerCore, ResumeReplacesAHalfOpenConnection) {
  CoreHarness h;
  const auto [o, v, token] = owner_and_viewer(h);
  // The client saw its socket die before the tracker did, and comes back at once.
  const ConnId o2 = h.open();
  EXPECT_EQ(resume_hello(h, o2, "src", token)["resumed"], true);
  EXPECT_EQ(h.closed, std::vector<ConnId>{o});
  drop(h, o);  // the old socket's close must not detach or remove the resumed peer
  EXPECT_EQ(h.core.detached_count(), 0u);
  EXPECT_EQ(h.core.stream_count(), 1u);
  h.send(v, {{"type", "relay"}, {"id", 3}, {"to", "src"}, {"kind", "offer"}});
  EXPECT_EQ(h.last(o2)["type"], "relay");
}

TEST(TrackerCore, AfterTheGraceStreamsEndAndAResumeStartsAFreshSession) {
  CoreHarness h;
  const auto [o, v, token] = owner_and_viewer(h);
  drop(h, o);
  h.now += ms_to_us(TrackerConfig{}.resume_grace_ms);
  CoreOutput out;
  h.core.on_timer(h.now, out);
  h.collect(out, 0);
  EXPECT_TRUE(h.received(v, "stream_ended"));
  EXPECT_FALSE(h.core.has_peer("src"));
  // A tracker that forgot the session (grace over, or restarted) answers with a fresh one.
  const ConnId o2 = h.open();
  auto r = resume_hello(h, o2, "src", token);
  EXPECT_EQ(r["type"], "hello_ok");
  EXPECT_EQ(r["resumed"], false);
  EXPECT_EQ(r["peer_id"], "src");
}

TEST(TrackerCore, OnlyTheOwnerSecretReclaimsAStream) {
  CoreHarness h;
  const ConnId o = h.open(), v = h.open();
  h.hello(o, "src");
  const std::string secret =
      h.send(o, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}}).at(0)["secret"];
  h.hello(v, "v");
  h.send(v, {{"type", "join"}, {"stream", "s"}});
  drop(h, o);  // the owner's process restarted: no token, but it kept the secret
  const ConnId m = h.open(), o2 = h.open();
  h.hello(m, "mallory");
  EXPECT_EQ(
      h.send(m, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}}).at(0)["code"],
      "stream_exists");
  EXPECT_EQ(h.send(m, {{"type", "stream_create"},
                       {"name", "s"},
                       {"public_key", kKey},
                       {"secret", std::string(32, 'f')}})
                .at(0)["code"],
            "stream_exists");
  h.hello(o2, "src-2");
  auto r =
      h.send(o2,
             {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}, {"secret", secret}})
          .at(0);
  ASSERT_EQ(r["type"], "stream_create_ok") << r.dump();
  EXPECT_EQ(r["reclaimed"], true);
  EXPECT_EQ(r["secret"], secret);
  // The members stayed; the new session owns the stream, and the old one's expiry leaves it be.
  EXPECT_TRUE(h.received(v, "stream_updated"));
  h.now += ms_to_us(TrackerConfig{}.resume_grace_ms);
  CoreOutput out;
  h.core.on_timer(h.now, out);
  h.collect(out, 0);
  EXPECT_FALSE(h.core.has_peer("src"));
  EXPECT_EQ(h.core.stream_count(), 1u);
  EXPECT_FALSE(h.received(v, "stream_ended"));
  EXPECT_EQ(h.send(o2, {{"type", "stream_end"}, {"name", "s"}}).at(0)["type"], "stream_end_ok");
}

TEST(TrackerCore, ZeroGraceForgetsAtOnce) {
  TrackerConfig cfg;
  cfg.resume_grace_ms = 0;
  CoreHarness h(cfg);
  const auto [o, v, token] = owner_and_viewer(h);
  drop(h, o);
  EXPECT_FALSE(h.core.has_peer("src"));
  EXPECT_TRUE(h.received(v, "stream_ended"));
  EXPECT_EQ(resume_hello(h, h.open(), "src", token)["resumed"], false);
}

// ---- identities: written as the squatter ----------------------------------------------------

// These tests look at ids whose session is over: no resume grace, a closed peer is gone.
static TrackerConfig no_grace() {
  TrackerConfig cfg;
  cfg.resume_grace_ms = 0;
  return cfg;
}

TEST(TrackerCore, ABoundIdCannotBeSquattedEvenAfterItsOwnerLeft) {
  CoreHarness h(no_grace());
  const auto bob = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  auto b = h.open();
  ASSERT_EQ(h.hello_as(b, "bob", bob)["type"], "hello_ok");
  h.close(b);
  ASSERT_FALSE(h.core.has_peer("bob"));
  // Mallory's own key, correctly signed: the name is bob's.
  auto m = h.open();
  EXPECT_EQ(h.hello_as(m, "bob", mallory)["code"], "id_taken");
  // No key at all (a raw client): refused as well.
  EXPECT_EQ(h.hello(m, "bob")["code"], "id_taken");
  EXPECT_FALSE(h.core.has_peer("bob"));
  // Mallory may still use a name of her own; bob gets his back with his key.
  EXPECT_EQ(h.hello_as(m, "mallory", mallory)["type"], "hello_ok");
  auto b2 = h.open();
  EXPECT_EQ(h.hello_as(b2, "bob", bob)["type"], "hello_ok");
  // A squatter never receives bob's calls: alice's invitation reaches bob's connection.
  auto a = h.open();
  ASSERT_EQ(h.hello(a, "alice")["type"], "hello_ok");
  h.send(a, {{"type", "call_invite"}, {"to", "bob"}});
  EXPECT_TRUE(h.received(b2, "call_incoming"));
  EXPECT_FALSE(h.received(m, "call_incoming"));
}

TEST(TrackerCore, ForgedAndReplayedProofsAreRefused) {
  CoreHarness h(no_grace());
  const auto bob = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  auto seen = h.open(), m = h.open();
  // A hello bob signed on another connection (recorded and replayed here).
  EXPECT_EQ(h.hello_as(m, "bob", bob, /*nonce_of=*/seen)["code"], "bad_identity");
  // bob's key with mallory's signature.
  json forged = {{"type", "hello"},
                 {"peer_id", "bob"},
                 {"role", "caller"},
                 {"identity_key", bob.public_key_b64()},
                 {"identity_sig", mallory.sign_b64(hello_proof_message(h.nonce[m], "bob"))}};
  EXPECT_EQ(h.send(m, forged).at(0)["code"], "bad_identity");
  // A signature for another id ("bobby") shown for "bob".
  EXPECT_EQ(h.hello_as(m, "bob", bob, 0, "bobby")["code"], "bad_identity");
  // Refusals bound nothing: bob claims his name afterwards, and then it is his.
  EXPECT_FALSE(h.core.has_peer("bob"));
  EXPECT_EQ(h.hello_as(seen, "bob", bob)["type"], "hello_ok");
  h.close(seen);
  EXPECT_EQ(h.hello_as(m, "bob", mallory)["code"], "id_taken");
}

TEST(TrackerCore, KeylessHelloKeepsWorkingForUnboundNamesAndAssignedIds) {
  TrackerConfig cfg = no_grace();
  cfg.max_identities = 1;
  CoreHarness h(cfg);
  const auto k = *IdentityKey::generate(), other = *IdentityKey::generate();
  auto a = h.open(), b = h.open(), c = h.open(), d = h.open();
  EXPECT_EQ(h.hello(a, "tool")["type"], "hello_ok");  // raw tools: nothing bound
  h.close(a);
  auto a2 = h.open();
  EXPECT_EQ(h.hello_as(a2, "tool", k)["type"], "hello_ok");  // first key shown binds it
  // An assigned id signs "" and binds nothing.
  json assigned = {{"type", "hello"},
                   {"role", "viewer"},
                   {"identity_key", other.public_key_b64()},
                   {"identity_sig", other.sign_b64(hello_proof_message(h.nonce[b], ""))}};
  EXPECT_EQ(h.send(b, assigned).at(0)["type"], "hello_ok");
  // The store holds one binding at most: a second name with a key is refused, not dropped.
  EXPECT_EQ(h.hello_as(c, "second", other)["code"], "limit_reached");
  EXPECT_EQ(h.hello(d, "second")["type"], "hello_ok");
}

TEST(TrackerCore, BindingsSurviveARestartWithTheSameDatabase) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("meshcast-ids-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string db = (dir / "identities.db").string();
  const auto bob = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  {
    auto store = IdentityStore::open(db, 100);
    ASSERT_TRUE(store) << store.error();
    CoreHarness h({}, *std::move(store));
    auto b = h.open();
    ASSERT_EQ(h.hello_as(b, "bob", bob)["type"], "hello_ok");
  }
  {
    auto store = IdentityStore::open(db, 100);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->size(), 1u);
    CoreHarness h({}, *std::move(store));
    auto m = h.open(), b = h.open();
    EXPECT_EQ(h.hello_as(m, "bob", mallory)["code"], "id_taken");
    EXPECT_EQ(h.hello(m, "bob")["code"], "id_taken");
    EXPECT_EQ(h.hello_as(b, "bob", bob)["type"], "hello_ok");
  }
  // A fresh in-memory store (no database) knows nothing of it: what a restarted tracker
  // without --identity-db would do.
  CoreHarness fresh;
  auto m = fresh.open();
  EXPECT_EQ(fresh.hello_as(m, "bob", mallory)["type"], "hello_ok");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(TrackerCore, TheKeyHolderTakesOverItsDetachedSessionOthersWait) {
  CoreHarness h;  // default grace: "bob" stays detached after his connection drops
  const auto bob = *IdentityKey::generate(), mallory = *IdentityKey::generate();
  auto b = h.open(), v = h.open();
  ASSERT_EQ(h.hello_as(b, "bob", bob)["type"], "hello_ok");
  h.send(b, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}});
  h.hello(v, "v");
  h.send(v, {{"type", "join"}, {"stream", "s"}});
  h.close(b);  // bob's process died: no leave, no token in the new one
  ASSERT_TRUE(h.core.has_peer("bob"));
  auto m = h.open();
  EXPECT_EQ(h.hello_as(m, "bob", mallory)["code"], "duplicate_peer_id");
  EXPECT_EQ(h.hello(m, "bob")["code"], "duplicate_peer_id");
  EXPECT_FALSE(h.received(v, "stream_ended"));
  // bob again, proving his key: the old session ends (its stream with it) and he is back.
  auto b2 = h.open();
  EXPECT_EQ(h.hello_as(b2, "bob", bob)["type"], "hello_ok");
  EXPECT_TRUE(h.received(v, "stream_ended"));
  EXPECT_EQ(h.core.detached_count(), 0u);
  EXPECT_EQ(h.core.stream_count(), 0u);
}

TEST(TrackerCore, HelloHandsOutTimeLimitedTurnCredentials) {
  TrackerConfig cfg;
  cfg.turn_uris = {"turn:203.0.113.5:3478?transport=udp", "turn:203.0.113.5:3478?transport=tcp"};
  cfg.turn_secret = "s3cr3t";
  cfg.turn_ttl_s = 3600;
  cfg.wall_clock_us = [] { return int64_t(1'700'000'000) * 1'000'000; };
  CoreHarness h(cfg);
  auto r = h.hello(h.open(), "alice");
  ASSERT_EQ(r["type"], "hello_ok");
  ASSERT_EQ(r["ice_servers"].size(), 1u);
  const json& s = r["ice_servers"][0];
  EXPECT_EQ(s["urls"].size(), 2u);
  EXPECT_EQ(s["username"], "1700003600:alice");
  // coturn's check: base64(HMAC-SHA1(secret, username)); this value is what
  // `printf 1700003600:alice | openssl dgst -sha1 -hmac s3cr3t -binary | base64` prints.
  EXPECT_EQ(s["credential"], "mN1PHBuEWsiXFQck8yiVDVXfuas=");
  EXPECT_EQ(s["expires_s"], 1700003600);
  // Without a secret nothing is handed out.
  CoreHarness plain;
  EXPECT_FALSE(plain.hello(plain.open(), "bob").contains("ice_servers"));
}

// ---- issue 17: measure, don't believe (neighbour choice under a sybil crowd) -------------

namespace {

// A stream "s" at 500 kbit/s owned by "src" (room for 4 copies).
ConnId open_measured_stream(CoreHarness& h, const std::string& ip = "198.51.100.1") {
  const ConnId o = h.open(ip);
  h.hello(o, "src", {{"upload_kbps", 2000}, {"role", "broadcaster"}});
  h.send(o,
         {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}, {"bitrate_kbps", 500}});
  return o;
}

ConnId join_viewer(CoreHarness& h, const std::string& id, const std::string& ip,
                   json hello = json::object()) {
  const ConnId c = h.open(ip);
  h.hello(c, id, std::move(hello));
  EXPECT_EQ(h.send(c, {{"type", "join"}, {"stream", "s"}, {"max", 1}}).at(0)["type"], "join_ok");
  return c;
}

// 16 sybils from one /24 that declare 10 Gbit/s, claim to play and to have no children.
std::vector<ConnId> sybil_crowd(CoreHarness& h, int n = 16) {
  std::vector<ConnId> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(join_viewer(h, "sybil" + std::to_string(i), "203.0.113." + std::to_string(10 + i),
                              {{"upload_kbps", 10'000'000}}));
    h.send(out.back(), {{"type", "report"}, {"stream", "s"}, {"stats", {{"played", 500}}}});
  }
  return out;
}

std::vector<std::string> ids_of(const json& reply) {
  std::vector<std::string> ids;
  for (auto& n : reply["neighbours"]) ids.push_back(n["peer_id"].get<std::string>());
  return ids;
}

bool is_sybil(const std::string& id) { return id.rfind("sybil", 0) == 0; }

}  // namespace

TEST(TrackerCore, SybilCrowdDeclaringTenGbitDoesNotTakeEverySlot) {
  CoreHarness h;
  open_measured_stream(h);
  // Four honest relays whose upload their partners confirmed (each received 62.5 KB = one
  // stream second from it), on their own addresses; the reporters are honest viewers too.
  std::vector<ConnId> honest;
  for (int i = 0; i < 6; ++i)
    honest.push_back(join_viewer(h, "h" + std::to_string(i), "192.0." + std::to_string(i) + ".1"));
  auto sybils = sybil_crowd(h);
  h.now += ms_to_us(1000);
  for (int i = 0; i < 4; ++i)
    h.send(honest[size_t(i + 1) % 6],
           {{"type", "report"},
            {"stream", "s"},
            {"partners",
             {{{"id", "h" + std::to_string(i)}, {"role", "parent"}, {"rx_bytes", 62'500}}}}});
  // Suggestions handed out while the crowd joined are taken: nobody is loaded.
  for (auto c : honest) h.send(c, {{"type", "report"}, {"stream", "s"}});
  // Newcomers: every list holds the owner and the confirmed relays rank above every sybil.
  for (int n = 0; n < 12; ++n) {
    const ConnId c = h.open("100.64." + std::to_string(n) + ".1");
    h.hello(c, "new" + std::to_string(n));
    auto r = h.send(c, {{"type", "join"}, {"stream", "s"}, {"max", 8}}).at(0);
    ASSERT_EQ(r["type"], "join_ok");
    auto ids = ids_of(r);
    ASSERT_EQ(ids.size(), 8u);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), "src"), 1) << r.dump();
    const auto sybil_count = std::count_if(ids.begin(), ids.end(), is_sybil);
    EXPECT_LT(sybil_count, 8) << r.dump();
    // One /24 holds all 16 sybils: at most 2 of them per list.
    EXPECT_LE(sybil_count, 2) << r.dump();
    if (n == 0) {
      // The first newcomer: owner, then the 4 confirmed relays, before any sybil.
      for (int i = 0; i < 4; ++i) {
        auto at = std::find(ids.begin(), ids.end(), "h" + std::to_string(i));
        ASSERT_NE(at, ids.end()) << r.dump();
        auto first_sybil = std::find_if(ids.begin(), ids.end(), is_sybil);
        EXPECT_LT(at, first_sybil) << r.dump();
      }
    }
  }
}

TEST(TrackerCore, SybilsOnManyAddressesStillLeaveRoomForTheOwnerAndHonestPeers) {
  // The same crowd, each sybil on its own /24: the group limit does not bind; the clamp on
  // unconfirmed upload does.
  CoreHarness h;
  open_measured_stream(h);
  for (int i = 0; i < 4; ++i)
    join_viewer(h, "h" + std::to_string(i), "192.0." + std::to_string(i) + ".9");
  for (int i = 0; i < 16; ++i) {
    auto c = join_viewer(h, "sybil" + std::to_string(i), "10." + std::to_string(i) + ".0.1",
                         {{"upload_kbps", 10'000'000}});
    h.send(c, {{"type", "report"}, {"stream", "s"}, {"stats", {{"played", 500}}}});
  }
  int honest_slots = 0, sybil_slots = 0;
  for (int n = 0; n < 20; ++n) {
    const ConnId c = h.open("100.64." + std::to_string(n) + ".1");
    h.hello(c, "new" + std::to_string(n));
    auto ids = ids_of(h.send(c, {{"type", "join"}, {"stream", "s"}, {"max", 8}}).at(0));
    EXPECT_EQ(std::count(ids.begin(), ids.end(), "src"), 1);
    for (auto& id : ids) (is_sybil(id) ? sybil_slots : honest_slots) += id != "src";
  }
  // Declared 10 Gbit/s buys a sybil no more than an honest viewer's share: 16 of 20 viewers
  // (plus the earlier newcomers) are sybils, and they got no more than their head count.
  EXPECT_GT(honest_slots, 0);
  EXPECT_LE(sybil_slots, 7 * 20 * 16 / 20);
}

TEST(TrackerCore, OwnerOrATrustedPeerIsInEveryNewcomersList) {
  TrackerConfig cfg;
  cfg.broadcaster_until_viewers = 1;
  cfg.trust_after_ms = 30'000;
  CoreHarness h(cfg);
  open_measured_stream(h);
  auto a = join_viewer(h, "a", "192.0.2.1");
  auto b = join_viewer(h, "b", "192.0.3.1");
  auto c = join_viewer(h, "c", "192.0.4.1");
  sybil_crowd(h);
  // Before anyone is trusted: the owner is in every list, however many sybils there are.
  for (int n = 0; n < 10; ++n) {
    const ConnId x = h.open("100.64." + std::to_string(n) + ".1");
    h.hello(x, "early" + std::to_string(n));
    auto ids = ids_of(h.send(x, {{"type", "join"}, {"stream", "s"}, {"max", 4}}).at(0));
    EXPECT_EQ(std::count(ids.begin(), ids.end(), "src"), 1);
  }
  // "a" stays 30 s and two others confirm its upload: it is trusted, and with one trusted
  // viewer able to take a child the owner is no longer offered (broadcaster_until 1).
  h.now += ms_to_us(31'000);
  for (auto r : {b, c})
    h.send(r, {{"type", "report"},
               {"stream", "s"},
               {"partners", {{{"id", "a"}, {"role", "parent"}, {"rx_bytes", 1'000'000}}}}});
  h.send(a, {{"type", "report"}, {"stream", "s"}});  // no suggestions pending
  for (int n = 0; n < 10; ++n) {
    const ConnId x = h.open("100.65." + std::to_string(n) + ".1");
    h.hello(x, "late" + std::to_string(n));
    auto ids = ids_of(h.send(x, {{"type", "join"}, {"stream", "s"}, {"max", 4}}).at(0));
    const bool has_trusted =
        std::count(ids.begin(), ids.end(), "src") + std::count(ids.begin(), ids.end(), "a") > 0;
    EXPECT_TRUE(has_trusted) << n;
    if (n == 0) {  // "a" has spare: it is the trusted place, and the owner is not offered
      EXPECT_EQ(ids.at(0), "a");
      EXPECT_EQ(std::count(ids.begin(), ids.end(), "src"), 0);
    }
  }
  // Sybils confirming each other do not make one trusted early: they joined just now... and
  // a reporter vouches for at most 2 stream copies, however many bytes it claims.
  h.send(h.next - 1,
         {{"type", "report"},
          {"stream", "s"},
          {"partners", {{{"id", "sybil0"}, {"role", "parent"}, {"rx_bytes", 1LL << 40}}}}});
  auto ov = h.core.api_overlay("s", "", "sybil0", 1);
  ASSERT_TRUE(ov.has_value());
  (void)ov;
  auto all = h.core.api_overlay("s", "", "", 2000);
  for (auto& p : (*all)["peers"])
    if (p["peer_id"] == "sybil0") {
      EXPECT_LE(p["confirmed_kbps"].get<int64_t>(), 1000);
    }
}

TEST(TrackerCore, AtMostTwoPeersPerAddressGroupLoopbackOnlyWhenAsked) {
  for (bool grouped : {false, true}) {
    TrackerConfig cfg;
    cfg.group_loopback = grouped;
    CoreHarness h(cfg);
    open_measured_stream(h);
    for (int i = 0; i < 10; ++i) join_viewer(h, "loop" + std::to_string(i), "127.0.0.1");
    for (int i = 0; i < 10; ++i)
      join_viewer(h, "net" + std::to_string(i), "10.9.8." + std::to_string(i));
    for (int i = 0; i < 3; ++i)
      join_viewer(h, "v6-" + std::to_string(i), "2001:db8:1::" + std::to_string(i + 1));
    const ConnId x = h.open("192.0.2.77");
    h.hello(x, "newcomer");
    auto ids = ids_of(h.send(x, {{"type", "join"}, {"stream", "s"}, {"max", 16}}).at(0));
    auto count = [&](const char* prefix) {
      return std::count_if(ids.begin(), ids.end(),
                           [&](const std::string& id) { return id.rfind(prefix, 0) == 0; });
    };
    EXPECT_EQ(count("net"), 2) << grouped;  // one /24
    EXPECT_EQ(count("v6-"), 2) << grouped;  // one /48
    if (grouped)
      EXPECT_EQ(count("loop"), 2);
    else
      EXPECT_GE(count("loop"), 10 - 0);  // exempt: a local swarm keeps working
  }
  EXPECT_EQ(address_group("10.9.8.7", false), "10.9.8");
  EXPECT_EQ(address_group("::ffff:10.9.8.7", false), "10.9.8");
  EXPECT_EQ(address_group("127.0.0.9", false), "");
  EXPECT_EQ(address_group("::1", true), "127/8");
  EXPECT_EQ(address_group("not an address", true), "");
}

TEST(TrackerCore, ConfirmedRelaysRaiseAPeersStanding) {
  TrackerConfig cfg;
  cfg.group_loopback = true;
  CoreHarness h(cfg);
  open_measured_stream(h);
  auto a = join_viewer(h, "a", "192.0.2.1");
  auto liar = join_viewer(h, "liar", "192.0.3.1", {{"upload_kbps", 10'000'000}});
  h.send(liar, {{"type", "report"}, {"stream", "s"}, {"stats", {{"played", 9999}}}});
  auto same_host = join_viewer(h, "b", "192.0.2.2");  // a's /24
  auto other = join_viewer(h, "c", "192.0.4.1");
  auto second = [&](const std::string& who) {
    const ConnId x = h.open("100.64.0." + std::to_string(h.next));
    h.hello(x, who);
    auto ids = ids_of(h.send(x, {{"type", "join"}, {"stream", "s"}, {"max", 3}}).at(0));
    EXPECT_EQ(ids.at(0), "src");
    // Reset the suggestion counts, so each probe sees the same load.
    for (auto c : {a, liar, same_host, other}) h.send(c, {{"type", "report"}, {"stream", "s"}});
    return ids.at(1);
  };
  h.now += ms_to_us(1000);
  // A peer of a's own /24 saying it received from a does not count.
  h.send(same_host, {{"type", "report"},
                     {"stream", "s"},
                     {"partners", {{{"id", "a"}, {"role", "parent"}, {"rx_bytes", 60'000}}}}});
  EXPECT_NE(second("probe1"), "a");
  // A peer elsewhere confirming it does: "a" now ranks above the 10 Gbit/s liar that claims
  // to play.
  h.send(other, {{"type", "report"},
                 {"stream", "s"},
                 {"partners", {{{"id", "a"}, {"role", "parent"}, {"rx_bytes", 60'000}}}}});
  EXPECT_EQ(second("probe2"), "a");
  EXPECT_EQ(second("probe3"), "a");
  // The confirmation goes with the reporter's next report that no longer names a.
  h.send(other, {{"type", "report"}, {"stream", "s"}, {"partners", json::array()}});
  EXPECT_NE(second("probe4"), "a");
}
