// Per-connection rate limit: `rate` tokens per second, at most `burst` saved up. Time is
// passed in (milliseconds, monotonic) so the bucket is deterministic under test.
#pragma once
#include <cstdint>

namespace meshcast::signaling {

class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double burst, int64_t now_ms);
  // Takes one token if available.
  bool take(int64_t now_ms);
  // Takes `cost` tokens after the fact (the cost of a reply is known only once it is built):
  // the balance may go below zero, down to -burst, and refills at the normal rate.
  void charge(double cost, int64_t now_ms);
  double tokens() const { return tokens_; }

 private:
  double rate_;
  double burst_;
  double tokens_;
  int64_t last_ms_;
};

}  // namespace meshcast::signaling
