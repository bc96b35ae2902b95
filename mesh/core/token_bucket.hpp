// Upload budget driven by the caller's clock. Pushes are committed (may go negative down to
// -burst); pulls are served only while tokens remain.
#pragma once
#include <algorithm>
#include <cstdint>

#include "mesh/core/types.hpp"

namespace meshcast::mesh {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(uint64_t bytes_per_s, double burst_s, bool start_full = true, TimeUs now = 0)
      : rate_(double(bytes_per_s)),
        burst_(double(bytes_per_s) * burst_s),
        tokens_(start_full ? burst_ : 0),
        last_(now) {}

  void refill(TimeUs now) {
    if (now > last_) {
      tokens_ = std::min(burst_, tokens_ + rate_ * double(now - last_) * 1e-6);
      last_ = now;
    }
  }
  bool can_spend(TimeUs now, uint64_t bytes) {
    refill(now);
    return tokens_ >= double(bytes);
  }
  void spend(TimeUs now, uint64_t bytes) {
    refill(now);
    tokens_ = std::max(-burst_, tokens_ - double(bytes));
  }
  // A new rate (the uplink estimate moved): tokens earned so far stay, within the new burst.
  void set_rate(uint64_t bytes_per_s, double burst_s, TimeUs now) {
    refill(now);
    rate_ = double(bytes_per_s);
    burst_ = double(bytes_per_s) * burst_s;
    tokens_ = std::clamp(tokens_, -burst_, burst_);
  }
  double tokens() const { return tokens_; }

 private:
  double rate_ = 0, burst_ = 0, tokens_ = 0;
  TimeUs last_ = 0;
};

}  // namespace meshcast::mesh
