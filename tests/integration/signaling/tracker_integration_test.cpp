// The real tracker (libsoup server) on 127.0.0.1 with an ephemeral port, and several real
// TrackerClients in the same process, all on one GLib main loop.
#include <gtest/gtest.h>
#include <libsoup/soup.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "apps/cli/stats.hpp"
#include "signaling/raw_ws.hpp"
#include "signaling/tracker_client.hpp"
#include "signaling/tracker_server.hpp"
#include "tests/integration/common/tcp_cut_proxy.hpp"

using namespace meshcast::signaling;
using nlohmann::json;

namespace {

const std::string kKey(64, 'c');

// Iterates the default main context until `pred` holds or the (generous) deadline passes.
bool run_until(const std::function<bool()>& pred, int timeout_ms = 5000) {
  guint wake = g_timeout_add(
      10, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
  int64_t end = g_get_monotonic_time() + int64_t(timeout_ms) * 1000;
  bool ok = true;
  while (!pred()) {
    if (g_get_monotonic_time() > end) {
      ok = false;
      break;
    }
    g_main_context_iteration(nullptr, TRUE);
  }
  g_source_remove(wake);
  return ok;
}

void run_for(int ms) {
  int64_t end = g_get_monotonic_time() + int64_t(ms) * 1000;
  run_until([&] { return g_get_monotonic_time() >= end; }, ms + 1000);
}

// A client plus everything it received.
struct Peer {
  explicit Peer(TrackerClientOptions o = {}) : client(o) {
    client.set_on_message([this](const std::string& type, const json& m) {
      events.push_back(m);
      (void)type;
    });
    client.set_on_state([this](ClientState s, const std::string&) { states.push_back(s); });
  }
  bool got(const std::string& type) const {
    for (auto& e : events)
      if (e["type"] == type) return true;
    return false;
  }
  json first(const std::string& type) const {
    for (auto& e : events)
      if (e["type"] == type) return e;
    return json();
  }
  int count(const std::string& type) const {
    int n = 0;
    for (auto& e : events) n += e["type"] == type;
    return n;
  }
  TrackerClient client;
  std::vector<json> events;
  std::vector<ClientState> states;
};

// Runs one request to completion.
Reply await(const std::function<void(ReplyFn)>& start) {
  Reply out;
  bool done = false;
  start([&](const Reply& r) {
    out = r;
    done = true;
  });
  if (!run_until([&] { return done; })) {
    out.ok = false;
    out.code = "test_timeout";
  }
  return out;
}

std::pair<int, std::string> http_get(const std::string& url) {
  static SoupSession* session = soup_session_new();
  SoupMessage* msg = soup_message_new("GET", url.c_str());
  struct Res {
    GBytes* body = nullptr;
    bool done = false;
  } res;
  soup_session_send_and_read_async(
      session, msg, G_PRIORITY_DEFAULT, nullptr,
      [](GObject* src, GAsyncResult* r, gpointer data) {
        auto* res = static_cast<Res*>(data);
        res->body = soup_session_send_and_read_finish(SOUP_SESSION(src), r, nullptr);
        res->done = true;
      },
      &res);
  run_until([&] { return res.done; });
  int status = static_cast<int>(soup_message_get_status(msg));
  std::string body;
  if (res.body) {
    gsize len = 0;
    auto* p = static_cast<const char*>(g_bytes_get_data(res.body, &len));
    body.assign(p, len);
    g_bytes_unref(res.body);
  }
  g_object_unref(msg);
  return {status, body};
}

class TrackerTest : public ::testing::Test {
 protected:
  void start(TrackerServerOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    o.log_level = LogLevel::kError;
    server = std::make_unique<TrackerServer>(o);
    auto started = server->start();
    ASSERT_TRUE(started) << started.error();
    ASSERT_NE(server->port(), 0);
  }
  void SetUp() override { start(); }

  std::unique_ptr<Peer> peer(const std::string& id, const std::string& role = "viewer",
                             json accept_calls = json(), int64_t upload = 4000,
                             TrackerClientOptions o = {}) {
    auto p = std::make_unique<Peer>(o);
    p->client.connect(server->ws_url());
    EXPECT_TRUE(run_until([&] { return p->client.state() == ClientState::kConnected; }));
    Reply r = await([&](ReplyFn f) {
      p->client.hello(
          {.peer_id = id, .role = role, .upload_kbps = upload, .accept_calls = accept_calls}, f);
    });
    EXPECT_TRUE(r.ok) << r.code << " " << r.message;
    EXPECT_EQ(p->client.peer_id(), id);
    return p;
  }

  std::string create(Peer& owner, const std::string& name, bool priv = false,
                     const std::string& key = "") {
    Reply r = await([&](ReplyFn f) {
      owner.client.create_stream({.name = name,
                                  .public_key = kKey,
                                  .codec = {{"video", "vp8"}},
                                  .bitrate_kbps = 800,
                                  .is_private = priv,
                                  .view_key = key},
                                 f);
    });
    EXPECT_TRUE(r.ok) << r.code;
    return r.body.value("secret", "");
  }

  // `n` broadcasters into `owners`, with 8 public streams each whose ~1.8 KB codec makes
  // every listing big for a small request.
  void add_large_streams(int n, std::vector<std::unique_ptr<Peer>>& owners) {
    for (int i = 0; i < n; ++i) {
      owners.push_back(peer("owner" + std::to_string(i), "broadcaster"));
      for (int k = 0; k < 8; ++k) {
        Reply r = await([&](ReplyFn f) {
          owners.back()->client.create_stream(
              {.name = "s" + std::to_string(i * 8 + k),
               .public_key = kKey,
               .codec = {{"video", "vp8"}, {"note", std::string(1800, 'x')}},
               .bitrate_kbps = 1000,
               .is_private = false,
               .view_key = ""},
              f);
        });
        ASSERT_TRUE(r.ok) << r.code;
      }
    }
  }

  std::string metrics() { return http_get(server->http_url() + "/metrics").second; }

  std::unique_ptr<TrackerServer> server;
};

TEST_F(TrackerTest, HttpEndpoints) {
  auto [s1, b1] = http_get(server->http_url() + "/healthz");
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(b1, "ok\n");
  auto [s2, b2] = http_get(server->http_url() + "/");
  EXPECT_EQ(s2, 200);
  EXPECT_NE(b2.find("<html"), std::string::npos);
  EXPECT_NE(metrics().find("meshcast_peers_connected 0"), std::string::npos);
  EXPECT_EQ(http_get(server->http_url() + "/api/streams/nope/overlay").first, 404);
  EXPECT_EQ(http_get(server->http_url() + "/nothing").first, 404);
}

TEST_F(TrackerTest, StreamCreateJoinEnd) {
  auto owner = peer("owner", "broadcaster");
  auto viewer = peer("viewer1");
  create(*owner, "live");
  StreamParams same;
  same.name = "live";
  same.public_key = kKey;
  Reply dup = await([&](ReplyFn f) { viewer->client.create_stream(same, f); });
  EXPECT_EQ(dup.code, "stream_exists");

  Reply list = await([&](ReplyFn f) { viewer->client.list_streams(f); });
  ASSERT_TRUE(list.ok);
  ASSERT_EQ(list.body["streams"].size(), 1u);
  EXPECT_EQ(list.body["streams"][0]["name"], "live");
  EXPECT_EQ(list.body["streams"][0]["codec"]["video"], "vp8");

  Reply j = await([&](ReplyFn f) { viewer->client.join("live", "", f); });
  ASSERT_TRUE(j.ok) << j.code;
  EXPECT_EQ(j.body["public_key"], kKey);
  EXPECT_EQ(j.body["bitrate_kbps"], 800);
  ASSERT_EQ(j.body["neighbours"].size(), 1u);
  EXPECT_EQ(j.body["neighbours"][0]["peer_id"], "owner");
  EXPECT_EQ(j.body["neighbours"][0]["role"], "broadcaster");

  auto api = json::parse(http_get(server->http_url() + "/api/streams").second);
  EXPECT_EQ(api["streams"][0]["viewers"], 1);
  auto overlay = json::parse(http_get(server->http_url() + "/api/streams/live/overlay").second);
  EXPECT_EQ(overlay["peers"].size(), 2u);

  Reply end = await([&](ReplyFn f) { owner->client.end_stream("live", f); });
  EXPECT_TRUE(end.ok);
  EXPECT_TRUE(run_until([&] { return viewer->got("stream_ended"); }));
  EXPECT_EQ(viewer->first("stream_ended")["name"], "live");
  api = json::parse(http_get(server->http_url() + "/api/streams").second);
  EXPECT_TRUE(api["streams"].empty());
  EXPECT_NE(metrics().find("meshcast_streams 0"), std::string::npos);
}

TEST_F(TrackerTest, PrivateStreamNeedsKey) {
  auto owner = peer("owner", "broadcaster");
  auto viewer = peer("viewer1");
  create(*owner, "secret-show", true, "open-sesame-42");
  Reply no = await([&](ReplyFn f) { viewer->client.join("secret-show", "", f); });
  EXPECT_EQ(no.code, "access_denied");
  Reply wrong = await([&](ReplyFn f) { viewer->client.join("secret-show", "open-sesame-43", f); });
  EXPECT_EQ(wrong.code, "access_denied");
  Reply d = await([&](ReplyFn f) { viewer->client.describe_stream("secret-show", "", f); });
  EXPECT_EQ(d.code, "access_denied");
  // Not a member: relaying to the owner is refused too.
  Reply rel = await([&](ReplyFn f) { viewer->client.relay("owner", "offer", {{"sdp", "x"}}, f); });
  EXPECT_EQ(rel.code, "not_related");

  // Outsiders cannot tell a private stream from none: not listed, and the overlay answers
  // exactly as for an unknown name.
  auto api = json::parse(http_get(server->http_url() + "/api/streams").second);
  EXPECT_TRUE(api["streams"].empty()) << api;
  auto hidden = http_get(server->http_url() + "/api/streams/secret-show/overlay");
  auto none = http_get(server->http_url() + "/api/streams/no-such-show/overlay");
  EXPECT_EQ(hidden.first, 404);
  EXPECT_EQ(hidden, none);
  EXPECT_EQ(http_get(server->http_url() + "/api/streams/secret-show/overlay?key=wrong-key-1"),
            none);

  Reply ok = await([&](ReplyFn f) { viewer->client.join("secret-show", "open-sesame-42", f); });
  ASSERT_TRUE(ok.ok) << ok.code;
  EXPECT_EQ(ok.body["neighbours"][0]["peer_id"], "owner");
  api = json::parse(http_get(server->http_url() + "/api/streams?key=open-sesame-42").second);
  EXPECT_EQ(api["streams"][0]["owner"], "owner");
  auto overlay = json::parse(
      http_get(server->http_url() + "/api/streams/secret-show/overlay?key=open-sesame-42").second);
  EXPECT_EQ(overlay["peers"].size(), 2u);
}

TEST_F(TrackerTest, NonOwnerCannotEndOrUpdate) {
  auto owner = peer("owner", "broadcaster");
  auto other = peer("mallory");
  std::string secret = create(*owner, "live");
  Reply j = await([&](ReplyFn f) { other->client.join("live", "", f); });
  ASSERT_TRUE(j.ok);
  Reply end = await([&](ReplyFn f) { other->client.end_stream("live", f); });
  EXPECT_EQ(end.code, "not_owner");
  Reply upd = await([&](ReplyFn f) {
    other->client.update_stream("live", {{"bitrate_kbps", 1}}, f);
  });
  EXPECT_EQ(upd.code, "not_owner");
  Reply own = await([&](ReplyFn f) {
    owner->client.update_stream("live", {{"bitrate_kbps", 1200}}, f);
  });
  ASSERT_TRUE(own.ok) << own.code;
  EXPECT_TRUE(run_until([&] { return other->got("stream_updated"); }));
  EXPECT_EQ(other->first("stream_updated")["stream"]["bitrate_kbps"], 1200);
  EXPECT_EQ(server->core().stream_count(), 1u);
  EXPECT_FALSE(secret.empty());
}

TEST_F(TrackerTest, RelayBetweenStreamMembersOnly) {
  auto owner = peer("owner", "broadcaster");
  auto a = peer("a");
  auto b = peer("b");
  auto stranger = peer("stranger");
  create(*owner, "live");
  ASSERT_TRUE(await([&](ReplyFn f) { a->client.join("live", "", f); }).ok);
  ASSERT_TRUE(await([&](ReplyFn f) { b->client.join("live", "", f); }).ok);
  Reply r = await([&](ReplyFn f) { a->client.relay("b", "offer", {{"sdp", "v=0"}}, f); });
  EXPECT_TRUE(r.ok) << r.code;
  ASSERT_TRUE(run_until([&] { return b->got("relay"); }));
  EXPECT_EQ(
      b->first("relay"),
      (json{{"type", "relay"}, {"from", "a"}, {"kind", "offer"}, {"payload", {{"sdp", "v=0"}}}}));
  Reply s = await([&](ReplyFn f) { stranger->client.relay("a", "offer", {}, f); });
  EXPECT_EQ(s.code, "not_related");
  Reply off = await([&](ReplyFn f) { a->client.relay("ghost", "offer", {}, f); });
  EXPECT_EQ(off.code, "peer_offline");
  run_for(50);
  EXPECT_FALSE(a->got("relay"));
}

TEST_F(TrackerTest, CallAcceptedRelayOnlyAfterAccept) {
  auto alice = peer("alice", "caller");
  auto bob = peer("bob", "caller");
  Reply inv = await([&](ReplyFn f) { alice->client.call_invite("bob", f); });
  ASSERT_TRUE(inv.ok) << inv.code;
  std::string cid = inv.body["call_id"];
  ASSERT_TRUE(run_until([&] { return bob->got("call_incoming") && alice->got("call_ringing"); }));
  EXPECT_EQ(bob->first("call_incoming")["from"], "alice");
  EXPECT_EQ(bob->first("call_incoming")["call_id"], cid);

  Reply early = await([&](ReplyFn f) { alice->client.relay("bob", "offer", {{"sdp", "1"}}, f); });
  EXPECT_EQ(early.code, "not_related");
  run_for(50);
  EXPECT_FALSE(bob->got("relay"));

  Reply acc = await([&](ReplyFn f) { bob->client.call_accept(cid, f); });
  ASSERT_TRUE(acc.ok) << acc.code;
  ASSERT_TRUE(run_until([&] { return alice->got("call_accepted"); }));
  Reply late = await([&](ReplyFn f) { alice->client.relay("bob", "offer", {{"sdp", "2"}}, f); });
  EXPECT_TRUE(late.ok);
  ASSERT_TRUE(run_until([&] { return bob->got("relay"); }));
  EXPECT_EQ(bob->first("relay")["payload"]["sdp"], "2");
  Reply back = await([&](ReplyFn f) { bob->client.relay("alice", "answer", {{"sdp", "3"}}, f); });
  EXPECT_TRUE(back.ok);

  Reply hang = await([&](ReplyFn f) { alice->client.call_hangup(cid, f); });
  EXPECT_TRUE(hang.ok);
  ASSERT_TRUE(run_until([&] { return bob->got("call_ended"); }));
  Reply after = await([&](ReplyFn f) { alice->client.relay("bob", "bye", {}, f); });
  EXPECT_EQ(after.code, "not_related");
}

TEST_F(TrackerTest, CallDeclinedRefusedAndOffline) {
  auto alice = peer("alice", "caller");
  auto bob = peer("bob", "caller", json::array({"alice"}));
  auto carol = peer("carol", "caller", "none");
  Reply inv = await([&](ReplyFn f) { alice->client.call_invite("bob", f); });
  ASSERT_TRUE(inv.ok);
  ASSERT_TRUE(run_until([&] { return bob->got("call_incoming"); }));
  Reply dec = await([&](ReplyFn f) { bob->client.call_decline(inv.body["call_id"], "busy", f); });
  EXPECT_TRUE(dec.ok);
  ASSERT_TRUE(run_until([&] { return alice->got("call_declined"); }));
  EXPECT_EQ(alice->first("call_declined")["reason"], "busy");

  EXPECT_EQ(await([&](ReplyFn f) { alice->client.call_invite("carol", f); }).code, "call_refused");
  EXPECT_EQ(await([&](ReplyFn f) { carol->client.call_invite("bob", f); }).code, "call_refused");
  EXPECT_EQ(await([&](ReplyFn f) { alice->client.call_invite("nobody", f); }).code, "peer_offline");

  // Caller cancels a ringing call.
  Reply inv2 = await([&](ReplyFn f) { alice->client.call_invite("bob", f); });
  ASSERT_TRUE(inv2.ok);
  EXPECT_TRUE(await([&](ReplyFn f) { alice->client.call_cancel(inv2.body["call_id"], f); }).ok);
  ASSERT_TRUE(run_until([&] { return bob->got("call_cancelled"); }));
  EXPECT_EQ(server->core().call_count(), 0u);
}

TEST_F(TrackerTest, CallNeverAnsweredTimesOut) {
  auto alice = peer("alice", "caller");
  auto bob = peer("bob", "caller");
  Reply inv = await([&](ReplyFn f) { alice->client.call_invite("bob", f, 1000); });
  ASSERT_TRUE(inv.ok);
  EXPECT_TRUE(
      run_until([&] { return alice->got("call_timeout") && bob->got("call_timeout"); }, 10000));
  EXPECT_EQ(alice->first("call_timeout")["call_id"], inv.body["call_id"]);
  EXPECT_EQ(await([&](ReplyFn f) { bob->client.call_accept(inv.body["call_id"], f); }).code,
            "no_such_call");
}

TEST_F(TrackerTest, LeaveAndDisconnectRemoveEveryTrace) {
  server.reset();
  TrackerServerOptions o;
  o.core.resume_grace_ms = 300;  // a dropped peer is forgotten once it can no longer resume
  start(o);
  auto owner = peer("owner", "broadcaster");
  auto a = peer("leaver-a");
  auto b = peer("dropper-b");
  auto c = peer("watcher-c");
  create(*owner, "live");
  for (auto* p : {a.get(), b.get(), c.get()})
    ASSERT_TRUE(await([&](ReplyFn f) { p->client.join("live", "", f); }).ok);
  c->client.report({{"leaver-a", "parent"}, {"dropper-b", "pull"}}, {{"lag_ms", 90}}, "live");
  ASSERT_TRUE(await([&](ReplyFn f) { c->client.ping(f); }).ok);  // report processed
  std::string overlay = http_get(server->http_url() + "/api/streams/live/overlay").second;
  EXPECT_NE(overlay.find("leaver-a"), std::string::npos);
  EXPECT_NE(overlay.find("\"lag_ms\":90"), std::string::npos);
  EXPECT_NE(metrics().find("meshcast_peers_connected 4"), std::string::npos);

  Reply l = await([&](ReplyFn f) { a->client.leave(f); });
  EXPECT_TRUE(l.ok);
  ASSERT_TRUE(run_until([&] { return a->client.state() == ClientState::kDisconnected; }));
  ASSERT_TRUE(run_until([&] { return c->count("peer_left") == 1; }));
  b->client.close();  // abrupt: no leave message; detached (a hint), removed after the grace
  ASSERT_TRUE(run_until([&] { return c->count("peer_left") == 3; }));
  ASSERT_TRUE(run_until([&] { return server->core().connection_count() == 2; }));

  overlay = http_get(server->http_url() + "/api/streams/live/overlay").second;
  EXPECT_EQ(overlay.find("leaver-a"), std::string::npos) << overlay;
  EXPECT_EQ(overlay.find("dropper-b"), std::string::npos) << overlay;
  std::string m = metrics();
  EXPECT_NE(m.find("meshcast_peers_connected 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("meshcast_connections 2\n"), std::string::npos) << m;
  EXPECT_FALSE(server->core().has_peer("leaver-a"));
  EXPECT_FALSE(server->core().has_peer("dropper-b"));

  // The owner going away ends the stream for the rest.
  owner->client.close();
  ASSERT_TRUE(run_until([&] { return c->got("stream_ended"); }));
  EXPECT_EQ(c->first("stream_ended")["reason"], "owner_left");
  EXPECT_NE(metrics().find("meshcast_streams 0"), std::string::npos);
  // The freed id can be registered again, by its key; another key cannot take it.
  TrackerClientOptions same;
  same.identity = a->client.identity();
  auto again = peer("leaver-a", "viewer", json(), 4000, same);
  EXPECT_TRUE(server->core().has_peer("leaver-a"));
  again->client.close();
  ASSERT_TRUE(run_until([&] { return !server->core().has_peer("leaver-a"); }));
  Peer squatter;
  squatter.client.connect(server->ws_url());
  ASSERT_TRUE(run_until([&] { return squatter.client.state() == ClientState::kConnected; }));
  HelloParams h;
  h.peer_id = "leaver-a";
  Reply r = await([&](ReplyFn f) { squatter.client.hello(h, f); });
  EXPECT_EQ(r.code, "id_taken") << r.message;
}

// Raw WebSocket for frames the typed client never sends.
struct RawWs {
  SoupWebsocketConnection* ws = nullptr;
  std::vector<std::string> received;
  std::string nonce;
  bool closed = false;
  explicit RawWs(const std::string& url) {
    static SoupSession* session = soup_session_new();
    SoupMessage* msg = soup_message_new("GET", url.c_str());
    bool done = false;
    struct Ctx {
      RawWs* self;
      bool* done;
    } ctx{this, &done};
    soup_session_websocket_connect_async(
        session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
        [](GObject* src, GAsyncResult* res, gpointer data) {
          auto* c = static_cast<Ctx*>(data);
          auto* ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, nullptr);
          c->self->ws = ws;
          *c->done = true;
          if (!ws) return;
          // Listen at once: the tracker's welcome may already be on its way.
          soup_websocket_connection_set_max_incoming_payload_size(ws, 0);
          g_signal_connect(ws, "message",
                           G_CALLBACK(+[](SoupWebsocketConnection*, gint, GBytes* b, gpointer d) {
                             gsize n = 0;
                             auto* p = static_cast<const char*>(g_bytes_get_data(b, &n));
                             static_cast<RawWs*>(d)->received.emplace_back(p, n);
                           }),
                           c->self);
          g_signal_connect(ws, "closed", G_CALLBACK(+[](SoupWebsocketConnection*, gpointer d) {
                             static_cast<RawWs*>(d)->closed = true;
                           }),
                           c->self);
        },
        &ctx);
    run_until([&] { return done; });
    g_object_unref(msg);
    if (!ws) return;
    // The first frame is the welcome with this connection's nonce; tests count what follows.
    run_until([&] { return !received.empty(); });
    if (!received.empty() && json::parse(received.front())["type"] == "welcome") {
      nonce = json::parse(received.front())["nonce"];
      received.erase(received.begin());
    }
  }
  ~RawWs() {
    if (!ws) return;
    g_signal_handlers_disconnect_by_data(ws, this);
    if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws, 1000, nullptr);
    g_object_unref(ws);
  }
  void send(const std::string& text) { soup_websocket_connection_send_text(ws, text.c_str()); }
  json last() { return received.empty() ? json() : json::parse(received.back()); }
};

TEST_F(TrackerTest, MalformedOversizeAndFloodAreAnsweredAndServerSurvives) {
  RawWs raw(server->ws_url());
  ASSERT_NE(raw.ws, nullptr);
  raw.send("this is not json");
  ASSERT_TRUE(run_until([&] { return raw.received.size() == 1; }));
  EXPECT_EQ(raw.last()["code"], "bad_json");
  raw.send(R"({"type":"warp","id":"q1"})");
  ASSERT_TRUE(run_until([&] { return raw.received.size() == 2; }));
  EXPECT_EQ(raw.last()["code"], "unknown_type");
  EXPECT_EQ(raw.last()["ref_id"], "q1");
  raw.send(R"({"type":"stream_list","id":3})");
  ASSERT_TRUE(run_until([&] { return raw.received.size() == 3; }));
  EXPECT_EQ(raw.last()["code"], "not_registered");
  // 80 KiB: over the 64 KiB protocol limit, answered with an error, connection kept.
  raw.send(R"({"type":"ping","pad":")" + std::string(80 * 1024, 'x') + "\"}");
  ASSERT_TRUE(run_until([&] { return raw.received.size() == 4; }));
  EXPECT_EQ(raw.last()["code"], "too_large");
  raw.send(R"({"type":"ping","id":4})");
  ASSERT_TRUE(run_until([&] { return raw.received.size() == 5; }));
  EXPECT_EQ(raw.last()["type"], "ping_ok");
  // 1 MiB: beyond what the server reads at all; it closes the connection (1009).
  raw.send(std::string(1024 * 1024, 'y'));
  EXPECT_TRUE(run_until([&] { return raw.closed; }));

  // The server still works for others.
  auto p = peer("survivor");
  EXPECT_EQ(http_get(server->http_url() + "/healthz").second, "ok\n");
  std::string m = metrics();
  EXPECT_NE(m.find("meshcast_errors_total{code=\"too_large\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("meshcast_errors_total{code=\"bad_json\"} 1"), std::string::npos) << m;
}

// Plain WebSockets are served by the tracker's own framing after libsoup's upgrade. As an
// attacker with a raw socket: frames sent before the 101 arrives are answered; a frame
// without a mask (clients must mask) or a close frame ends the connection with a close
// frame and then EOF; the server keeps serving everyone else.
TEST_F(TrackerTest, RawClientsFramesEarlyUnmaskedAndClosingAreHandled) {
  namespace raw = meshcast::signaling::raw;
  const uint16_t port = server->port();
  auto pump = [] { g_main_context_iteration(nullptr, FALSE); };
  auto welcome_then = [&](int fd) { return raw::read_text(fd, 5000, pump); };

  int early = raw::connect_loopback(port, 0, 5000, pump);
  ASSERT_GE(early, 0);
  ASSERT_TRUE(
      raw::handshake(early, port, 5000, pump, raw::text_frame(R"({"type":"ping","id":"early"})")));
  auto w = welcome_then(early);
  ASSERT_TRUE(w);
  EXPECT_EQ(json::parse(*w)["type"], "welcome");
  auto pong = raw::read_text(early, 5000, pump);
  ASSERT_TRUE(pong) << "the frame sent behind the request was lost";
  EXPECT_EQ(json::parse(*pong)["type"], "ping_ok");
  EXPECT_EQ(json::parse(*pong)["id"], "early") << *pong;

  // Unmasked: the server sends close (1002) and drops the connection.
  int unmasked = raw::connect_loopback(port, 0, 5000, pump);
  ASSERT_GE(unmasked, 0);
  ASSERT_TRUE(raw::handshake(unmasked, port, 5000, pump));
  ASSERT_TRUE(welcome_then(unmasked));
  std::string bad = raw::text_frame(R"({"type":"ping","id":1})");
  bad[1] = static_cast<char>(bad[1] & 0x7F);  // clear the mask bit, keep the (now payload) key
  ASSERT_TRUE(raw::send_all(unmasked, bad, 5000, pump));
  EXPECT_FALSE(raw::read_text(unmasked, 5000, pump)) << "an unmasked frame was answered";
  EXPECT_TRUE(run_until([&] { return raw::closed_by_peer(unmasked); }));

  // The client closes: the server answers with its own close frame, then EOF.
  int closer = raw::connect_loopback(port, 0, 5000, pump);
  ASSERT_GE(closer, 0);
  ASSERT_TRUE(raw::handshake(closer, port, 5000, pump));
  ASSERT_TRUE(welcome_then(closer));
  const char key[4] = {1, 2, 3, 4};
  std::string close_frame = {char(0x88), char(0x82)};
  close_frame.append(key, 4);
  close_frame.push_back(char(0x03 ^ 1));  // 1000, masked
  close_frame.push_back(char(0xE8 ^ 2));
  ASSERT_TRUE(raw::send_all(closer, close_frame, 5000, pump));
  unsigned char head[2] = {0, 0};
  ASSERT_TRUE(run_until([&] { return ::recv(closer, head, 2, MSG_DONTWAIT | MSG_PEEK) == 2; }));
  EXPECT_EQ(head[0], 0x88) << "no close frame came back";
  EXPECT_TRUE(run_until([&] { return raw::closed_by_peer(closer); }));
  ASSERT_TRUE(run_until([&] { return server->tcp_connections() == 1; }))
      << server->tcp_connections() << " still counted";

  for (int fd : {early, unmasked, closer}) ::close(fd);
  auto p = peer("after");
  EXPECT_TRUE(p->got("welcome") || p->client.state() == ClientState::kConnected);
  EXPECT_EQ(http_get(server->http_url() + "/healthz").second, "ok\n");
}

TEST_F(TrackerTest, RateLimitedPeerGetsErrors) {
  server.reset();
  TrackerServerOptions o;
  o.core.max_rate = 20;
  o.core.burst = 40;
  start(o);
  auto p = peer("flooder");
  int limited = 0;
  p->client.on("error", [&](const json& e) { limited += e["code"] == "rate_limited"; });
  for (int i = 0; i < 200; ++i) p->client.send({{"type", "ping"}});
  EXPECT_TRUE(run_until([&] { return limited >= 20; }));
  run_for(1200);  // the bucket refills
  Reply r = await([&](ReplyFn f) { p->client.ping(f); });
  EXPECT_TRUE(r.ok) << r.code;
  EXPECT_NE(metrics().find("meshcast_errors_total{code=\"rate_limited\"}"), std::string::npos);
  auto q = peer("bystander");
  EXPECT_TRUE(await([&](ReplyFn f) { q->client.ping(f); }).ok);
}

TEST_F(TrackerTest, ClientReconnectsWithBackoffThenFails) {
  TrackerClientOptions o;
  o.max_reconnect_attempts = 2;
  o.initial_backoff_ms = 50;
  Peer p(o);
  std::string url = server->ws_url();
  server.reset();  // nobody listens on that port any more
  p.client.connect(url);
  ASSERT_TRUE(run_until([&] { return p.client.state() == ClientState::kFailed; }, 10000));
  int connecting = 0;
  for (auto s : p.states) connecting += s == ClientState::kConnecting;
  EXPECT_EQ(connecting, 3);  // first try + 2 retries
  Reply r = await([&](ReplyFn f) { p.client.ping(f); });
  EXPECT_EQ(r.code, "not_connected");
}

TEST_F(TrackerTest, ClientReconnectsAfterServerDrop) {
  TrackerClientOptions o;
  o.initial_backoff_ms = 50;
  auto p = peer("phoenix", "viewer", json(), 0, o);
  uint16_t port = server->port();
  Reply pending;
  bool done = false;
  p->client.call_invite("nobody-yet", [&](const Reply& r) { pending = r, done = true; });
  server.reset();  // drops the connection
  TrackerServerOptions so;
  so.port = port;
  so.log_level = LogLevel::kError;
  server = std::make_unique<TrackerServer>(so);
  auto started = server->start();
  ASSERT_TRUE(started) << started.error();
  ASSERT_TRUE(run_until([&] { return done; }));
  ASSERT_TRUE(run_until([&] { return p->client.state() == ClientState::kConnected; }, 10000));
  HelloParams hp;
  hp.peer_id = "phoenix";
  Reply r = await([&](ReplyFn f) { p->client.hello(hp, f); });
  EXPECT_TRUE(r.ok) << r.code;
}

// A tracker host that vanishes (crash, cut cable) sends no FIN or RST: the connection stays
// "open" for TCP. The client must notice from the missing pongs, drop it and reconnect; the
// tracker, still holding the half-open connection, lets it resume its session.
TEST_F(TrackerTest, ClientDropsASilentConnectionAndResumes) {
  meshcast::testing::TcpCutProxy proxy(server->port());
  ASSERT_NE(proxy.port(), 0);
  TrackerClientOptions o;
  o.keepalive_s = 1;
  o.silence_timeout_s = 3;
  o.initial_backoff_ms = 50;
  Peer p(o);
  HelloParams hp;
  hp.peer_id = "quiet";
  std::vector<std::string> reasons;
  p.client.set_on_state([&](ClientState s, const std::string& why) {
    p.states.push_back(s);
    if (s == ClientState::kDisconnected) reasons.push_back(why);
  });
  p.client.connect("ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws");
  ASSERT_TRUE(run_until([&] { return p.client.state() == ClientState::kConnected; }));
  ASSERT_TRUE(await([&](ReplyFn f) { p.client.hello(hp, f); }).ok);
  // Quiet but alive (pongs come back): longer than the silence timeout, nothing is dropped.
  run_for(4500);
  EXPECT_EQ(p.client.state(), ClientState::kConnected);
  EXPECT_TRUE(reasons.empty()) << reasons.front();

  proxy.freeze();
  ASSERT_TRUE(run_until([&] { return !reasons.empty(); }, 15000)) << "the dead link was kept";
  EXPECT_NE(reasons.front().find("no answer from the tracker for 3 s"), std::string::npos)
      << reasons.front();
  // The retry state shows while it reconnects, then the session comes back.
  ASSERT_TRUE(run_until([&] { return p.client.state() == ClientState::kConnected; }, 10000));
  EXPECT_GE(proxy.accepted(), 2);
  Reply r = await([&](ReplyFn f) { p.client.hello(hp, f); });
  ASSERT_TRUE(r.ok) << r.code << " " << r.message;
  EXPECT_TRUE(p.client.resumed());
  EXPECT_EQ(p.client.reconnect_attempts(), 0);
}

// A connect to a host that takes the TCP connection but never answers the WebSocket handshake
// (or, across the internet, a crashed host whose SYNs go unanswered) ends each attempt after
// connect_timeout_ms; the retries and the final failure follow as for a refused connect.
TEST_F(TrackerTest, ConnectToASilentHostTimesOutAndRetries) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 8), 0);  // never accepted: the kernel completes the handshakes, no more
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  TrackerClientOptions o;
  o.connect_timeout_ms = 300;
  o.max_reconnect_attempts = 1;
  o.initial_backoff_ms = 50;
  Peer p(o);
  std::string failed;
  p.client.set_on_state([&](ClientState s, const std::string& why) {
    p.states.push_back(s);
    if (s == ClientState::kFailed) failed = why;
  });
  p.client.connect("ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/ws");
  const bool ended = run_until([&] { return p.client.state() == ClientState::kFailed; }, 10000);
  close(fd);
  ASSERT_TRUE(ended) << "a silent host kept the client connecting";
  EXPECT_NE(failed.find("no answer from the tracker within 300 ms"), std::string::npos) << failed;
  int connecting = 0;
  for (auto s : p.states) connecting += s == ClientState::kConnecting;
  EXPECT_EQ(connecting, 2);  // first try + 1 retry
}

