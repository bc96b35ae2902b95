// libFuzzer target: one event as read back from Redis (pub/sub message or stored record),
// parsed, written again (the round trip must parse), and applied to a clustered core that
// holds a local broadcaster with a stream, a local viewer, a call and a local peer "k1"
// bound to a fixed identity key (public key D4Iel5fnqoSmRS9qsZDd+LhLG8b9w0P0p6VAfcy2cj4=).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "signaling/cluster_event.hpp"
#include "signaling/identity_key.hpp"
#include "signaling/identity_proof.hpp"
#include "signaling/tracker_core.hpp"

using namespace meshcast::signaling;
using meshcast::ms_to_us;

namespace {
const char* kK1Pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEICxLTAT66FX31ax7Mkl4SFhPPaUmYa6+ECe02GIRSOU0\n"
    "-----END PRIVATE KEY-----\n";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e = parse_cluster_event(text);
  if (!e) {
    if (e.error().empty()) __builtin_trap();  // every rejection says why
    return 0;
  }
  if (!parse_cluster_event(to_text(*e))) __builtin_trap();

  TrackerConfig cfg;
  cfg.instance_id = "self";
  TrackerCore core(cfg);
  CoreOutput out;
  core.on_open(1, 0, out);
  core.on_open(2, 0, out);
  core.on_text(1, R"({"type":"hello","peer_id":"bc","role":"broadcaster"})", 0, out);
  core.on_text(
      1, R"({"type":"stream_create","name":"live","public_key":")" + std::string(64, 'b') + "\"}",
      0, out);
  core.on_text(2, R"({"type":"hello","peer_id":"v","role":"viewer"})", 0, out);
  core.on_text(2, R"({"type":"join","stream":"live"})", 0, out);
  core.on_text(2, R"({"type":"call_invite","to":"bc"})", 0, out);
  static const IdentityKey k1 = *IdentityKey::from_pem(kK1Pem);
  CoreOutput welcome;
  core.on_open(3, 0, welcome);
  const std::string nonce = nlohmann::json::parse(welcome.send.at(0).second).at("nonce");
  const nlohmann::json hello = {{"type", "hello"},
                                {"peer_id", "k1"},
                                {"role", "caller"},
                                {"identity_key", k1.public_key_b64()},
                                {"identity_sig", k1.sign_b64(hello_proof_message(nonce, "k1"))}};
  core.on_text(3, hello.dump(), 0, out);
  if (!core.has_peer("k1")) __builtin_trap();  // the setup itself must work
  // The event twice (a duplicate after a snapshot), then time passes past every timeout.
  core.on_cluster(*e, ms_to_us(10), out);
  core.on_cluster(*e, ms_to_us(20), out);
  core.cluster_tick(ms_to_us(100'000), true, out);
  core.on_timer(ms_to_us(100'000), out);
  core.on_text(2, R"({"type":"relay","to":"x1","kind":"offer"})", ms_to_us(100'000), out);
  (void)core.cluster_share();
  return 0;
}
