// Rate limit on the caller's clock: `rate` units per second, at most `burst` saved up. The
// units are the caller's (bytes of upload, requests of a connection). A cost known only
// after the fact may be spent into debt, down to -burst, which refills at the same rate.
#pragma once
#include <algorithm>

#include "mesh/base/time.hpp"

namespace meshcast {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double rate_per_s, double burst, TimeUs now, bool start_full = true)
      : rate_(rate_per_s), burst_(burst), tokens_(start_full ? burst : 0), last_(now) {}

  void refill(TimeUs now) {
    if (now > last_) {
      tokens_ = std::min(burst_, tokens_ + rate_ * double(now - last_) / double(kUsPerS));
      last_ = now;
    }
  }
  bool can_spend(double units, TimeUs now) {
    refill(now);
    return tokens_ >= units;
  }
  // Spends whether or not the tokens are there (debt bounded by -burst).
  void spend(double units, TimeUs now) {
    refill(now);
    if (units > 0) tokens_ = std::max(-burst_, tokens_ - units);
  }
  // Spends only if the tokens are there.
  bool take(double units, TimeUs now) {
    if (!can_spend(units, now)) return false;
    tokens_ -= units;
    return true;
  }
  // A new rate (e.g. the uplink estimate moved): tokens earned so far stay, within the new
  // burst.
  void set_rate(double rate_per_s, double burst, TimeUs now) {
    refill(now);
    rate_ = rate_per_s;
    burst_ = burst;
    tokens_ = std::clamp(tokens_, -burst_, burst_);
  }
  double tokens() const { return tokens_; }

 private:
  double rate_ = 0, burst_ = 0, tokens_ = 0;
  TimeUs last_ = 0;
};

}  // namespace meshcast