// A server that answers the WebSocket handshake, sends a close frame and then keeps the TCP
// connection open: the client's socket sits in CLOSING, where libsoup refuses every send with
// a critical, while the "closed" signal (and the client's own state) has not moved yet.
class CloseAndHoldServer {
 public:
  CloseAndHoldServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 1) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CloseAndHoldServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    if (conn_fd_ >= 0) shutdown(conn_fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (conn_fd_ >= 0) close(conn_fd_);
    close(listen_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    conn_fd_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn_fd_ < 0) return;
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
      ssize_t n = read(conn_fd_, buf, sizeof buf);
      if (n <= 0) return;
      req.append(buf, size_t(n));
    }
    const std::string field = "Sec-WebSocket-Key: ";
    std::size_t at = req.find(field);
    if (at == std::string::npos) return;
    at += field.size();
    std::string key =
        req.substr(at, req.find("\r\n", at) - at) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    GChecksum* sha = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(sha, reinterpret_cast<const guchar*>(key.data()), gssize(key.size()));
    guint8 digest[20];
    gsize dlen = sizeof digest;
    g_checksum_get_digest(sha, digest, &dlen);
    g_checksum_free(sha);
    gchar* accept = g_base64_encode(digest, dlen);
    std::string resp = std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n") +
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n";
    g_free(accept);
    const unsigned char close_frame[] = {0x88, 0x02, 0x03, 0xE8};  // FIN|close, code 1000
    resp.append(reinterpret_cast<const char*>(close_frame), sizeof close_frame);
    if (write(conn_fd_, resp.data(), resp.size()) != ssize_t(resp.size())) return;
    while (read(conn_fd_, buf, sizeof buf) > 0) {
    }  // holds the connection until the client or the destructor ends it
  }

  int listen_fd_ = -1;
  int conn_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(TrackerTest, SendingWhileTheServerClosesIsRefusedNotACritical) {
  CloseAndHoldServer fake;
  ASSERT_NE(fake.port(), 0);
  int criticals = 0;
  guint handler = g_log_set_handler(
      "libsoup", GLogLevelFlags(G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL),
      [](const gchar*, GLogLevelFlags, const gchar*, gpointer n) { ++*static_cast<int*>(n); },
      &criticals);
  TrackerClientOptions o;
  o.max_reconnect_attempts = 0;
  Peer p(o);
  p.client.connect("ws://127.0.0.1:" + std::to_string(fake.port()) + "/ws");
  ASSERT_TRUE(run_until([&] { return p.client.state() == ClientState::kConnected; }));
  // The close frame arrives right behind the handshake; libsoup answers it and then waits
  // (seconds) for the server to end the TCP connection, so the client still says connected.
  run_for(300);
  ASSERT_EQ(p.client.state(), ClientState::kConnected);
  EXPECT_FALSE(p.client.send(json{{"type", "ping"}}));
  std::string code;
  p.client.ping([&](const Reply& r) { code = r.code; });
  EXPECT_EQ(code, "not_connected");
  g_log_remove_handler("libsoup", handler);
  EXPECT_EQ(criticals, 0) << "a send reached a socket that is no longer open";
}

