// Splits an encoded message into chunks of at most kMaxChunkBytes for the packet transport
// (one SRTP/SRTCP packet each). Chunk = msg_id (u32) | index (u16) | count (u16) | data.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace meshcast::mesh {

inline constexpr size_t kMaxChunkBytes = 1100;
inline constexpr size_t kChunkHeaderBytes = 8;
inline constexpr size_t kChunkDataBytes = kMaxChunkBytes - kChunkHeaderBytes;

class Fragmenter {
 public:
  static size_t chunk_count(size_t message_bytes) {
    return message_bytes == 0 ? 1 : (message_bytes + kChunkDataBytes - 1) / kChunkDataBytes;
  }
  // Appends the chunks of `message` to `out` (reusing its elements' capacity).
  // Returns false if the message needs more than 65535 chunks.
  static bool fragment(uint32_t msg_id, std::span<const uint8_t> message,
                       std::vector<std::vector<uint8_t>>& out);
};

}  // namespace meshcast::mesh
