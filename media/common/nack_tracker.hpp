// Receiver-side gap detection for NACK (RFC 4585): remembers missing sequence numbers and
// says which to request now. Sans-IO: callers pass the time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace meshcast::media {

class NackTracker {
 public:
  struct Config {
    int64_t retry_interval_us = 40'000;  // re-request if the retransmission did not come
    int max_retries = 3;
    int64_t max_age_us = 400'000;  // give up: the jitter buffer no longer wants it
    size_t max_missing = 256;      // a larger gap means a restart: forget, ask PLI
  };
  NackTracker() = default;
  explicit NackTracker(Config c) : cfg_(c) {}

  // Returns true if the gap was so large the tracker reset (caller should send a PLI).
  bool on_packet(uint16_t seq, int64_t now_us);
  // Sequence numbers to NACK now (new gaps and due retries).
  std::vector<uint16_t> due(int64_t now_us);
  size_t missing_count() const { return missing_.size(); }
  uint64_t gaps_given_up() const { return given_up_; }

 private:
  struct Entry {
    int64_t first_seen_us;
    int64_t last_sent_us;  // 0 = not sent yet
    int retries;
  };
  Config cfg_;
  bool started_ = false;
  uint16_t highest_ = 0;
  std::map<int64_t, Entry> missing_;  // key: unwrapped sequence
  int64_t highest_ext_ = 0;
  uint64_t given_up_ = 0;
};

}  // namespace meshcast::media
