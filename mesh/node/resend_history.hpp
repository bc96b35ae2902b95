// Recently sent fragmented messages on one link, kept so that chunks a partner NACKs can be
// sent again. The one owner of that memory's bound: by bytes and by age, whichever path
// fills it (a whole message sent at once, or a cut-through relay adding chunks as they
// arrive). Message ids on a link only grow, so entries stay sorted and a lookup is a binary
// search.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace meshcast::node {

class ResendHistory {
 public:
  // NACKs stop after about a second (MeshPeer), so older chunks are never asked for again.
  static constexpr size_t kDefaultMaxBytes = 96 * 1024;
  static constexpr int64_t kDefaultMaxAgeUs = 2'000'000;

  explicit ResendHistory(size_t max_bytes = kDefaultMaxBytes,
                         int64_t max_age_us = kDefaultMaxAgeUs);

  // A message whose chunks follow one by one (cut-through). Ids must grow.
  void begin(uint32_t msg_id, uint32_t ts, int64_t now_us);
  // Keeps chunk `index` of a begun message; ignored if the message is no longer held.
  void add_chunk(uint32_t msg_id, uint16_t index, std::span<const uint8_t> chunk, int64_t now_us);
  // A whole message at once.
  void add_message(uint32_t msg_id, uint32_t ts, std::vector<std::vector<uint8_t>> chunks,
                   int64_t now_us);

  // Chunk `index` of message `msg_id`, or nullptr (unknown, evicted or not yet in).
  const std::vector<uint8_t>* chunk(uint32_t msg_id, uint16_t index) const;
  // The RTP timestamp the message was sent with (0 if unknown).
  uint32_t ts(uint32_t msg_id) const;

  size_t bytes() const { return bytes_; }
  size_t messages() const { return sent_.size(); }
  size_t max_bytes() const { return max_bytes_; }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Sent {
    uint32_t id;
    uint32_t ts;
    int64_t at_us;
    size_t bytes;
    std::vector<std::vector<uint8_t>> chunks;
  };
  Sent* find(uint32_t msg_id);
  const Sent* find(uint32_t msg_id) const;
  // Oldest first, until both bounds hold; the newest message stays (a single message larger
  // than the byte bound is still resendable while it is the only one).
  void trim(int64_t now_us);

  size_t max_bytes_;
  int64_t max_age_us_;
  std::deque<Sent> sent_;
  size_t bytes_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace meshcast::node
