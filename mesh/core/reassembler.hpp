// Rebuilds messages from chunks received from ONE partner (untrusted bytes). Memory is
// bounded: at most max_pending partial messages of at most max_message_bytes each; when
// full, the oldest partial message (lowest id) is evicted. A partial message holds what
// arrived (plus 2 bytes per announced chunk), never what its header announces: one chunk
// that claims a 1 MiB message costs about one chunk.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "mesh/core/fragmenter.hpp"

namespace meshcast::mesh {

class Reassembler {
 public:
  enum class Result : uint8_t { kIncomplete, kComplete, kMalformed, kTooLarge, kDuplicate };

  explicit Reassembler(size_t max_pending = 4, size_t max_message_bytes = (1u << 20) + 256);

  // On kComplete, `out` holds the whole message.
  Result feed(std::span<const uint8_t> chunk, std::vector<uint8_t>& out);
  size_t pending() const { return pending_.size(); }
  // Chunk indices still missing for partial message `id` (empty if unknown or complete), so
  // the link can NACK them instead of losing the whole segment.
  std::vector<uint16_t> missing(uint32_t id) const;
  size_t evicted() const { return evicted_; }
  // Bytes held by partial messages now.
  size_t held_bytes() const;

 private:
  struct Partial {
    uint32_t id = 0;
    uint16_t count = 0;
    uint16_t received = 0;
    size_t last_len = 0;
    // Where chunk i sits in `data` (in arrival order, kChunkDataBytes each), or kMissing.
    std::vector<uint16_t> slot;
    std::vector<uint8_t> data;
  };
  static constexpr uint16_t kMissing = 0xFFFF;
  size_t max_pending_;
  size_t max_chunks_;
  size_t evicted_ = 0;
  std::vector<Partial> pending_;
};

}  // namespace meshcast::mesh
