// The simulator's randomness (splitmix64): one generator for global events (joins,
// lifetimes, tracker samples) and one per partition (link loss), so a run depends on the
// seed and the partitions only.
#pragma once
#include <cmath>
#include <cstdint>

namespace meshcast::mesh::sim {

class SimRng {
 public:
  explicit SimRng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  uint64_t s_;
};

}  // namespace meshcast::mesh::sim
