// NackTracker: which chunks of partly received messages to ask a partner for again, and when.
// Sans-IO: chunk arrivals and the time in, chunk NACKs out of on_timer() once next_deadline()
// has passed. One per link; the sender's side (what it keeps to resend) is ResendHistory.
//
// A message's chunks come in order, back to back or paced or trickling (cut-through):
// missing chunks are NACKed once the chunks stopped coming for kDelayUs, or, for a gap
// before chunks that did come, kDelayUs after the gap showed. A NACK is repeated every
// kRetryUs at most kMaxNacks times; a message silent for kGiveUpUs is forgotten.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "mesh/base/time.hpp"
#include "mesh/node/wire.hpp"

namespace meshcast::node {

class NackTracker {
 public:
  static constexpr TimeUs kDelayUs = 30'000;
  static constexpr TimeUs kRetryUs = 60'000;
  static constexpr int kMaxNacks = 4;
  static constexpr TimeUs kGiveUpUs = 1'000'000;
  static constexpr size_t kDefaultMaxPartials = 16;

  // The chunk indices of a message the reassembler still lacks (empty: complete or evicted).
  using MissingFn = std::function<std::vector<uint16_t>(uint32_t msg_id)>;

  explicit NackTracker(size_t max_partials = kDefaultMaxPartials) : max_(max_partials) {}

  // Chunk `index` of a message still incomplete came at `now`. Only messages the
  // reassembler still holds can be repaired: the oldest id goes first (ids grow), so a
  // partner sending many ids cannot grow this. False: this message is not tracked.
  bool on_chunk(uint32_t msg_id, uint32_t index, TimeUs now);
  // The message is done with (complete, a duplicate, or malformed).
  void forget(uint32_t msg_id) { partials_.erase(msg_id); }

  // The NACKs due at `now`, one per message. can_send false (link not up): none is
  // asked, and the messages wait for the next call.
  std::vector<ChunkNack> on_timer(TimeUs now, const MissingFn& missing, bool can_send = true);
  // When on_timer() has something to do next (nothing while no message is tracked).
  std::optional<TimeUs> next_deadline() const;

  bool empty() const { return partials_.empty(); }
  size_t size() const { return partials_.size(); }

 private:
  struct Partial {
    TimeUs last_us = 0;    // when a chunk last came
    TimeUs nacked_us = 0;  // when last NACKed
    int nacks = 0;
    uint32_t next_index = 0;  // the next chunk index in order
    TimeUs gap_us = -1;       // since when one before next_index is missing (-1: no gap)
  };
  size_t max_;
  std::map<uint32_t, Partial> partials_;
};

}  // namespace meshcast::node
