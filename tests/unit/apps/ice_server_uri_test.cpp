// --stun / --turn URIs: the accepted forms, and malformed input of every kind refused with
// a message (never a crash, never a half-filled server).
#include "apps/cli/ice_server_uri.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/cli/args.hpp"
#include "apps/cli/link_options.hpp"

using namespace meshcast::app;
using meshcast::link::RelayTransport;

TEST(TurnUri, Rfc7065FormsWithCredentials) {
  auto u = parse_turn_uri("turn:alice:s3cret@198.51.100.1:3478?transport=tcp");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->username, "alice");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->host, "198.51.100.1");
  EXPECT_TRUE(u->host_is_ip);
  EXPECT_EQ(u->port, 3478);
  EXPECT_EQ(u->transport, RelayTransport::kTcp);

  u = parse_turn_uri("turn:a:b@turn.example.org");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "turn.example.org");
  EXPECT_FALSE(u->host_is_ip);
  EXPECT_EQ(u->port, 3478);
  EXPECT_EQ(u->transport, RelayTransport::kUdp);

  u = parse_turn_uri("turn:a:b@h?transport=udp");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->transport, RelayTransport::kUdp);

  u = parse_turn_uri("turns:a:b@turn.example.org:443");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->transport, RelayTransport::kTls);
  u = parse_turn_uri("turns:a:b@h?transport=tcp");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->port, 5349);
  EXPECT_EQ(u->transport, RelayTransport::kTls);

  u = parse_turn_uri("turn:a:b@[2001:db8::1]:3479");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "2001:db8::1");
  EXPECT_TRUE(u->host_is_ip);
  EXPECT_EQ(u->port, 3479);
}

TEST(TurnUri, PasswordsMayHoldColonsAndAtSigns) {
  auto u = parse_turn_uri("turn:user:p:a@ss@10.0.0.1:3478");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->username, "user");
  EXPECT_EQ(u->password, "p:a@ss");
  EXPECT_EQ(u->host, "10.0.0.1");
}

TEST(TurnUri, OlderFormIsUdp) {
  auto u = parse_turn_uri("u:p@127.0.0.1:3478");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->transport, RelayTransport::kUdp);
  EXPECT_EQ(u->port, 3478);
  EXPECT_EQ(u->username, "u");
  u = parse_turn_uri("u:p@relay.example.net:3478");
  ASSERT_TRUE(u) << u.error();
  EXPECT_FALSE(u->host_is_ip);
}

TEST(TurnUri, MalformedInputIsRefused) {
  const std::vector<std::string> bad = {
      "",
      "turn:",
      "turn:@h",
      "turn:h:3478",                        // no credentials
      "turn:user@h:3478",                   // no password
      "turn::p@h:3478",                     // empty user
      "turn:u:@h:3478",                     // empty password
      "turn:u:p@",                          // no host
      "turn:u:p@:3478",                     // no host
      "turn:u:p@h:",                        // empty port
      "turn:u:p@h:0",                       // port 0
      "turn:u:p@h:65536",                   // port too large
      "turn:u:p@h:123456",                  // port too long
      "turn:u:p@h:34x8",                    // port not a number
      "turn:u:p@h:-1",                      // negative port
      "turn:u:p@2001:db8::1:3478",          // IPv6 without brackets
      "turn:u:p@[2001:db8::1",              // unclosed bracket
      "turn:u:p@[2001:db8::1]x",            // junk after bracket
      "turn:u:p@[2001:db8::1]:",            // empty port
      "turn:u:p@[not-v6]:3478",             // brackets around a non-address
      "turn:u:p@1.2.3.256:3478",            // broken IPv4
      "turn:u:p@-bad.example:3478",         // label starts with a hyphen
      "turn:u:p@bad-.example:3478",         // label ends with a hyphen
      "turn:u:p@a..b:3478",                 // empty label
      "turn:u:p@a_b:3478",                  // underscore
      "turn:u:p@h:3478?",                   // empty query
      "turn:u:p@h:3478?transport=sctp",     // unknown transport
      "turn:u:p@h:3478?transport=tcp&x=1",  // extra parameter
      "turn:u:p@h:3478?foo",                // unknown parameter
      "turns:u:p@h:5349?transport=udp",     // DTLS is not supported
      "turn:u:p@h :3478",                   // space
      "turn:u:p@h\t:3478",                  // control character
      "turn:u:p@h\x7f:3478",                // DEL
      "turn:u:p@h\xc3\xa9:3478",            // non-ASCII
      "u:p@h",                              // older form needs a port
      "u:p@h:3478?transport=tcp",           // older form takes no query
      "stun:h:3478",                        // wrong scheme
      "stuns:h:3478",
      "turn://u:p@h:3478",
      "h:3478",  // no credentials at all
  };
  for (const auto& b : bad) {
    auto u = parse_turn_uri(b);
    ASSERT_FALSE(u) << "accepted: " << b;
    EXPECT_FALSE(u.error().empty()) << b;
  }
}

