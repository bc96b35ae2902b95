// Drives the sans-IO tracker core directly: deterministic time, no sockets.
#include "signaling/tracker_core.hpp"

#include <gtest/gtest.h>

using namespace meshcast::signaling;
using nlohmann::json;

namespace {

const std::string kKey(64, 'b');

class CoreHarness {
 public:
  explicit CoreHarness(TrackerConfig cfg = {}) : core(cfg) {}
  ConnId open() {
    ConnId id = next++;
    core.on_open(id, now);
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
  // A broadcaster "src" with ample upload and its public stream "s"; returns its connection.
  ConnId open_stream() {
    const ConnId o = open();
    hello(o, "src", {{"upload_kbps", 100000}});
    send(o, {{"type", "stream_create"}, {"name", "s"}, {"public_key", kKey}});
    return o;
  }
  bool received(ConnId conn, const std::string& type) {
    for (auto& j : inbox[conn])
      if (j["type"] == type) return true;
    return false;
  }

  TrackerCore core;
  ConnId next = 1;
  int64_t now = 1000;
  std::map<ConnId, std::vector<json>> inbox;
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
  EXPECT_EQ(*h.core.next_deadline(), h.now + 5000);
  CoreOutput out;
  h.core.on_timer(h.now + 5000, out);
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
  // stream_list hides private details from non-owners.
  auto list = h.send(x, {{"type", "stream_list"}}).at(0);
  EXPECT_EQ(list["streams"][0], (json{{"name", "s"}, {"private", true}}));
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
  EXPECT_EQ(*h.core.next_deadline(), h.now + 1000);
  CoreOutput out;
  h.core.on_timer(h.now + 999, out);
  EXPECT_TRUE(out.send.empty());
  h.core.on_timer(h.now + 1000, out);
  h.collect(out, 0);
  EXPECT_EQ(h.last(a)["type"], "call_timeout");
  EXPECT_EQ(h.last(b)["type"], "call_timeout");
  EXPECT_EQ(h.core.call_count(), 0u);
  EXPECT_FALSE(h.core.next_deadline().has_value());
}

TEST(TrackerCore, DisconnectRemovesEveryTrace) {
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

TEST(TrackerCore, ViewersThatReportPlayingAreSuggestedFirst) {
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
  auto first = [&] {
    auto n = h.send(vs[2], {{"type", "neighbours"}, {"stream", "s"}, {"max", 1}}).at(0);
    return n["neighbours"].at(0)["peer_id"].get<std::string>();
  };
  // "plays" reports played segments; "fresh" has fewer children but nothing to give yet.
  h.send(vs[1], {{"type", "report"}, {"stats", {{"played", 12}}}});
  h.send(vs[0], {{"type", "report"}, {"stats", {{"played", 0}}}});
  EXPECT_EQ(first(), "plays");
  // A report without played segments takes the preference back.
  h.send(vs[1], {{"type", "report"}, {"stats", {{"played", 0}}}});
  h.send(vs[0], {{"type", "report"}, {"stats", {{"played", 3}}}});
  EXPECT_EQ(first(), "fresh");
  // Holding data counts before anything played (a joiner's first stripes).
  h.send(vs[0], {{"type", "report"}, {"stats", {{"played", 0}}}});
  h.send(vs[1], {{"type", "report"}, {"stats", {{"played", 0}, {"has_data", 0}}}});
  EXPECT_NE(first(), "plays");
  h.send(vs[1], {{"type", "report"}, {"stats", {{"played", 0}, {"has_data", 1}}}});
  EXPECT_EQ(first(), "plays");
}

TEST(TrackerCore, LargeStreamsScanARotatingWindow) {
  TrackerConfig cfg;
  cfg.neighbour_scan_limit = 10;
  cfg.broadcaster_until_viewers = 0;
  CoreHarness h(cfg);
  h.open_stream();
  std::vector<ConnId> vs;
  for (int i = 0; i < 30; ++i) {
    vs.push_back(h.open());
    h.hello(vs.back(), "v" + std::to_string(100 + i), {{"upload_kbps", 100000}});
    ASSERT_EQ(h.send(vs.back(), {{"type", "join"}, {"stream", "s"}, {"max", 1}}).at(0)["type"],
              "join_ok");
  }
  // Successive requests look at successive windows: together they cover the audience.
  std::set<std::string> seen;
  for (int r = 0; r < 4; ++r) {
    auto n = h.send(vs[0], {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}}).at(0);
    ASSERT_EQ(n["type"], "neighbours_ok");
    EXPECT_LE(n["neighbours"].size(), 10u);
    for (auto& x : n["neighbours"]) seen.insert(x["peer_id"].get<std::string>());
  }
  EXPECT_EQ(seen.size(), 29u);  // every other viewer (not the requester, not the source)
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
  h.now += 1000;
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
  // With a dozen viewers holding spare upload, late joiners are not sent to the source.
  auto late =
      h.send(vs.back(),
             {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}, {"exclude", {"v0", "v1"}}})
          .at(0);
  ASSERT_EQ(late["type"], "neighbours_ok");
  for (auto& n : late["neighbours"]) {
    EXPECT_NE(n["peer_id"], "src");
    EXPECT_NE(n["peer_id"], "v0");
    EXPECT_NE(n["peer_id"], "v11");
  }
  // Partners a peer already reported are not offered again.
  h.send(vs[0],
         {{"type", "report"},
          {"partners", {{{"id", "v1"}, {"role", "parent"}}, {{"id", "v2"}, {"role", "pull"}}}}});
  auto fresh = h.send(vs[0], {{"type", "neighbours"}, {"stream", "s"}, {"max", 16}}).at(0);
  ASSERT_EQ(fresh["type"], "neighbours_ok");
  EXPECT_EQ(fresh["neighbours"].size(), 9u);  // 11 other viewers - 2 partners
  for (auto& n : fresh["neighbours"]) {
    EXPECT_NE(n["peer_id"], "v1");
    EXPECT_NE(n["peer_id"], "v2");
  }
  auto a = h.open();
  h.hello(a, "outsider");
  EXPECT_EQ(h.send(a, {{"type", "neighbours"}, {"stream", "s"}}).at(0)["code"], "not_member");
}

}  // namespace
