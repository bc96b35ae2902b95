#include "mesh/link/session_description.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mesh/link/candidate.hpp"

using namespace meshcast::link;
using nlohmann::json;

namespace {

const char* kFp =
    "sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
    "01:23:45:67:89";
const char* kCand = "candidate:1 1 UDP 2015363327 127.0.0.1 46005 typ host";

json valid() {
  return json{{"ufrag", "abcd"},
              {"pwd", "0123456789abcdefghijkl"},
              {"candidates", json::array({kCand})},
              {"end_of_candidates", true},
              {"fingerprint", kFp},
              {"setup", "actpass"}};
}

}  // namespace

TEST(SessionDescription, RoundTripsThroughJson) {
  auto d = SessionDescription::parse(valid().dump());
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->ufrag, "abcd");
  EXPECT_EQ(d->candidates.size(), 1u);
  EXPECT_TRUE(d->end_of_candidates);
  EXPECT_EQ(d->setup, DtlsSetup::kActpass);
  auto again = SessionDescription::parse(d->to_json_string());
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->to_json(), d->to_json());
}

TEST(SessionDescription, AcceptsVariants) {
  json j = valid();
  j["fingerprint"] = std::string(kFp).replace(8, 2, "ab");  // lower-case hex
  j["candidates"] = json::array(
      {"a=candidate:2 1 udp 1 ::1 9 typ host",
       "candidate:3 1 UDP 1686052607 203.0.113.5 5000 typ srflx raddr 10.0.0.1 rport 5000",
       "candidate:4 1 TCP 1 127.0.0.1 9 typ host tcptype active",
       "candidate:5 1 UDP 7 127.0.0.1 1 typ relay raddr 1.2.3.4 rport 2 generation 0"});
  j.erase("end_of_candidates");
  auto d = SessionDescription::parse(j.dump());
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->fingerprint.substr(8, 2), "AB");            // normalised
  EXPECT_EQ(d->candidates[0].rfind("candidate:", 0), 0u);  // "a=" stripped
  EXPECT_FALSE(d->end_of_candidates);
}

struct BadCase {
  const char* name;
  std::string text;
  const char* expect;  // substring of the error
};

class SessionDescriptionBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(SessionDescriptionBad, IsRejectedWithAClearError) {
  auto d = SessionDescription::parse(GetParam().text);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find(GetParam().expect), std::string::npos) << "error was: " << d.error();
}

