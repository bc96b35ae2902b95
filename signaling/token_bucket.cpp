#include "signaling/token_bucket.hpp"

#include <algorithm>

namespace meshcast::signaling {

TokenBucket::TokenBucket(double rate_per_s, double burst, int64_t now_ms)
    : rate_(rate_per_s), burst_(std::max(burst, 1.0)), tokens_(burst_), last_ms_(now_ms) {}

bool TokenBucket::take(int64_t now_ms) {
  if (now_ms > last_ms_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
    last_ms_ = now_ms;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void TokenBucket::charge(double cost, int64_t now_ms) {
  if (now_ms > last_ms_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
    last_ms_ = now_ms;
  }
  if (cost > 0) tokens_ = std::max(-burst_, tokens_ - cost);
}

}  // namespace meshcast::signaling