TEST(TurnUri, LengthsAreBounded) {
  std::string user(kMaxTurnCredentialLength, 'u'), pass(kMaxTurnCredentialLength, 'p');
  auto longest = parse_turn_uri("turn:" + user + ":" + pass + "@h");
  EXPECT_TRUE(longest) << longest.error();
  EXPECT_FALSE(parse_turn_uri("turn:" + user + "u:" + pass + "@h"));
  EXPECT_FALSE(parse_turn_uri("turn:" + user + ":" + pass + "p@h"));
  std::string label(63, 'a');
  auto longest_label = parse_turn_uri("turn:u:p@" + label + ".example");
  EXPECT_TRUE(longest_label) << longest_label.error();
  EXPECT_FALSE(parse_turn_uri("turn:u:p@" + label + "a.example"));
  std::string long_name;
  while (long_name.size() <= kMaxHostNameLength) long_name += "abcdefgh.";
  long_name += "org";
  EXPECT_FALSE(parse_turn_uri("turn:u:p@" + long_name));
  EXPECT_FALSE(parse_turn_uri(std::string(kMaxIceServerUriLength + 1, 'a')));
}

TEST(StunUri, FormsAndMalformedInput) {
  auto u = parse_stun_uri("stun:198.51.100.1");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->port, 3478);
  u = parse_stun_uri("stun:stun.lab.test:3479");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "stun.lab.test");
  EXPECT_EQ(u->port, 3479);
  u = parse_stun_uri("127.0.0.1:3478");
  ASSERT_TRUE(u) << u.error();
  EXPECT_TRUE(u->host_is_ip);
  u = parse_stun_uri("stun:[::1]:3478");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "::1");
  for (std::string b : {"", "stun:", "stun:h:", "stun:h:0", "stun:u:p@h", "stun:h?transport=udp",
                        "stuns:h", "turn:u:p@h", "127.0.0.1", "stun:h h", "stun:::1:3478",
                        "stun://h:3478", "stun:1.2.3.4.5"}) {
    EXPECT_FALSE(parse_stun_uri(b)) << "accepted: " << b;
  }
}

namespace {
Args parse(std::vector<const char*> v) {
  v.insert(v.begin(), "cmd");
  return Args(static_cast<int>(v.size()), const_cast<char**>(v.data()), {},
              {"local-address", "stun", "turn", "turn-ca"});
}
}  // namespace

TEST(LinkOptions, SeveralTurnServersKeepTheirOrderAndTransport) {
  auto a = parse({"--turn", "u:p@127.0.0.1:3478", "--turn", "turn:u:p@127.0.0.1?transport=tcp",
                  "--turn", "turns:u:p@127.0.0.1:443", "--stun", "stun:127.0.0.1:3479", "--stun",
                  "127.0.0.2:3480"});
  ASSERT_TRUE(a.ok()) << a.error();
  meshcast::link::LinkConfig c;
  auto parsed = parse_link_options(a, &c);
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(c.turn_servers.size(), 3u);
  EXPECT_EQ(c.turn_servers[0].transport, RelayTransport::kUdp);
  EXPECT_EQ(c.turn_servers[1].transport, RelayTransport::kTcp);
  EXPECT_EQ(c.turn_servers[1].port, 3478);
  EXPECT_EQ(c.turn_servers[2].transport, RelayTransport::kTls);
  EXPECT_EQ(c.turn_servers[2].port, 443);
  EXPECT_EQ(c.stun_host, "127.0.0.1");  // libnice asks one: the first
  EXPECT_EQ(c.stun_port, 3479);
}

