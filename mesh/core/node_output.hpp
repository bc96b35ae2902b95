// What a node asks its driver to do. The driver (real node or simulator) drains the outbox
// after every input.
#pragma once
#include <cstdint>

#include "mesh/core/messages.hpp"

namespace meshcast::mesh {

enum class OutputKind : uint8_t {
  kSend,            // send `msg` to `peer`
  kConnect,         // open a link to `peer`
  kDisconnect,      // close the link to `peer` for `reason`
  kSetTimer,        // call on_timer() at `at` (replaces any earlier request)
  kPlay,    // present stripe `msg` (SegmentMsg, unit `number`) at `at` (>= now); a segment's
            // K stripes come as K consecutive kPlay outputs, never some of them
  kMissed,  // the segment whose first stripe is unit `number` was skipped (incomplete at its
            // deadline)
  kReport,          // `peer` sent a forged segment: tell the tracker
  kNeedNeighbours,  // candidate list exhausted: ask the tracker for more peers
};

enum class DisconnectReason : uint8_t {
  kNone = 0,
  kForged = 1,
  kUseless = 2,
  kFull = 3,
  kProtocol = 4,
  kLeaving = 5,
};

constexpr uint8_t kPriorityLevels = 16;
constexpr uint8_t kBulkPriority = kPriorityLevels - 1;
// Uplink priority of a push by a node at `depth` in its sub-stream.
inline uint8_t push_priority(uint8_t depth) {
  return uint8_t(1 + (depth < kBulkPriority - 2 ? depth : kBulkPriority - 2));
}

struct Output {
  OutputKind kind = OutputKind::kSend;
  DisconnectReason reason = DisconnectReason::kNone;
  PeerId peer = kNoPeer;
  uint32_t number = 0;
  TimeUs at = 0;
  // kSend: uplink priority, 0 first. Control, then pushes by the sender's depth in that
  // sub-stream (a shallow copy feeds a large subtree), then pull answers (kBulkPriority),
  // which only the puller waits for.
  uint8_t priority = 0;
  Message msg;
};

}  // namespace meshcast::mesh
