// Paces a peer's sends to its upload capacity, most urgent first (sans-IO: the caller
// gives the time and arms its own timer). A relay's uplink is where a hop's delay queues
// up; holding that queue here, rather than in the modem, lets control and the pushes that
// feed large subtrees overtake the rest, and pull answers (which only the puller waits
// for) go last.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace meshcast::node {

class UploadPacer {
 public:
  static constexpr uint8_t kLevels = 16;              // priority 0 leaves first
  static constexpr uint8_t kBulkLevel = kLevels - 1;  // bounded; the others are not
  enum class Kind : uint8_t { kRtp, kRtcp };
  struct Packet {
    uint32_t peer = 0;
    Kind kind = Kind::kRtp;
    uint32_t ts = 0;  // RTP timestamp (the caller numbers packets when they leave)
    std::vector<uint8_t> bytes;
    int64_t queued_us = 0;  // set by enqueue
  };
  struct Counters {
    uint64_t sent_bytes = 0;
    uint64_t dropped = 0;  // bulk packets refused because the bulk level was full
    uint64_t evicted = 0;  // queued packets dropped: too old, or pushed out by more urgent ones
    uint64_t max_queued_bytes = 0;
  };

  // rate_bps 0: no pacing, packets leave at once (most urgent first within a batch).
  // burst_bytes: what may leave back to back after an idle period.
  // max_bulk_bytes: bound of kBulkLevel (a full level refuses; the puller asks again).
  // max_queued_bytes: bound of everything queued; when a packet would pass it, the oldest
  // packet of the least urgent level at or below its priority goes (or it is refused).
  // max_age_us: a packet queued longer is dropped instead of sent (live media that late is
  // past its deadline, and the queue would only keep growing on an uplink slower than asked).
  static constexpr size_t kDefaultBurstBytes = 16 * 1024;
  static constexpr size_t kDefaultMaxBulkBytes = 512 * 1024;
  static constexpr size_t kDefaultMaxQueuedBytes = 4 << 20;
  static constexpr int64_t kDefaultMaxAgeUs = 2'000'000;
  explicit UploadPacer(uint64_t rate_bps = 0, size_t burst_bytes = kDefaultBurstBytes,
                       size_t max_bulk_bytes = kDefaultMaxBulkBytes,
                       size_t max_queued_bytes = kDefaultMaxQueuedBytes,
                       int64_t max_age_us = kDefaultMaxAgeUs);

  // Queues a packet at `priority` (above kBulkLevel counts as bulk); false if refused.
  bool enqueue(uint8_t priority, Packet p, int64_t now_us);
  // Moves the packets allowed by now_us to `out`, most urgent first.
  void release(int64_t now_us, std::vector<Packet>& out);
  // Everything queued, whatever the rate (shutting down: a goodbye must not wait).
  void release_all(std::vector<Packet>& out);
  // When the next queued packet may leave; -1 when nothing is queued.
  int64_t next_release_us() const;
  size_t queued_bytes() const { return queued_bytes_; }
  // Whether an RTP packet to `peer` whose bytes start with `prefix` is still queued (a
  // partner NACKs a chunk that has not left yet: sending it again would only add load).
  bool holds(uint32_t peer, std::span<const uint8_t> prefix) const;
  bool pacing() const { return rate_bps_ > 0; }
  // A new rate for what leaves from now on (the uplink estimate moved; 0 stops pacing).
  void set_rate(uint64_t rate_bps) { rate_bps_ = rate_bps; }
  uint64_t rate_bps() const { return rate_bps_; }
  const Counters& counters() const { return counters_; }

 private:
  void refill(int64_t now_us);
  std::deque<Packet>* head_level();
  // Removes a level's oldest packet, keeping the queued byte counts right.
  Packet take_front(std::deque<Packet>& level);
  void pop(std::deque<Packet>& level, std::vector<Packet>& out);

  bool make_room(uint8_t level, size_t n);
  void expire(int64_t now_us);

  uint64_t rate_bps_;
  double burst_;
  size_t max_bulk_;
  size_t max_queued_;
  int64_t max_age_us_;
  double tokens_;  // bytes that may leave now (may go negative by one packet)
  int64_t last_us_ = -1;
  std::array<std::deque<Packet>, kLevels> levels_;
  size_t queued_bytes_ = 0, bulk_bytes_ = 0;
  Counters counters_;
};

}  // namespace meshcast::node
