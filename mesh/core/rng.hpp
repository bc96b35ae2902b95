// The node's only randomness (tie-breaks): xorshift64* seeded from the config, so a run is
// reproducible. One generator per node, shared by its parts in the order they draw.
#pragma once
#include <cstdint>

#include "mesh/core/types.hpp"

namespace meshcast::mesh {

class Rng {
 public:
  Rng(uint64_t seed, PeerId self)
      : state_(seed * 0x9E3779B97F4A7C15ull ^ (uint64_t(self) + 1) * 0xD1B54A32D192ED03ull) {
    if (state_ == 0) state_ = 1;
  }
  uint64_t next() {
    uint64_t x = state_;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state_ = x;
    return x * 0x2545F4914F6CDD1Dull;
  }

 private:
  uint64_t state_;
};

}  // namespace meshcast::mesh