namespace {

std::string with(const char* key, json v) {
  json j = valid();
  j[key] = std::move(v);
  return j.dump();
}
std::string without(const char* key) {
  json j = valid();
  j.erase(key);
  return j.dump();
}
std::string with_candidate(const std::string& c) { return with("candidates", json::array({c})); }

std::vector<BadCase> bad_cases() {
  json many = json::array();
  for (int i = 0; i < 33; ++i) many.push_back(kCand);
  return {
      {"Empty", "", "not valid JSON"},
      {"Garbage", "\x01\x02{{{", "not valid JSON"},
      {"Truncated", valid().dump().substr(0, 40), "not valid JSON"},
      {"NotObject", "[1,2,3]", "must be a JSON object"},
      {"Null", "null", "must be a JSON object"},
      {"Oversize", std::string(16 * 1024 + 1, ' '), "larger than 16 KiB"},
      {"OversizeValidJson", with("extra", std::string(17000, 'x')), "larger than 16 KiB"},
      {"MissingUfrag", without("ufrag"), "missing field 'ufrag'"},
      {"MissingPwd", without("pwd"), "missing field 'pwd'"},
      {"MissingFingerprint", without("fingerprint"), "missing field 'fingerprint'"},
      {"MissingSetup", without("setup"), "missing field 'setup'"},
      {"MissingCandidates", without("candidates"), "missing field 'candidates'"},
      {"UfragNumber", with("ufrag", 1234), "'ufrag' must be a string"},
      {"UfragShort", with("ufrag", "abc"), "ufrag must be"},
      {"UfragBadChar", with("ufrag", "ab cd"), "ufrag must be"},
      {"PwdShort", with("pwd", "short"), "pwd must be"},
      {"CandidatesObject", with("candidates", json::object()), "must be an array"},
      {"CandidateNumber", with("candidates", json::array({1})), "must be a string"},
      {"TooManyCandidates", with("candidates", many), "too many candidates"},
      {"CandidateNoPrefix", with_candidate("1 1 UDP 1 127.0.0.1 9 typ host"), "prefix"},
      {"CandidateShort", with_candidate("candidate:1 1 UDP 1 127.0.0.1"), "fewer than 8"},
      {"CandidateBadIp", with_candidate("candidate:1 1 UDP 1 300.0.0.1 9 typ host"), "numeric"},
      {"CandidateHostname", with_candidate("candidate:1 1 UDP 1 x.local 9 typ host"), "numeric"},
      {"CandidateBadPort", with_candidate("candidate:1 1 UDP 1 127.0.0.1 70000 typ host"), "port"},
      {"CandidateBadType", with_candidate("candidate:1 1 UDP 1 127.0.0.1 9 typ bogus"), "type"},
      {"CandidateBadTransport", with_candidate("candidate:1 1 SCTP 1 127.0.0.1 9 typ host"),
       "transport"},
      {"CandidateComponent0", with_candidate("candidate:1 0 UDP 1 127.0.0.1 9 typ host"),
       "component"},
      {"CandidatePriorityText", with_candidate("candidate:1 1 UDP x 127.0.0.1 9 typ host"),
       "priority"},
      {"CandidateNoTyp", with_candidate("candidate:1 1 UDP 1 127.0.0.1 9 type host"), "typ"},
      {"CandidateOddExtension", with_candidate(std::string(kCand) + " raddr"), "pairs"},
      {"CandidateControlChar", with_candidate(std::string(kCand) + "\n"), "control"},
      {"CandidateTooLong", with_candidate(std::string(kCand) + std::string(600, 'x')), "512"},
      {"FingerprintWrongAlg", with("fingerprint", std::string(kFp).replace(0, 7, "sha-1  ")),
       "sha-256"},
      {"FingerprintShort", with("fingerprint", "sha-256 AB:CD"), "32 colon-separated"},
      {"FingerprintBadHex", with("fingerprint", std::string(kFp).replace(9, 1, "G")),
       "bad character"},
      {"FingerprintNumber", with("fingerprint", 5), "must be a string"},
      {"SetupBad", with("setup", "client"), "setup must be"},
      {"EndOfCandidatesString", with("end_of_candidates", "yes"), "must be a boolean"},
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Table, SessionDescriptionBad, ::testing::ValuesIn(bad_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SessionDescription, FromJsonRejectsNonObjectsWithoutThrowing) {
  for (const json& j : {json(42), json::array(), json(nullptr)}) {
    auto d = SessionDescription::from_json(j);
    ASSERT_FALSE(d) << j.dump();
    EXPECT_EQ(d.error(), "session description must be a JSON object");
  }
}

TEST(Candidate, ParsesFields) {
  auto parsed = parse_candidate(
      "candidate:abc+/ 1 udp 2130706431 ::1 5000 typ srflx raddr 127.0.0.1 rport 1");
  ASSERT_TRUE(parsed) << parsed.error();
  const CandidateInfo& c = *parsed;
  EXPECT_EQ(c.foundation, "abc+/");
  EXPECT_EQ(c.component, 1u);
  EXPECT_EQ(c.transport, "UDP");
  EXPECT_EQ(c.priority, 2130706431u);
  EXPECT_EQ(c.address, "::1");
  EXPECT_EQ(c.port, 5000);
  EXPECT_EQ(c.type, "srflx");
  auto error_of = [](const char* line) {
    auto r = parse_candidate(line);
    return r ? std::string("accepted") : r.error();
  };
  EXPECT_EQ(error_of("candidate:1 1 UDP 1 127.0.0.1 9  typ host"),
            "bad candidate: empty field (double space)");
  EXPECT_EQ(error_of("candidate:1 1 UDP 1 127.0.0.1 9 typ host "), "bad candidate: trailing space");
  EXPECT_EQ(error_of("candidate:1 1 UDP 99999999999 127.0.0.1 9 typ host"),
            "bad candidate: priority must be 1..4294967295");
  EXPECT_EQ(error_of("candidate:1 1 UDP 1 127.0.0.1 0 typ host"), "bad candidate: UDP port 0");
}
