// libFuzzer: cut-through relay of untrusted chunks. Input = sequence of (len u16, chunk).
// Invariant: a chunk is never reported ready unless the relay verified the head first.
#include <cstdlib>

#include "mesh/core/chunk_relay.hpp"
#include "mesh/core/sim_mac.hpp"

using namespace meshcast::mesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SimMac mac(42);
  ChunkRelay relay(mac);
  size_t pos = 0;
  while (pos + 2 <= size) {
    const size_t len = size_t(data[pos]) << 8 | data[pos + 1];
    pos += 2;
    const size_t n = std::min(len, size - pos);
    relay.feed(std::span<const uint8_t>(data + pos, n));
    pos += n;
    for (uint16_t i : relay.take_ready()) {
      if (relay.state() != ChunkRelay::State::kRelaying || i >= relay.count()) std::abort();
      if (relay.chunk(i).empty()) std::abort();
    }
  }
  return 0;
}
