// User-space network impairment (no netem here): drop, delay, jitter, reorder,
// corrupt, duplicate. Sans-IO: the owner feeds packets with a timestamp and runs a
// timer for next_due_us(); PeerLink applies it to raw UDP payloads.
#pragma once
#include <cstdint>
#include <queue>
#include <random>
#include <vector>

namespace meshcast::link {

struct Impairment {
  double drop = 0;       // probability a packet is lost
  int delay_ms = 0;      // fixed one-way delay
  int jitter_ms = 0;     // +- uniform jitter added to the delay
  double reorder = 0;    // probability a packet is held back so later ones overtake it
  double corrupt = 0;    // probability one byte (offset >= 12) is flipped
  double duplicate = 0;  // probability a packet is delivered twice
  uint64_t seed = 1;     // RNG seed: the same seed gives the same decisions
  bool active() const {
    return drop > 0 || delay_ms > 0 || jitter_ms > 0 || reorder > 0 || corrupt > 0 || duplicate > 0;
  }
};

class ImpairmentStage {
 public:
  using Packet = std::vector<uint8_t>;
  struct Counters {
    uint64_t dropped = 0, corrupted = 0, duplicated = 0, overflow = 0;
  };

  // At most max_queued delayed packets are held; beyond that new ones are dropped.
  explicit ImpairmentStage(size_t max_queued = 8192) : max_queued_(max_queued) {}

  void set(const Impairment& imp);
  const Impairment& get() const { return imp_; }
  bool active() const { return imp_.active() || !queue_.empty(); }

  // One packet enters at now_us. Packets to deliver right now go to `ready`
  // (0, 1 or 2 of them); delayed ones are queued. may_corrupt = false keeps the
  // bytes intact (PeerLink only corrupts SRTP/SRTCP, never the DTLS handshake).
  void push(Packet pkt, bool may_corrupt, int64_t now_us, std::vector<Packet>& ready);
  // Queued packets whose time has come, in due order.
  void pop_due(int64_t now_us, std::vector<Packet>& ready);
  // Earliest due time of a queued packet, or -1 if none.
  int64_t next_due_us() const { return queue_.empty() ? -1 : queue_.top().due_us; }
  size_t queued() const { return queue_.size(); }
  void clear() { queue_ = {}; }
  const Counters& counters() const { return counters_; }

 private:
  struct Held {
    int64_t due_us;
    uint64_t order;
    Packet data;
    bool operator>(const Held& o) const {
      return due_us != o.due_us ? due_us > o.due_us : order > o.order;
    }
  };
  bool chance(double p);
  void schedule(Packet pkt, int64_t now_us, std::vector<Packet>& ready);

  Impairment imp_;
  std::mt19937_64 rng_{1};
  size_t max_queued_;
  uint64_t order_ = 0;
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> queue_;
  Counters counters_;
};

}  // namespace meshcast::link
