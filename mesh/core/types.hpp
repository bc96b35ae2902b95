// Basic identifiers and limits shared by the mesh core.
#pragma once
#include <cstdint>

#include "mesh/base/time.hpp"

namespace meshcast::mesh {

// Opaque peer identifier. The real node maps tracker ids to these; the simulator uses indices.
using PeerId = uint32_t;
inline constexpr PeerId kNoPeer = 0xFFFFFFFFu;

// Time in microseconds on the caller's clock (the core never reads a clock itself).
using meshcast::TimeUs;

inline constexpr uint32_t kMaxSubstreams = 16;      // K <= 16 (sub-stream = number mod K)
inline constexpr uint32_t kMaxBufferMapBits = 256;  // buffer map covers at most 256 segments
inline constexpr uint32_t kMaxWindow = 256;         // segments a node keeps
inline constexpr uint32_t kMaxPayload = 1u << 20;   // 1 MiB per segment: bounds decoder memory
inline constexpr uint32_t kMaxRedirects = 4;
inline constexpr uint8_t kNoDepth = 255;  // not attached to a push tree
inline constexpr uint8_t kNoHome = 255;   // relays for every sub-stream (BufferMap::home)

}  // namespace meshcast::mesh
