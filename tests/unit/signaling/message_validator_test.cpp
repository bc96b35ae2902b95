#include "signaling/message_validator.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace meshcast::signaling;

namespace {

const std::string kHexKey(64, 'a');
const std::string kB64Key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
// Identity proof fields: the shape only (the signature is checked by the core).
const std::string kIdKey = kB64Key;
const std::string kIdSig = std::string(86, 'A') + "==";

struct Bad {
  std::string text;
  std::string code;
};

TEST(MessageValidator, RejectsMalformedMessages) {
  const std::string big_payload = std::string(17000, 'x');
  const std::vector<Bad> table = {
      {"", "bad_json"},
      {"not json", "bad_json"},
      {"{", "bad_json"},
      {"{\"type\":\"hello\",}", "bad_json"},
      {"\"hello\"", "not_object"},
      {"[1,2,3]", "not_object"},
      {"42", "not_object"},
      {"null", "not_object"},
      {"{}", "missing_field"},
      {R"({"type":7})", "bad_field"},
      {R"({"type":"frobnicate"})", "unknown_type"},
      {R"({"type":"HELLO","role":"viewer"})", "unknown_type"},
      {R"({"type":"hello"})", "missing_field"},
      {R"({"type":"hello","role":"king"})", "bad_field"},
      {R"({"type":"hello","role":5})", "bad_field"},
      {R"({"type":"hello","role":"viewer","peer_id":"has space"})", "bad_field"},
      {R"({"type":"hello","role":"viewer","peer_id":""})", "bad_field"},
      {R"({"type":"hello","role":"viewer","peer_id":")" + std::string(65, 'a') + "\"}", "too_long"},
      {R"({"type":"hello","role":"viewer","upload_kbps":-1})", "bad_field"},
      {R"({"type":"hello","role":"viewer","upload_kbps":"100"})", "bad_field"},
      {R"({"type":"hello","role":"viewer","upload_kbps":1.5})", "bad_field"},
      {R"({"type":"hello","role":"viewer","accept_calls":"some"})", "bad_field"},
      {R"({"type":"hello","role":"viewer","accept_calls":[1,2]})", "bad_field"},
      {R"({"type":"hello","role":"viewer","id":{"a":1}})", "bad_field"},
      {R"({"type":"hello","role":"viewer","id":")" + std::string(65, 'i') + "\"}", "bad_field"},
      // Identity proof: both fields or neither, canonical base64 of 32 / 64 bytes.
      {R"({"type":"hello","role":"viewer","identity_key":")" + kIdKey + "\"}", "missing_field"},
      {R"({"type":"hello","role":"viewer","identity_sig":")" + kIdSig + "\"}", "missing_field"},
      {R"({"type":"hello","role":"viewer","identity_key":5,"identity_sig":")" + kIdSig + "\"}",
       "bad_field"},
      {R"({"type":"hello","role":"viewer","identity_key":")" + kIdKey + R"(","identity_sig":[]})",
       "bad_field"},
      {R"({"type":"hello","role":"viewer","identity_key":")" + kIdKey + "A" +
           R"(","identity_sig":")" + kIdSig + "\"}",
       "too_long"},
      {R"({"type":"hello","role":"viewer","identity_key":")" + kIdSig + R"(","identity_sig":")" +
           kIdSig + "\"}",
       "too_long"},
      {R"({"type":"hello","role":"viewer","identity_key":")" + std::string(43, 'A') +
           R"(","identity_sig":")" + kIdSig + "\"}",
       "bad_field"},  // 43 symbols without its '='
      {R"({"type":"hello","role":"viewer","identity_key":")" + std::string(43, '*') +
           R"(=","identity_sig":")" + kIdSig + "\"}",
       "bad_field"},
      {R"({"type":"hello","role":"viewer","identity_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=","identity_sig":")" +
           kIdSig + "\"}",
       "bad_field"},  // non-zero padding bits: not the canonical spelling
      {R"({"type":"hello","role":"viewer","identity_key":")" + kIdKey + R"(","identity_sig":")" +
           kIdSig.substr(0, 86) + "\"}",
       "bad_field"},
      {R"({"type":"hello","role":"viewer","identity_key":")" + kIdKey + R"(","identity_sig":")" +
           std::string(88, 'A') + "\"}",
       "bad_field"},  // 88 symbols but no padding: 66 bytes
      {R"({"type":"stream_create","public_key":")" + kHexKey + "\"}", "missing_field"},
      {R"({"type":"stream_list","limit":0})", "bad_field"},
      {R"({"type":"stream_list","limit":101})", "bad_field"},
      {R"({"type":"stream_list","limit":-5})", "bad_field"},
      {R"({"type":"stream_list","limit":"10"})", "bad_field"},
      {R"({"type":"stream_list","limit":2.5})", "bad_field"},
      {R"({"type":"stream_list","limit":1e300})", "bad_field"},
      {R"({"type":"stream_list","after":""})", "bad_field"},
      {R"({"type":"stream_list","after":"a/b"})", "bad_field"},
      {R"({"type":"stream_list","after":[]})", "bad_field"},
      {R"({"type":"stream_list","after":")" + std::string(65, 'n') + "\"}", "too_long"},
      {R"({"type":"stream_create","name":"s"})", "missing_field"},
      {R"({"type":"stream_create","name":"s","public_key":"abc"})", "bad_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + std::string(64, 'g') + "\"}",
       "bad_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + kHexKey + R"(","private":true})",
       "missing_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + kHexKey +
           R"(","private":true,"view_key":"short"})",
       "bad_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + kHexKey + R"(","private":"yes"})",
       "bad_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + kHexKey + R"(","codec":"vp8"})",
       "bad_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + kHexKey + R"(","bitrate_kbps":0})",
       "bad_field"},
      {R"({"type":"stream_create","name":"s","public_key":")" + kHexKey + R"(","codec":{"x":")" +
           std::string(3000, 'c') + "\"}}",
       "too_large"},
      {R"({"type":"stream_describe"})", "missing_field"},
      {R"({"type":"stream_describe","name":["s"]})", "bad_field"},
      {R"({"type":"stream_end","name":"a/b"})", "bad_field"},
      {R"({"type":"join"})", "missing_field"},
      {R"({"type":"join","stream":"s","max":0})", "bad_field"},
      {R"({"type":"join","stream":"s","max":17})", "bad_field"},
      {R"({"type":"join","stream":"s","exclude":"bob"})", "bad_field"},
      {R"({"type":"neighbours","stream":"s","exclude":[")" + std::string(10, 'x') + R"(",3]})",
       "bad_field"},
      {R"({"type":"relay","kind":"offer","payload":{}})", "missing_field"},
      {R"({"type":"relay","to":"bob"})", "missing_field"},
      {R"({"type":"relay","to":"bob","kind":"Offer!"})", "bad_field"},
      {R"({"type":"relay","to":"bob","kind":"offer","payload":")" + big_payload + "\"}",
       "too_large"},
      {R"({"type":"call_invite"})", "missing_field"},
      {R"({"type":"call_invite","to":"bob","timeout_ms":5})", "bad_field"},
      {R"({"type":"call_accept"})", "missing_field"},
      {R"({"type":"call_accept","call_id":12})", "bad_field"},
      {R"({"type":"call_decline","call_id":"c","reason":")" + std::string(300, 'r') + "\"}",
       "too_long"},
      {R"({"type":"report","partners":{}})", "bad_field"},
      {R"({"type":"report","partners":[{"id":"a"}]})", "missing_field"},
      {R"({"type":"report","partners":[{"id":"a","role":"uncle"}]})", "bad_field"},
      {R"({"type":"report","partners":["a"]})", "bad_field"},
      {R"({"type":"report","partners":[{"id":"a","role":"pull","rx_bytes":-1}]})", "bad_field"},
      {R"({"type":"report","partners":[{"id":"a","role":"pull","rx_bytes":"lots"}]})", "bad_field"},
      {R"({"type":"report","partners":[{"id":"a","role":"pull","rx_bytes":1.5}]})", "bad_field"},
      {R"({"type":"report","partners":[{"id":"a","role":"pull","rx_bytes":1099511627777}]})",
       "bad_field"},
      {R"({"type":"report","partners":[{"id":"a","role":"pull","rx_bytes":18446744073709551615}]})",
       "bad_field"},
      {R"({"type":"report","stats":{"lag_ms":"low"}})", "bad_field"},
      {R"({"type":"report","stats":[1]})", "bad_field"},
      {std::string(70000, ' '), "too_large"},
      {std::string(100, '[') + std::string(100, ']'), "bad_json"},
      {"{\"type\":\"ping\",\"x\":" + std::string(40, '[') + std::string(40, ']') + "}", "bad_json"},
      {"{\"type\":\"hello\",\"role\":\"viewer\",\"peer_id\":\"\xff\xfe\"}", "bad_json"},
  };
  ASSERT_GE(table.size(), 30u);
  for (auto& row : table) {
    auto r = validate_message(row.text);
    if (r.has_value()) {
      ADD_FAILURE() << "accepted: " << row.text.substr(0, 120);
      continue;
    }
    EXPECT_EQ(r.error().code, row.code) << row.text.substr(0, 120) << " -> " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(MessageValidator, ErrorCarriesRequestIdAndType) {
  auto r = validate_message(R"({"type":"join","id":17})");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().ref_id, 17);
  EXPECT_EQ(r.error().ref_type, "join");
  auto j = r.error().to_json();
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["ref_id"], 17);
  EXPECT_EQ(j["code"], "missing_field");
}

