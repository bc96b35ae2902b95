// libFuzzer target: bytes from a WebSocket client (or server) into the frame decoder, fed in two
// parts (the first byte chooses the split). Messages never exceed the limit, a failed decoder stays
// failed with a reason, and what it holds stays within the limit plus the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "signaling/ws_frame.hpp"

using namespace meshcast::signaling::ws;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  constexpr uint64_t kMax = 1024;
  std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = all.empty() ? 0 : data[0] % (all.size() + 1);
  // The first byte also picks whose frames these are (a client's or a server's).
  FrameDecoder d(kMax, data[0] & 0x80 ? Sender::kServer : Sender::kClient);
  for (std::string_view part : {all.substr(0, split), all.substr(split)}) {
    d.feed(part);
    while (auto m = d.next()) {
      if (m->payload.size() > kMax) __builtin_trap();
      const bool control =
          m->opcode == Opcode::kClose || m->opcode == Opcode::kPing || m->opcode == Opcode::kPong;
      if (control && m->payload.size() > 125) __builtin_trap();
    }
    if (d.failed() && (d.error().empty() || d.buffered() != 0)) __builtin_trap();
    if (d.buffered() > kMax + all.size() + 14) __builtin_trap();
  }
  return 0;
}
