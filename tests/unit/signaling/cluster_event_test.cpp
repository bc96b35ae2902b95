#include "signaling/cluster_event.hpp"

#include <gtest/gtest.h>

#include "signaling/identity_key.hpp"

using namespace meshcast::signaling;
using nlohmann::json;

namespace {

ClusterEvent peer_event() {
  ClusterEvent e;
  e.type = ClusterEventType::kPeer;
  e.instance = "a";
  e.peer.id = "v1";
  e.peer.role = "viewer";
  e.peer.group = "10.0.0";
  e.peer.token_hash = std::string(64, 'f');
  e.peer.upload_kbps = 900;
  e.peer.accept = "list";
  e.peer.allow = {"x"};
  e.peer.streams = {{"live", 1234}};
  e.peer.partners = {{"bc", "parent", 300}};
  return e;
}

}  // namespace

TEST(ClusterEvent, EveryTypeSurvivesTheRoundTrip) {
  ClusterEvent p = peer_event();
  auto back = parse_cluster_event(to_text(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->peer.id, "v1");
  EXPECT_EQ(back->peer.streams.at(0).second, 1234);
  EXPECT_EQ(back->peer.partners.at(0).rx_kbps, 300);
  EXPECT_EQ(back->peer.allow, std::vector<std::string>{"x"});

  ClusterEvent s;
  s.type = ClusterEventType::kStream;
  s.instance = "a";
  s.stream.name = "live";
  s.stream.owner = "bc";
  s.stream.is_private = true;
  s.stream.key_hash = std::string(64, '0');
  s.stream.codec = {{"video", "vp8"}};
  back = parse_cluster_event(to_text(s));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->stream.is_private);
  EXPECT_EQ(back->stream.codec["video"], "vp8");

  ClusterEvent d;
  d.type = ClusterEventType::kDeliver;
  d.instance = "b";
  d.target = "a";
  d.to = "bc";
  d.frame = R"({"type":"relay","from":"v1"})";
  back = parse_cluster_event(to_text(d));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->frame, d.frame);
  EXPECT_TRUE(back->target.empty()) << "the target is the channel, not a field";

  ClusterEvent b;
  b.type = ClusterEventType::kIdentity;
  b.instance = "a";
  b.name = "alice";
  b.key = IdentityKey::generate()->public_key_b64();
  back = parse_cluster_event(to_text(b));
  ASSERT_TRUE(back) << to_text(b);
  EXPECT_EQ(back->type, ClusterEventType::kIdentity);
  EXPECT_EQ(back->name, "alice");
  EXPECT_EQ(back->key, b.key);

  p.peer.identity_key = b.key;
  back = parse_cluster_event(to_text(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->peer.identity_key, b.key);
  json no_key = json::parse(to_text(p));
  no_key["peer"].erase("ik");  // a record without the field (optional)
  back = parse_cluster_event(no_key.dump());
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->peer.identity_key.empty());

  for (auto t :
       {ClusterEventType::kHeartbeat, ClusterEventType::kPeerGone, ClusterEventType::kStreamEnd,
        ClusterEventType::kCallEnd, ClusterEventType::kInstanceDown}) {
    ClusterEvent e;
    e.type = t;
    e.instance = "c";
    e.name = "x1";
    back = parse_cluster_event(to_text(e));
    ASSERT_TRUE(back) << to_text(e);
    EXPECT_EQ(back->type, t);
  }
}

TEST(ClusterEvent, MalformedRecordsAreRejected) {
  json good = json::parse(to_text(peer_event()));
  auto mutate = [&](auto f) {
    json j = good;
    f(j);
    return j.dump();
  };
  const std::vector<std::string> bad = {
      "",
      "null",
      "[]",
      "{",
      std::string(kMaxClusterEventBytes + 1, ' '),
      std::string(100, '[') + std::string(100, ']'),
      R"({"t":"peer"})",
      R"({"t":"nope","i":"a"})",
      R"({"t":"hb","i":""})",
      R"({"t":"hb","i":"a b"})",
      R"({"t":"hb","i":7})",
      R"({"t":"deliver","i":"a","to":"x"})",
      R"({"t":"deliver","i":"a","to":"bad id!","frame":"{}"})",
      R"({"t":"gone","i":"a","name":""})",
      // Bindings: a valid peer id and exactly 32 bytes of canonical standard base64.
      R"({"t":"bind","i":"a","name":"bob"})",
      R"({"t":"bind","i":"a","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"t":"bind","i":"a","name":"","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"t":"bind","i":"a","name":"bad id!","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"t":"bind","i":"a","name":7,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"t":"bind","i":"a","name":"bob","key":""})",
      R"({"t":"bind","i":"a","name":"bob","key":12})",
      R"({"t":"bind","i":"a","name":"bob","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})",
      R"({"t":"bind","i":"a","name":"bob","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"t":"bind","i":"a","name":"bob","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})",
      R"({"t":"bind","i":"a","name":"bob","key":"-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"t":"bind","i":"a","name":"bob","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=AAAA"})",
      R"({"t":"bind","i":"","name":"bob","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"t":"down","i":"a","name":"../x"})",
      R"({"t":"call","i":"a","call":{"id":"c","caller":"x","callee":"y","accepted":1,"left":0}})",
      R"({"t":"call","i":"a","call":{"id":"c","caller":"x","callee":"y","accepted":true,"left":-5}})",
      R"({"t":"stream","i":"a","stream":{"name":"s","owner":"o","pk":"","kh":"","sh":"","by":"","codec":{},"kbps":100,"priv":true,"created":0}})",
      R"({"t":"stream","i":"a","stream":{"name":"s","owner":"o","pk":"","kh":"","sh":"","by":"","codec":[],"kbps":100,"priv":false,"created":0}})",
      R"({"t":"stream","i":"a","stream":{"name":"s","owner":"o","pk":"","kh":"","sh":"","by":"","codec":{},"kbps":0,"priv":false,"created":0}})",
      mutate([](json& j) { j["peer"].erase("id"); }),
      mutate([](json& j) { j["peer"]["up"] = -1; }),
      mutate([](json& j) { j["peer"]["up"] = 18446744073709551615ull; }),
      mutate([](json& j) { j["peer"]["acc"] = "some"; }),
      mutate([](json& j) { j["peer"]["away"] = "no"; }),
      mutate([](json& j) { j["peer"]["streams"] = json::array({json::array({"live"})}); }),
      mutate([](json& j) {
        j["peer"]["streams"] = json::array({json::array({"live", -1})});
      }),
      mutate([](json& j) {
        j["peer"]["streams"] = json::array({json::array({1, 2})});
      }),
      mutate([](json& j) {
        j["peer"]["partners"] = json::array({json::array({"x", "child"})});
      }),
      mutate([](json& j) { j["peer"]["partners"][0][2] = 1e3; }),
      mutate([](json& j) { j["peer"]["tok"] = std::string(65, 'a'); }),
      mutate([](json& j) { j["peer"]["ik"] = "not base64!"; }),
      mutate([](json& j) { j["peer"]["ik"] = std::string(45, 'A'); }),
      mutate([](json& j) { j["peer"]["ik"] = 5; }),
      mutate([](json& j) {
        j["peer"]["allow"] = json::array();
        for (int i = 0; i < 65; ++i) j["peer"]["allow"].push_back("p" + std::to_string(i));
      }),
  };
  for (auto& text : bad) {
    auto e = parse_cluster_event(text);
    ASSERT_FALSE(e) << text.substr(0, 200);
    EXPECT_FALSE(e.error().empty()) << text.substr(0, 200);
  }
}
