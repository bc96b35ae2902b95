// libFuzzer target: one event as read back from Redis (pub/sub message or stored record),
// parsed, written again (the round trip must parse), and applied to a clustered core that
// holds a local broadcaster with a stream, a local viewer and a call.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "signaling/cluster_event.hpp"
#include "signaling/tracker_core.hpp"

using namespace meshcast::signaling;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto e = parse_cluster_event(text, &why);
  if (!e) {
    if (why.empty()) __builtin_trap();  // every rejection says why
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
  // The event twice (a duplicate after a snapshot), then time passes past every timeout.
  core.on_cluster(*e, 10, out);
  core.on_cluster(*e, 20, out);
  core.cluster_tick(100'000, true, out);
  core.on_timer(100'000, out);
  core.on_text(2, R"({"type":"relay","to":"x1","kind":"offer"})", 100'000, out);
  (void)core.cluster_share();
  return 0;
}
