#include "mesh/core/fragmenter.hpp"

namespace meshcast::mesh {

bool Fragmenter::fragment(uint32_t msg_id, std::span<const uint8_t> message,
                          std::vector<std::vector<uint8_t>>& out) {
  const size_t count = chunk_count(message.size());
  if (count > 0xFFFF) return false;
  for (size_t i = 0; i < count; ++i) {
    const size_t off = i * kChunkDataBytes;
    const size_t len = std::min(kChunkDataBytes, message.size() - off);
    std::vector<uint8_t> c;
    c.reserve(kChunkHeaderBytes + len);
    c.push_back(uint8_t(msg_id >> 24));
    c.push_back(uint8_t(msg_id >> 16));
    c.push_back(uint8_t(msg_id >> 8));
    c.push_back(uint8_t(msg_id));
    c.push_back(uint8_t(i >> 8));
    c.push_back(uint8_t(i));
    c.push_back(uint8_t(count >> 8));
    c.push_back(uint8_t(count));
    c.insert(c.end(), message.begin() + long(off), message.begin() + long(off + len));
    out.push_back(std::move(c));
  }
  return true;
}

}  // namespace meshcast::mesh