TEST_F(TrackerTest, ManyClientsConnectAtOnceAndGetSpreadNeighbours) {
  auto owner = peer("owner", "broadcaster");
  create(*owner, "live");
  constexpr int kN = 40;
  std::vector<std::unique_ptr<Peer>> peers;
  int joined = 0;
  for (int i = 0; i < kN; ++i) peers.push_back(std::make_unique<Peer>());
  for (int i = 0; i < kN; ++i) {
    Peer* p = peers[i].get();
    p->client.set_on_state([this, p, i, &joined](ClientState s, const std::string&) {
      if (s != ClientState::kConnected) return;
      HelloParams h;
      h.peer_id = "v" + std::to_string(i);
      h.upload_kbps = 100000;  // viewers keep spare upload throughout
      p->client.hello(h, [p, &joined](const Reply& r) {
        if (r.ok)
          p->client.join(
              "live", "", [&joined](const Reply& j) { joined += j.ok; }, 4);
      });
    });
    p->client.connect(server->ws_url());  // all connects in flight together
  }
  ASSERT_TRUE(run_until([&] { return joined == kN; }, 20000)) << joined;
  // Declared upload is not believed: until viewers are trusted (their upload confirmed by
  // others' reports over time) the owner keeps one place in every list, the others spread.
  Reply r = await([&](ReplyFn f) { peers.back()->client.neighbours("live", {}, f, 8); });
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body["neighbours"].size(), 8u);
  int owner_places = 0;
  for (auto& n : r.body["neighbours"]) owner_places += n["peer_id"] == "owner";
  EXPECT_EQ(owner_places, 1);
  EXPECT_NE(metrics().find("meshcast_peers_connected 41\n"), std::string::npos);
}

