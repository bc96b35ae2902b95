// libFuzzer target: the RTP / RTCP APP framing of mesh traffic (chunks, control messages,
// NACKs, uplink probes and their answers).
#include <cstddef>
#include <cstdint>
#include <span>

#include "mesh/node/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  // Every rejection says why; every accepted span lies inside the input.
  if (auto c = meshcast::node::unwrap_chunk(in)) {
    if (c->data() < data || c->data() + c->size() > data + size) __builtin_trap();
  } else if (c.error().empty()) {
    __builtin_trap();
  }
  if (auto m = meshcast::node::unwrap_control(in)) {
    if (m->data() < data || m->data() + m->size() > data + size) __builtin_trap();
  } else if (m.error().empty()) {
    __builtin_trap();
  }
  if (auto n = meshcast::node::unwrap_nack(in)) {
    if (n->indices.size() > meshcast::node::kMaxNackIndices) __builtin_trap();
  } else if (n.error().empty()) {
    __builtin_trap();
  }
  // Reads only the name, within the input (ASan would say otherwise).
  (void)meshcast::node::app_packet_kind(in);
  if (auto p = meshcast::node::unwrap_probe(in)) {
    if (p->count == 0 || p->index >= p->count) __builtin_trap();
    // What is accepted survives its own encoding.
    auto again = meshcast::node::unwrap_probe(meshcast::node::wrap_probe(*p, size, 1));
    if (!again || again->train != p->train || again->index != p->index) __builtin_trap();
  } else if (p.error().empty()) {
    __builtin_trap();
  }
  if (auto r = meshcast::node::unwrap_probe_reply(in)) {
    auto again = meshcast::node::unwrap_probe_reply(meshcast::node::wrap_probe_reply(*r, 1));
    if (!again || again->arrival_us != r->arrival_us || again->received != r->received)
      __builtin_trap();
  } else if (r.error().empty()) {
    __builtin_trap();
  }
  return 0;
}
