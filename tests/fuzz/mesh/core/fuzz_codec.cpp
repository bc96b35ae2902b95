// libFuzzer: mesh message decoder. Anything accepted must re-encode to the same bytes.
#include <cstdlib>

#include "mesh/core/codec.hpp"

using namespace meshcast::mesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = decode(std::span<const uint8_t>(data, size));
  if (!m) return 0;
  const auto again = encode(*m);
  if (again.size() != size || encoded_size(*m) != size) std::abort();
  for (size_t i = 0; i < size; ++i)
    if (again[i] != data[i]) std::abort();
  return 0;
}