// A throwaway self-signed P-256 certificate for 127.0.0.1 (no openssl CLI needed).
bool write_self_signed_cert(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  bool ok = pkey && x;
  if (ok) {
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    ok = X509_sign(x, pkey, EVP_sha256()) > 0;
  }
  FILE* kf = ok ? std::fopen(key_path.c_str(), "w") : nullptr;
  ok = kf && PEM_write_PrivateKey(kf, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (kf) std::fclose(kf);
  FILE* cf = ok ? std::fopen(cert_path.c_str(), "w") : nullptr;
  ok = cf && PEM_write_X509(cf, x) == 1;
  if (cf) std::fclose(cf);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return ok;
}

TEST_F(TrackerTest, SecureWebSocket) {
  auto dir = std::filesystem::temp_directory_path() / ("meshcast-tls-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  ASSERT_TRUE(write_self_signed_cert(cert, key));
  server.reset();
  TrackerServerOptions o;
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  start(o);
  EXPECT_EQ(server->ws_url().rfind("wss://", 0), 0u);
  TrackerClientOptions co;
  co.accept_invalid_certificates = true;  // self-signed test certificate
  auto p = peer("tls-peer", "viewer", json(), 0, co);
  EXPECT_TRUE(await([&](ReplyFn f) { p->client.ping(f); }).ok);
  std::filesystem::remove_all(dir);
}

// ---- attackers: unread replies, idle sockets, connection floods, a rotated key ----------
//
// Raw TCP sockets on 127.0.0.1 behave as an attacker would; honest TrackerClients share the
// tracker. Timeouts are configured short so nothing waits long; deadlines in run_until are
// generous limits, never pass/fail thresholds.

namespace raw = meshcast::signaling::raw;

void pump_once() { g_main_context_iteration(nullptr, FALSE); }

double rss_mb() {
  auto s = meshcast::app::sample_process(getpid());
  return s ? s->rss_kb / 1024.0 : 0;
}

// Closes raw sockets when the test ends, whatever happens.
struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  int add(int fd) {
    fds.push_back(fd);
    return fd;
  }
  int closed_by_server() const {
    int n = 0;
    for (int fd : fds) n += fd >= 0 && raw::closed_by_peer(fd);
    return n;
  }
};

// An attacker connection that said hello and then reads nothing at all.
int registered_raw(uint16_t port, int rcvbuf = 4096) {
  int fd = raw::connect_loopback(port, rcvbuf, 5000, pump_once);
  if (fd < 0) return -1;
  bool ok =
      raw::handshake(fd, port, 5000, pump_once) &&
      raw::send_all(fd, raw::text_frame(R"({"type":"hello","role":"viewer"})"), 5000, pump_once) &&
      raw::read_text(fd, 5000, pump_once).has_value() &&  // welcome
      raw::read_text(fd, 5000, pump_once).has_value();    // hello_ok
  if (!ok) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(TrackerTest, AttackerWhoNeverReadsRepliesIsClosedAndMemoryStaysBounded) {
  server.reset();
  TrackerServerOptions o;
  o.max_unsent_bytes = 256 * 1024;
  start(o);
  // 56 streams with ~1.8 KB codecs: one stream_list page is ~100 KB for a 22-byte request.
  std::vector<std::unique_ptr<Peer>> owners;
  ASSERT_NO_FATAL_FAILURE(add_large_streams(7, owners));
  auto honest = peer("honest");
  const double rss_before = rss_mb();
  // 10 connections x 100 stream_list requests, none of the replies read (the old tracker
  // queued all of them: ~100 MB).
  const uint16_t port = server->port();
  std::string burst;
  for (int i = 0; i < 100; ++i) burst += raw::text_frame(R"({"type":"stream_list"})");
  Fds attackers;
  for (int c = 0; c < 10; ++c) {
    int fd = attackers.add(registered_raw(port));
    ASSERT_GE(fd, 0);
    raw::send_all(fd, burst, 5000, pump_once);  // may fail once the tracker has closed it
  }
  ASSERT_TRUE(run_until([&] { return attackers.closed_by_server() == 10; }, 20000))
      << attackers.closed_by_server() << " of 10 closed";
  const double growth = rss_mb() - rss_before;
  EXPECT_LT(growth, 32.0) << "MB";  // bounded: ~10 x (cap + kernel buffers), not ~100 MB
  const std::string m = metrics();
  EXPECT_NE(m.find("meshcast_connections_closed_total{reason=\"unsent_cap\"}"), std::string::npos)
      << m;
  // Honest peers are unaffected: the list (paged) and ping still work.
  Reply list = await([&](ReplyFn f) { honest->client.list_streams(f); });
  ASSERT_TRUE(list.ok) << list.code;
  EXPECT_EQ(list.body["streams"].size(), 50u);
  EXPECT_EQ(list.body["next"], "s53");  // names sort as strings: s0 s1 s10 ... s53 s54 ...
  EXPECT_TRUE(await([&](ReplyFn f) { honest->client.ping(f); }).ok);
  auto late = peer("late-comer");
  EXPECT_TRUE(await([&](ReplyFn f) { late->client.ping(f); }).ok);
}

TEST_F(TrackerTest, IdleSocketsHalfSentRequestsAndSilentPeersAreClosed) {
  server.reset();
  TrackerServerOptions o;
  o.header_timeout_ms = 1000;
  o.core.hello_timeout_ms = 1000;
  o.core.resume_grace_ms = 500;
  o.ws_ping_interval_s = 1;
  o.ws_idle_timeout_ms = 2500;
  start(o);
  auto honest = peer("honest");  // answers pings (libsoup does), so it stays
  const double rss_before = rss_mb();
  const std::size_t base = server->tcp_connections();
  const uint16_t port = server->port();
  Fds idle, half, no_hello, silent;
  const std::string half_request =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";  // no blank line
  for (int i = 0; i < 20; ++i) {
    ASSERT_GE(idle.add(raw::connect_loopback(port, 0, 5000, pump_once)), 0);
    int h = half.add(raw::connect_loopback(port, 0, 5000, pump_once));
    ASSERT_GE(h, 0);
    ASSERT_TRUE(raw::send_all(h, half_request, 5000, pump_once));
    int n = no_hello.add(raw::connect_loopback(port, 0, 5000, pump_once));
    ASSERT_GE(n, 0);
    ASSERT_TRUE(raw::handshake(n, port, 5000, pump_once));
    ASSERT_GE(silent.add(registered_raw(port)), 0);  // hello, then deaf: never a pong
  }
  EXPECT_TRUE(run_until([&] { return server->tcp_connections() >= base + 80; }));
  EXPECT_TRUE(run_until(
      [&] {
        return idle.closed_by_server() == 20 && half.closed_by_server() == 20 &&
               no_hello.closed_by_server() == 20 && silent.closed_by_server() == 20;
      },
      20000))
      << "closed: idle " << idle.closed_by_server() << ", half-sent " << half.closed_by_server()
      << ", no hello " << no_hello.closed_by_server() << ", silent " << silent.closed_by_server();
  // The tracker forgot them all; the honest peer is still there and served.
  EXPECT_TRUE(run_until([&] { return server->tcp_connections() <= base; }));
  EXPECT_EQ(server->core().connection_count(), 1u);
  // Silent peers stay resumable for the grace, then are forgotten.
  EXPECT_TRUE(run_until([&] { return server->core().peer_count() == 1u; }));
  EXPECT_EQ(honest->client.state(), ClientState::kConnected);
  EXPECT_TRUE(await([&](ReplyFn f) { honest->client.ping(f); }).ok);
  EXPECT_LT(rss_mb() - rss_before, 16.0) << "MB";
  const std::string m = metrics();
  EXPECT_NE(m.find("meshcast_connections_closed_total{reason=\"header_timeout\"} 40"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("meshcast_connections_closed_total{reason=\"idle\"} 20"), std::string::npos)
      << m;
  EXPECT_NE(m.find("meshcast_errors_total{code=\"not_registered\"} 20"), std::string::npos) << m;
}

TEST_F(TrackerTest, ConnectionCapsRefuseTheFloodNotOthers) {
  server.reset();
  TrackerServerOptions o;
  o.max_connections_per_address = 5;
  o.cap_loopback = true;  // 127.0.0.2 plays the attacker, 127.0.0.1 the honest peers
  start(o);
  const uint16_t port = server->port();
  Fds flood;
  for (int i = 0; i < 5; ++i)
    ASSERT_GE(flood.add(raw::connect_loopback(port, 0, 5000, pump_once, "127.0.0.2")), 0);
  ASSERT_TRUE(run_until([&] { return server->tcp_connections_from("127.0.0.2") == 5; }));
  Fds refused;
  for (int i = 0; i < 5; ++i)
    ASSERT_GE(refused.add(raw::connect_loopback(port, 0, 5000, pump_once, "127.0.0.2")), 0);
  EXPECT_TRUE(run_until([&] { return refused.closed_by_server() == 5; }));
  EXPECT_EQ(flood.closed_by_server(), 0);
  EXPECT_EQ(server->tcp_connections_from("127.0.0.2"), 5u);
  // The refusal says why.
  std::string answer(256, '\0');
  ssize_t n = ::recv(refused.fds[0], answer.data(), answer.size(), 0);
  ASSERT_GT(n, 0);
  answer.resize(static_cast<std::size_t>(n));
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
  EXPECT_NE(answer.find("too many connections from your address"), std::string::npos) << answer;
  // Another address is served.
  auto p = peer("honest");
  EXPECT_TRUE(await([&](ReplyFn f) { p->client.ping(f); }).ok);
  EXPECT_NE(metrics().find("meshcast_connections_closed_total{reason=\"per_address_cap\"} 5"),
            std::string::npos);
  // Closing attacker sockets frees their slots.
  ::close(flood.fds[0]);
  flood.fds[0] = -1;
  ASSERT_TRUE(run_until([&] { return server->tcp_connections_from("127.0.0.2") == 4; }));
  int again = flood.add(raw::connect_loopback(port, 0, 5000, pump_once, "127.0.0.2"));
  ASSERT_GE(again, 0);
  EXPECT_TRUE(run_until([&] { return server->tcp_connections_from("127.0.0.2") == 5; }));
  EXPECT_FALSE(raw::closed_by_peer(again));

  // The total cap.
  server.reset();
  TrackerServerOptions t;
  t.max_connections = 3;
  start(t);
  Fds all;
  for (int i = 0; i < 3; ++i)
    ASSERT_GE(all.add(raw::connect_loopback(server->port(), 0, 5000, pump_once)), 0);
  ASSERT_TRUE(run_until([&] { return server->tcp_connections() == 3; }));
  int extra = all.add(raw::connect_loopback(server->port(), 0, 5000, pump_once));
  ASSERT_GE(extra, 0);
  EXPECT_TRUE(run_until([&] { return raw::closed_by_peer(extra); }));
  EXPECT_EQ(server->tcp_connections(), 3u);
}

TEST_F(TrackerTest, DefaultCapsAllowALoopbackSwarmOf200) {
  auto owner = peer("owner", "broadcaster");
  create(*owner, "live");
  constexpr int kN = 200;
  std::vector<std::unique_ptr<Peer>> peers;
  int joined = 0;
  for (int i = 0; i < kN; ++i) peers.push_back(std::make_unique<Peer>());
  for (int i = 0; i < kN; ++i) {
    Peer* p = peers[i].get();
    p->client.set_on_state([p, i, &joined](ClientState s, const std::string&) {
      if (s != ClientState::kConnected) return;
      HelloParams h;
      h.peer_id = "v" + std::to_string(i);
      p->client.hello(h, [p, &joined](const Reply& r) {
        if (r.ok) p->client.join("live", "", [&joined](const Reply& j) { joined += j.ok; });
      });
    });
    p->client.connect(server->ws_url());
  }
  ASSERT_TRUE(run_until([&] { return joined == kN; }, 60000)) << joined;
  EXPECT_GE(server->tcp_connections_from("127.0.0.1"), 201u);
}

TEST_F(TrackerTest, RotatedViewKeyRemovesMembersOverTheWire) {
  auto owner = peer("owner", "broadcaster");
  auto keeper = peer("keeper");
  auto ex = peer("ex-member");
  create(*owner, "club", true, "first-key-1");
  ASSERT_TRUE(await([&](ReplyFn f) { keeper->client.join("club", "first-key-1", f); }).ok);
  ASSERT_TRUE(await([&](ReplyFn f) { ex->client.join("club", "first-key-1", f); }).ok);
  Reply up = await([&](ReplyFn f) {
    owner->client.update_stream("club", {{"view_key", "second-key-2"}}, f);
  });
  ASSERT_TRUE(up.ok) << up.code;
  EXPECT_EQ(up.body["revoked"], 2);
  ASSERT_TRUE(run_until([&] { return ex->got("stream_access_revoked"); }));
  ASSERT_TRUE(run_until([&] { return keeper->got("stream_access_revoked"); }));
  EXPECT_EQ(ex->first("stream_access_revoked")["reason"], "view_key_changed");
  // The one who got the new key out of band joins again; the other is out for good.
  ASSERT_TRUE(await([&](ReplyFn f) { keeper->client.join("club", "second-key-2", f); }).ok);
  EXPECT_EQ(await([&](ReplyFn f) { ex->client.neighbours("club", {}, f); }).code, "not_member");
  EXPECT_EQ(await([&](ReplyFn f) { ex->client.join("club", "first-key-1", f); }).code,
            "access_denied");
  EXPECT_EQ(await([&](ReplyFn f) {
              ex->client.relay("owner", "offer", {{"sdp", "x"}}, f);
            }).code,
            "not_related");
  EXPECT_TRUE(await([&](ReplyFn f) {
                keeper->client.relay("owner", "offer", {{"sdp", "x"}}, f);
              }).ok);
  auto overlay = http_get(server->http_url() + "/api/streams/club/overlay?key=second-key-2");
  ASSERT_EQ(overlay.first, 200);
  EXPECT_EQ(json::parse(overlay.second)["peers"].size(), 2u);  // owner + keeper
  EXPECT_EQ(http_get(server->http_url() + "/api/streams/club/overlay?key=first-key-1").first, 404);
}

TEST_F(TrackerTest, HttpStreamListIsPaginated) {
  auto owner = peer("owner", "broadcaster");
  for (int i = 0; i < 5; ++i) create(*owner, "st" + std::to_string(i));
  auto page = json::parse(http_get(server->http_url() + "/api/streams?limit=2").second);
  ASSERT_EQ(page["streams"].size(), 2u);
  EXPECT_EQ(page["next"], "st1");
  page = json::parse(http_get(server->http_url() + "/api/streams?limit=2&after=st3").second);
  ASSERT_EQ(page["streams"].size(), 1u);
  EXPECT_EQ(page["streams"][0]["name"], "st4");
  EXPECT_FALSE(page.contains("next"));
  EXPECT_EQ(http_get(server->http_url() + "/api/streams?limit=0").first, 400);
  EXPECT_EQ(http_get(server->http_url() + "/api/streams?limit=abc").first, 400);
  EXPECT_EQ(http_get(server->http_url() + "/api/streams?after=a%2Fb").first, 400);
}

TEST_F(TrackerTest, StalledTlsHandshakeIsClosedByTheHeaderTimeout) {
  auto dir = std::filesystem::temp_directory_path() / ("meshcast-tls2-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path d;
    ~Cleanup() { std::filesystem::remove_all(d); }
  } cleanup{dir};
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  ASSERT_TRUE(write_self_signed_cert(cert, key));
  server.reset();
  TrackerServerOptions o;
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  o.header_timeout_ms = 1000;
  start(o);
  Fds stalled;
  for (int i = 0; i < 5; ++i)  // TCP connects, then not one byte of ClientHello
    ASSERT_GE(stalled.add(raw::connect_loopback(server->port(), 0, 5000, pump_once)), 0);
  ASSERT_TRUE(run_until([&] { return server->tcp_connections() == 5; }));
  EXPECT_TRUE(run_until([&] { return stalled.closed_by_server() == 5; }, 15000));
  EXPECT_TRUE(run_until([&] { return server->tcp_connections() == 0; }));
  TrackerClientOptions co;
  co.accept_invalid_certificates = true;
  auto p = peer("tls-peer", "viewer", json(), 0, co);
  EXPECT_TRUE(await([&](ReplyFn f) { p->client.ping(f); }).ok);
}

TEST_F(TrackerTest, ClientThatNeverReadsItsHttpResponseIsReset) {
  server.reset();
  TrackerServerOptions o;
  o.header_timeout_ms = 1000;  // also the time a client has to take its response
  start(o);
  // 104 streams with ~1.9 KB descriptions: one page of 100 is ~200 KB.
  std::vector<std::unique_ptr<Peer>> owners;
  ASSERT_NO_FATAL_FAILURE(add_large_streams(13, owners));
  const uint16_t port = server->port();
  const std::string get = "GET /api/streams?limit=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  Fds fds;
  // 5 clients ask for a big page and read nothing: the responses wait in the tracker's
  // socket buffers. A graceful close would put its FIN behind them and keep them there; the
  // tracker resets these connections instead, so the clients see the connection gone.
  for (int i = 0; i < 5; ++i) {
    int fd = fds.add(raw::connect_loopback(port, 4096, 5000, pump_once));
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(raw::send_all(fd, get, 5000, pump_once));
  }
  EXPECT_TRUE(run_until([&] { return fds.closed_by_server() == 5; }, 15000))
      << fds.closed_by_server() << " of 5\n"
      << metrics();
  auto page = http_get(server->http_url() + "/api/streams?limit=100");
  ASSERT_EQ(page.first, 200);
  EXPECT_EQ(json::parse(page.second)["streams"].size(), 100u);
  EXPECT_TRUE(run_until([&] { return server->tcp_connections() <= 14; }));  // owners + http_get
}

}  // namespace
