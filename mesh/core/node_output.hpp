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
  kPlay,            // present segment `msg` (SegmentMsg) at time `at` (>= now)
  kMissed,          // segment `number` skipped (not there at its deadline)
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

struct Output {
  OutputKind kind = OutputKind::kSend;
  DisconnectReason reason = DisconnectReason::kNone;
  PeerId peer = kNoPeer;
  uint32_t number = 0;
  TimeUs at = 0;
  // kSend: may wait behind the rest (a pull answer). Pushes to children and control go
  // first: a relay's queue then holds up only the segment a puller asked for, not the
  // live edge of a whole subtree.
  bool bulk = false;
  Message msg;
};

}  // namespace meshcast::mesh
