// What the simulator's events mean (Event::type) and what a joining viewer is (kJoin's b).
// Partition events touch one peer (its partition's); global events (tracker, joins,
// departures, progress) may touch any and run alone, between windows.
#pragma once
#include <cstdint>

namespace meshcast::mesh::sim {

enum class EvType : uint8_t {
  kDeliver,
  kTimer,
  kPublish,
  kJoin,       // global; a = slot
  kLeave,      // global
  kConnected,  // at the target a: initiator b asks to connect
  kPartnerLeft,
  kCandidates,     // global
  kProgress,       // global
  kConnectResult,  // at the initiator a: target b accepted (msg != 0) or not
};

inline bool is_global(EvType t) {
  return t == EvType::kJoin || t == EvType::kLeave || t == EvType::kCandidates ||
         t == EvType::kProgress;
}

enum class JoinKind : uint32_t { kHonest, kForger, kSybil };

}  // namespace meshcast::mesh::sim
