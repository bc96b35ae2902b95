// Mesh protocol messages (decoded form). The wire encoding is in codec.hpp; the simulator
// passes these structs directly and charges encoded_size() bytes per message.
#pragma once
#include <array>
#include <cstdint>
#include <variant>

#include "mesh/core/segment.hpp"
#include "mesh/core/types.hpp"

namespace meshcast::mesh {

enum class MsgType : uint8_t {
  kHello = 1,
  kBufferMap = 2,
  kRequest = 3,
  kSubscribe = 4,
  kSubscribeAck = 5,
  kUnsubscribe = 6,
  kReject = 7,
  kSegment = 8,
  kBye = 9,
};

// First message on a new partnership.
struct Hello {
  uint64_t stream_id = 0;
  uint32_t upload_kbps = 0;  // advertised upload capacity
  uint8_t substreams = 0;    // K the sender uses; must match
  uint8_t is_source = 0;
};

// Which segments the sender holds: bit i of `bits` <=> segment base+i, i < count.
// Also advertises push-tree depth per sub-stream and spare push slots (for parent choice).
struct BufferMap {
  uint32_t base = 0;
  uint16_t count = 0;  // <= kMaxBufferMapBits
  uint8_t spare_slots = 0;
  uint8_t substreams = 0;  // number of entries in depth (<= kMaxSubstreams)
  // The one sub-stream the sender relays for (kNoHome: all alike, as the source does).
  uint8_t home = kNoHome;
  std::array<uint8_t, kMaxSubstreams> depth{};
  std::array<uint64_t, kMaxBufferMapBits / 64> bits{};

  bool has(uint32_t n) const {
    const uint32_t i = n - base;
    return n >= base && i < count && ((bits[i >> 6] >> (i & 63)) & 1u);
  }
  void set(uint32_t n) {
    const uint32_t i = n - base;
    if (n >= base && i < count) bits[i >> 6] |= uint64_t(1) << (i & 63);
  }
};

// Pull request: segments base+i for each set bit i of mask.
struct Request {
  uint32_t base = 0;
  uint32_t mask = 0;
};

// Ask to be pushed sub-stream `substream` (numbers with n % K == substream). `depth` is
// the subscriber's current depth in that sub-stream's tree (kNoDepth if none); the parent
// refuses unless its own depth is strictly smaller, which rules out cycles.
struct Subscribe {
  uint8_t substream = 0;
  uint8_t depth = kNoDepth;
  // A parent one hop below the source that took us as its child on this sub-stream and sent
  // nothing (kNoPeer: none). The source may hand its slot to us.
  PeerId silent_parent = kNoPeer;
};

struct SubscribeAck {
  uint8_t substream = 0;
  uint8_t depth = 0;  // parent's depth; the child's becomes depth + 1
};

struct Unsubscribe {
  uint8_t substream = 0;
};

enum class RejectKind : uint8_t { kSubscribe = 1, kRequest = 2, kPartner = 3 };
enum class RejectReason : uint8_t {
  kBusy = 1,     // no upload budget / slots
  kNotHave = 2,  // requested segment not held
  kDepth = 3,    // would create a cycle / not attached
  kDropped = 4,  // parent dropped the child (orphaned subtree, overload)
  kFull = 5,     // partner set full
};

struct Reject {
  RejectKind kind = RejectKind::kRequest;
  RejectReason reason = RejectReason::kBusy;
  uint8_t substream = 0;  // for kSubscribe
  uint32_t base = 0;      // for kRequest: the refused numbers base+i
  uint32_t mask = 0;
  uint8_t redirect_count = 0;  // suggested other peers (source redirects subscribers)
  std::array<PeerId, kMaxRedirects> redirect{};
};

// A media segment (header + signature + payload).
struct SegmentMsg {
  Segment segment;
};

struct Bye {
  uint8_t reason = 0;
};

using Message = std::variant<Hello, BufferMap, Request, Subscribe, SubscribeAck, Unsubscribe,
                             Reject, SegmentMsg, Bye>;

inline bool is_media(const Message& m) { return std::holds_alternative<SegmentMsg>(m); }

}  // namespace meshcast::mesh
