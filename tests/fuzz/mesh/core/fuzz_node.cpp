// libFuzzer: a viewer node fed arbitrary bytes from several partners at increasing times.
// Input = sequence of (partner u8, dt u8, len u8, bytes). Must never crash or hang.
#include "mesh/core/node.hpp"
#include "mesh/core/sim_mac.hpp"

using namespace meshcast::mesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SimMac mac(1);
  NodeConfig c;
  c.self = 100;
  c.stream_id = 0;
  c.substreams = 2;
  c.window = 16;
  c.verifier = &mac;
  Node n(c);
  TimeUs now = 0;
  n.start(now);
  for (PeerId p = 0; p < 4; ++p) n.partner_connected(p, now);
  size_t pos = 0;
  while (pos + 3 <= size) {
    const PeerId from = data[pos] % 5;
    const bool timer = data[pos + 1] & 1;
    now += TimeUs(data[pos + 1]) * 10'000;
    const size_t len = std::min<size_t>(data[pos + 2], size - pos - 3);
    pos += 3;
    n.on_bytes(from, std::span<const uint8_t>(data + pos, len), now);
    pos += len;
    if (timer) n.on_timer(now);
    n.outbox().clear();
  }
  return 0;
}
