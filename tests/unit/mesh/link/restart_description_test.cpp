#include "mesh/link/restart_description.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace meshcast::link;
using nlohmann::json;

namespace {

const char* kFp =
    "sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
    "01:23:45:67:89";

json valid_restart() {
  return json{
      {"ufrag", "wxyz"},
      {"pwd", "0123456789abcdefghijkl"},
      {"candidates", json::array({"candidate:1 1 UDP 2015363327 127.0.0.1 46005 typ host"})},
      {"end_of_candidates", false},
      {"fingerprint", kFp},
      {"setup", "actpass"},
      {"generation", 3},
      {"identity", {{"key", "k"}, {"sig", "s"}}}};  // extra fields are ignored
}

}  // namespace

TEST(RestartDescription, RoundTripsThroughJson) {
  auto r = RestartDescription::parse(valid_restart().dump());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->generation, 3u);
  EXPECT_EQ(r->description.ufrag, "wxyz");
  auto again = RestartDescription::parse(r->to_json().dump());
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->to_json(), r->to_json());
}

TEST(RestartDescription, MalformedInputIsRejectedWithAReason) {
  struct Case {
    const char* what;
    std::string text;
  };
  auto with = [](const char* key, json value) {
    json j = valid_restart();
    j[key] = std::move(value);
    return j.dump();
  };
  json no_gen = valid_restart();
  no_gen.erase("generation");
  json no_ufrag = valid_restart();
  no_ufrag.erase("ufrag");
  std::vector<Case> cases = {
      {"empty", ""},
      {"not json", "{\"generation\":"},
      {"array", "[1,2]"},
      {"string", "\"restart\""},
      {"no generation", no_gen.dump()},
      {"generation 0", with("generation", 0)},
      {"negative generation", with("generation", -1)},
      {"fractional generation", with("generation", 1.5)},
      {"generation as text", with("generation", "2")},
      {"generation too large", with("generation", 0x80000000LL)},
      {"generation huge", with("generation", 18446744073709551615ULL)},
      {"generation null", with("generation", nullptr)},
      {"missing ufrag", no_ufrag.dump()},
      {"bad pwd", with("pwd", "short")},
      {"bad fingerprint", with("fingerprint", "sha-1 AB")},
      {"bad setup", with("setup", "both")},
      {"bad candidate", with("candidates", json::array({"candidate:1 1 UDP 1 ::: 1 typ host"}))},
      {"oversize", std::string(17 * 1024, ' ') + valid_restart().dump()},
  };
  for (const auto& c : cases) {
    auto r = RestartDescription::parse(c.text);
    if (r) {
      ADD_FAILURE() << "accepted: " << c.what;
      continue;
    }
    EXPECT_FALSE(r.error().empty()) << c.what;
  }
}

TEST(RestartDescription, TrickleGenerationDefaultsToZeroAndIsBounded) {
  EXPECT_EQ(parse_ice_generation(json{{"candidate", "x"}}).value(), 0u);
  EXPECT_EQ(parse_ice_generation(json::object()).value(), 0u);
  EXPECT_EQ(parse_ice_generation(json{{"generation", 5}}).value(), 5u);
  EXPECT_EQ(parse_ice_generation(json{{"generation", kMaxIceGeneration}}).value(),
            kMaxIceGeneration);
  for (json bad : {json{{"generation", -3}}, json{{"generation", 2.5}}, json{{"generation", "1"}},
                   json{{"generation", 0x80000000LL}}, json{{"generation", json::array()}},
                   json(nullptr), json("generation"), json::array({1})}) {
    auto g = parse_ice_generation(bad);
    ASSERT_FALSE(g) << bad.dump();
    EXPECT_FALSE(g.error().empty()) << bad.dump();
  }
}