TEST(MessageValidator, AcceptedRequestCarriesTypeIdAndBody) {
  auto r = validate_message(R"({"type":"join","stream":"p","id":"x1"})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->type, MsgType::kJoin);
  EXPECT_EQ(r->id, "x1");
  EXPECT_EQ(r->body["stream"], "p");
  auto no_id = validate_message(R"({"type":"ping"})");
  ASSERT_TRUE(no_id.has_value());
  EXPECT_TRUE(no_id->id.is_null());
}

TEST(MessageValidator, AcceptsWellFormedMessages) {
  const std::vector<std::string> good = {
      R"({"type":"hello","role":"viewer"})",
      R"({"type":"hello","role":"caller","peer_id":"alice","upload_kbps":5000,"accept_calls":["bob","carol"],"id":"x1"})",
      R"({"type":"hello","role":"broadcaster","accept_calls":"none"})",
      R"({"type":"hello","role":"caller","peer_id":"bob","identity_key":")" + kIdKey +
          R"(","identity_sig":")" + kIdSig + "\"}",
      R"({"type":"stream_create","name":"live.1","public_key":")" + kHexKey +
          R"(","codec":{"video":"vp8"},"bitrate_kbps":1500})",
      R"({"type":"stream_create","name":"p","public_key":")" + kB64Key +
          R"(","private":true,"view_key":"sesame-123"})",
      R"({"type":"stream_list"})",
      R"({"type":"stream_list","after":"s049","limit":100})",
      R"({"type":"stream_describe","name":"p","view_key":"k"})",
      R"({"type":"stream_update","name":"p","bitrate_kbps":900})",
      R"({"type":"stream_end","name":"p","secret":"abc"})",
      R"({"type":"join","stream":"p","max":16,"exclude":["a","b"]})",
      R"({"type":"neighbours","stream":"p"})",
      R"({"type":"relay","to":"bob","kind":"offer","payload":{"sdp":"v=0"}})",
      R"({"type":"relay","to":"bob","kind":"bye"})",
      R"({"type":"call_invite","to":"bob","timeout_ms":1000})",
      R"({"type":"call_accept","call_id":"c-1"})",
      R"({"type":"call_decline","call_id":"c-1","reason":"busy"})",
      R"({"type":"call_cancel","call_id":"c-1"})",
      R"({"type":"call_hangup","call_id":"c-1"})",
      R"({"type":"report","stream":"p","partners":[{"id":"a","role":"parent"},{"id":"b","role":"child"}],"stats":{"lag_ms":120,"continuity":0.99}})",
      R"({"type":"report","partners":[{"id":"a","role":"parent","rx_bytes":1099511627776},{"id":"b","role":"pull","rx_bytes":0}]})",
      R"({"type":"report","stats":{"lag_ms":null,"upload_kbps":12}})",
      R"({"type":"leave"})",
      R"({"type":"ping","id":1,"extra":"ignored"})",
  };
  for (auto& g : good) {
    auto r = validate_message(g);
    EXPECT_TRUE(r.has_value()) << g << " -> "
                               << (r ? "" : r.error().code + ": " + r.error().message);
  }
}

TEST(MessageValidator, NamesAndKeys) {
  EXPECT_TRUE(is_valid_name("a-b_c.9"));
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name("a b"));
  EXPECT_FALSE(is_valid_name(std::string(65, 'a')));
  EXPECT_TRUE(decode_public_key(kHexKey));
  EXPECT_TRUE(decode_public_key(kB64Key));
  EXPECT_TRUE(decode_public_key(kB64Key.substr(0, 43)));
  EXPECT_FALSE(decode_public_key(kB64Key.substr(0, 42)));
  EXPECT_FALSE(decode_public_key(std::string(63, 'a')));
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[","b":[{}]})"), 3);
  EXPECT_EQ(json_nesting_depth(R"("\"[[[")"), 0);
}

}  // namespace
