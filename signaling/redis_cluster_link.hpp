// The I/O shell between a clustered TrackerCore and Redis (docs/protocol.md, "Tracker
// cluster"): hiredis on the process's one GLib main loop. One connection stores records and
// publishes; a second one is subscribed to the cluster's channel and to this instance's own.
// While Redis is unreachable it reconnects every second; once back, the instance's share is
// written again (on_connected) and the others' records are read back.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "signaling/cluster_event.hpp"
#include "signaling/redis_url.hpp"

namespace meshcast::signaling {

class RedisClusterLink {
 public:
  struct Callbacks {
    // An event from another instance, live or read back from Redis (already parsed).
    std::function<void(const ClusterEvent&)> on_event;
    // The link is up (again): store everything this instance owns now.
    std::function<void()> on_connected;
    std::function<void(const std::string&)> log;
  };
  RedisClusterLink(RedisUrl url, std::string instance_id, int64_t heartbeat_ttl_ms,
                   Callbacks callbacks);
  ~RedisClusterLink();
  RedisClusterLink(const RedisClusterLink&) = delete;
  RedisClusterLink& operator=(const RedisClusterLink&) = delete;

  void start();
  bool up() const;
  // Stores and publishes one event of this instance (dropped while the link is down: the
  // whole share is written again when it comes back).
  void send(const ClusterEvent& e);
  // Events read from Redis that failed parse_cluster_event (counted, never applied).
  uint64_t rejected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcast::signaling
