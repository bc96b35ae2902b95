// What tracker instances of one cluster tell each other through Redis (docs/protocol.md,
// "Tracker cluster"): records of the peers and streams each instance owns, their removal,
// heartbeats, frames to hand to a peer connected elsewhere, and identity bindings. Everything read
// back from Redis is untrusted bytes: parse_cluster_event() checks every field and bound (fuzzed in
// tests/fuzz/signaling/).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/base/expected.hpp"

namespace meshcast::signaling {

enum class ClusterEventType {
  kHeartbeat,     // instance is alive
  kInstanceDown,  // instance missed its heartbeats: drop everything it owned
  kPeer,          // upsert of a peer record (owned by `instance`)
  kPeerGone,      // the peer left or expired
  kStream,        // upsert of a stream record (owned by the owner's instance)
  kStreamEnd,     // the stream ended
  kCall,          // upsert of a call between two peers (at least one on `instance`)
  kCallEnd,       // the call is over
  kDeliver,       // hand `frame` to local peer `to` (relay, call events)
  kIdentity,      // peer id `name` is bound to identity key `key` (cluster-wide, for good)
};

struct ClusterPartner {
  std::string id, role;
  int64_t rx_kbps = 0;
};

struct ClusterPeer {
  std::string id, role, group, token_hash;
  std::string identity_key;  // proved in its hello (empty: none): a name race is not a move
  int64_t upload_kbps = 0;
  bool away = false;                                     // connection lost, resumable
  std::string accept = "all";                            // all | none | list
  std::vector<std::string> allow;                        // accept == list
  std::vector<std::pair<std::string, int64_t>> streams;  // member of, joined at (ms)
  std::vector<ClusterPartner> partners;                  // latest report
};

struct ClusterStream {
  std::string name, owner, public_key, key_hash, secret_hash, by;
  nlohmann::json codec = nlohmann::json::object();
  int64_t bitrate_kbps = 1000;
  bool is_private = false;
  int64_t created_ms = 0;
};

struct ClusterCall {
  std::string id, caller, callee;
  bool accepted = false;
  int64_t remaining_ms = 0;  // until it rings out (clocks of instances are not compared)
};

struct ClusterEvent {
  ClusterEventType type = ClusterEventType::kHeartbeat;
  std::string instance;  // the sender (kInstanceDown: the dead one is `name`)
  std::string name;      // kPeerGone, kIdentity: peer id; kStreamEnd: stream; kCallEnd: call id
  std::string reason;    // kStreamEnd
  std::string to;        // kDeliver: peer id
  std::string frame;     // kDeliver: one text frame as the core wrote it
  std::string target;    // kDeliver: the instance to send it to (the channel, not a field)
  std::string key;       // kIdentity: the bound key, base64 of 32 bytes
  ClusterPeer peer;
  ClusterStream stream;
  ClusterCall call;
};

// Upper bounds of one event as stored / published.
inline constexpr std::size_t kMaxClusterEventBytes = 256 * 1024;
inline constexpr std::size_t kMaxInstanceIdLen = 64;

std::string to_text(const ClusterEvent& e);
// Refuses anything malformed, oversized or of an unknown type, saying why. Never throws.
Expected<ClusterEvent, std::string> parse_cluster_event(std::string_view text);
bool is_valid_instance_id(std::string_view s);

}  // namespace meshcast::signaling
