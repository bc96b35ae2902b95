// libFuzzer target: the RTP / RTCP APP framing of mesh traffic.
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
  return 0;
}
