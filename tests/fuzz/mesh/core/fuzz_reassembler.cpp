// libFuzzer: chunk reassembly of untrusted packets. Input = sequence of (len u16, chunk).
#include <cstdlib>

#include "mesh/core/codec.hpp"
#include "mesh/core/reassembler.hpp"

using namespace meshcast::mesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reassembler r(3, 64 * 1024);
  std::vector<uint8_t> out;
  size_t pos = 0;
  while (pos + 2 <= size) {
    const size_t len = size_t(data[pos]) << 8 | data[pos + 1];
    pos += 2;
    const size_t n = std::min(len, size - pos);
    const auto res = r.feed(std::span<const uint8_t>(data + pos, n), out);
    pos += n;
    if (r.pending() > 3) std::abort();
    if (res == Reassembler::Result::kComplete) {
      if (out.size() > 64 * 1024) std::abort();
      (void)decode(out);
    }
  }
  return 0;
}
