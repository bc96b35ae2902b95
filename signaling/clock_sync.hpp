// The offset of this process's clock to the tracker's wall clock, NTP-style from ping round
// trips: offset = server_time - (sent + received) / 2, whose error is at most half the round
// trip. Of the recent samples the one with the shortest round trip wins (NTP's minimum-delay
// filter): queueing delay only ever adds to a round trip, so the shortest is the least skewed.
// Pure logic: the caller sends the pings and feeds the times.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace meshcast::signaling {

class ClockSync {
 public:
  explicit ClockSync(std::size_t window = 8) : window_(window ? window : 1) {}

  // One round trip: local send and receive times and the server's time in its reply (all us).
  // Returns false (and ignores it) when the sample is impossible (received before sent,
  // a round trip over 10 s, or a server time more than a day away).
  bool add(int64_t sent_us, int64_t received_us, int64_t server_us);

  bool synced() const { return !samples_.empty(); }
  // server time - local time, from the best recent sample (0 before any).
  int64_t offset_us() const;
  // Round trip of that sample: the offset is right to within half of it.
  std::optional<int64_t> rtt_us() const;
  std::size_t samples() const { return samples_.size(); }

  static constexpr int64_t kMaxRttUs = 10'000'000;
  static constexpr int64_t kMaxOffsetUs = 86'400'000'000;

 private:
  struct Sample {
    int64_t rtt_us;
    int64_t offset_us;
  };
  const Sample* best() const;
  std::size_t window_;
  std::deque<Sample> samples_;
};

}  // namespace meshcast::signaling
