// libFuzzer target: message validation plus the tracker core's handling of whatever passes
// validation (a registered peer in a stream, a second peer, a ringing call).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "signaling/identity_key.hpp"
#include "signaling/identity_proof.hpp"
#include "signaling/message_validator.hpp"
#include "signaling/tracker_core.hpp"

using namespace meshcast::signaling;
using meshcast::ms_to_us;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = validate_message(text);
  if (!r && r.error().code.empty()) __builtin_trap();  // every rejection has a code

  TrackerCore core;
  CoreOutput out;
  core.on_open(1, 0, out);
  core.on_open(2, 0, out);
  core.on_open(3, 0, out);
  // "a" proves a key, so the name is bound: the fuzzed frame from connection 3 meets a bound
  // name, an unbound one or an assigned id.
  static const auto key = IdentityKey::generate();
  const std::string nonce = nlohmann::json::parse(out.send[0].second)["nonce"];
  nlohmann::json hello_a = {{"type", "hello"},
                            {"peer_id", "a"},
                            {"role", "broadcaster"},
                            {"upload_kbps", 3000},
                            {"identity_key", key->public_key_b64()},
                            {"identity_sig", key->sign_b64(hello_proof_message(nonce, "a"))}};
  core.on_text(1, hello_a.dump(), 0, out);
  core.on_text(2, R"({"type":"hello","peer_id":"b","role":"viewer","accept_calls":["a"]})", 0, out);
  core.on_text(1,
               R"({"type":"stream_create","name":"s","public_key":")"
               "0000000000000000000000000000000000000000000000000000000000000000"
               R"(","private":true,"view_key":"12345678"})",
               0, out);
  core.on_text(2, R"({"type":"join","stream":"s","view_key":"12345678"})", 0, out);
  core.on_text(1, R"({"type":"call_invite","to":"b","timeout_ms":100})", 0, out);
  // The fuzzed frame from both sides, then timers and disconnects.
  core.on_text(1, text, ms_to_us(1), out);
  core.on_text(2, text, ms_to_us(2), out);
  core.on_text(3, text, ms_to_us(2), out);
  // The HTTP views with the frame as key and page cursor (the server validates `after`; the
  // core must not depend on it).
  (void)core.api_streams(text, text, 3);
  (void)core.api_overlay("s", text, text, 2);
  (void)core.api_overlay(text, "12345678", {}, 1);
  core.on_timer(ms_to_us(1000), out);
  core.on_close(2, ms_to_us(1001), out);
  core.on_text(1, text, ms_to_us(1002), out);
  core.on_close(1, ms_to_us(1003), out);
  core.on_close(3, ms_to_us(1003), out);
  // Closed peers stay resumable for the grace; after it nothing of them may be left.
  core.on_timer(ms_to_us(1003 + TrackerConfig{}.resume_grace_ms), out);
  if (core.peer_count() != 0 || core.stream_count() != 0 || core.call_count() != 0)
    __builtin_trap();  // no state may survive its peers
  return 0;
}