TEST(LinkOptions, HostNamesAreResolvedOnce) {
  auto a = parse({"--turn", "turn:u:p@localhost:3478", "--stun", "stun:localhost"});
  meshcast::link::LinkConfig c;
  auto parsed = parse_link_options(a, &c);
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(c.turn_servers.size(), 1u);
  EXPECT_TRUE(c.turn_servers[0].host == "127.0.0.1" || c.turn_servers[0].host == "::1")
      << c.turn_servers[0].host;
  EXPECT_TRUE(c.stun_host == "127.0.0.1" || c.stun_host == "::1") << c.stun_host;
}

// A turns: server's certificate is checked against the name the user wrote, not the address
// it resolved to; --turn-ca must be a readable file.
TEST(LinkOptions, TurnsKeepsTheWrittenNameForItsCertificateAndTakesACaFile) {
  auto a = parse({"--turn", "turns:u:p@localhost:5349", "--turn-ca", "/proc/self/status"});
  meshcast::link::LinkConfig c;
  auto parsed = parse_link_options(a, &c);
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(c.turn_servers.size(), 1u);
  EXPECT_EQ(c.turn_servers[0].tls_name, "localhost");
  EXPECT_NE(c.turn_servers[0].host, "localhost");
  EXPECT_EQ(c.turn_ca_file, "/proc/self/status");
  auto missing = parse({"--turn-ca", "/nonexistent/ca.pem"});
  auto refused = parse_link_options(missing, &c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), "--turn-ca: cannot read '/nonexistent/ca.pem'");
}

TEST(LinkOptions, RefusesTooManyServersAndKeepsPasswordsOutOfMessages) {
  std::vector<const char*> v;
  for (int i = 0; i < 9; ++i) {
    v.push_back("--turn");
    v.push_back("u:p@127.0.0.1:3478");
  }
  auto a = parse(v);
  meshcast::link::LinkConfig c;
  auto too_many = parse_link_options(a, &c);
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().find("at most 8"), std::string::npos) << too_many.error();
  auto b = parse({"--turn", "turn:user:hunter2@h:99999"});
  auto bad_port = parse_link_options(b, &c);
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().find("hunter2"), std::string::npos) << bad_port.error();
}

TEST(IceServerUri, TurnServersFromTheTrackerTakeItsCredentialsAndSkipJunk) {
  const nlohmann::json ice = nlohmann::json::parse(R"([
    {"urls": ["turn:203.0.113.5:3478?transport=udp", "turn:203.0.113.5:3478?transport=tcp",
              "turns:203.0.113.5:5349", "turn:turn.example.org:3478", "stun:203.0.113.5", 7],
     "username": "1700003600:alice", "credential": "mN1PHBuEWsiXFQck8yiVDVXfuas=",
     "expires_s": 1700003600},
    {"urls": ["turn:203.0.113.6:3478"], "username": 5, "credential": "x"},
    {"urls": "turn:203.0.113.7:3478", "username": "u", "credential": "p"},
    "junk"
  ])");
  int skipped = 0;
  auto t = meshcast::app::turn_servers_from_tracker(ice, &skipped);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].host, "203.0.113.5");
  EXPECT_EQ(t[0].port, 3478);
  EXPECT_EQ(t[0].username, "1700003600:alice");  // a ':' in the username survives
  EXPECT_EQ(t[0].password, "mN1PHBuEWsiXFQck8yiVDVXfuas=");
  EXPECT_EQ(t[0].transport, meshcast::link::RelayTransport::kUdp);
  EXPECT_EQ(t[1].transport, meshcast::link::RelayTransport::kTcp);
  EXPECT_EQ(t[2].port, 5349);
  // A name (not resolved behind the user's back), a stun: URL, a number, and three bad entries.
  EXPECT_EQ(skipped, 6);
  EXPECT_TRUE(meshcast::app::turn_servers_from_tracker(nlohmann::json::object()).empty());
}
