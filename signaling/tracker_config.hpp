// Tunables of the tracker core (command-line options map onto these).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace meshcast::signaling {

struct TrackerConfig {
  // The tracker's wall clock (us), sent in ping replies: peers measure their offset to it, so
  // lag is computed on one clock although the machines' clocks differ.
  std::function<int64_t()> wall_clock_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  double max_rate = 200;   // messages per second per connection (token bucket rate)
  double burst = 400;      // bucket size
  double error_rate = 20;  // error replies per second per connection; the rest are dropped
  double error_burst = 50;
  int default_max_neighbours = 8;          // join/neighbours without "max"
  int broadcaster_until_viewers = 4;       // see NeighbourPolicy
  std::size_t neighbour_scan_limit = 512;  // members examined per join in large streams (0 = all)
  // Peers of one address group (IPv4 /24, IPv6 /48) in one neighbour list (0 = no limit).
  int max_neighbours_per_group = 2;
  // Loopback clients form one address group (like --cap-loopback for connections). Off by
  // default: a local swarm or a reverse proxy puts every client on 127.0.0.1.
  bool group_loopback = false;
  // A viewer becomes trusted (always eligible for a list's trusted place) after this long in
  // the stream with upload confirmed by at least 2 other peers' reports.
  int64_t trust_after_ms = 30'000;
  int64_t default_call_timeout_ms = 30'000;
  int64_t hello_timeout_ms = 10'000;  // a connection that has not said hello by then is closed
  // A peer whose connection drops keeps its id, streams, memberships and calls this long, so
  // a reconnect with its session token resumes it (0 = forget at once).
  int64_t resume_grace_ms = 30'000;
  // TURN servers handed to every peer in hello_ok with credentials made from turn_secret
  // (coturn's use-auth-secret), valid turn_ttl_s. Empty: none handed out.
  std::vector<std::string> turn_uris;  // turn:HOST:PORT[?transport=udp|tcp], turns:HOST:PORT
  std::string turn_secret;
  int64_t turn_ttl_s = 12 * 3600;
  // Cluster mode (meshcast tracker --cluster): this instance's id, unique in the cluster; empty =
  // a standalone tracker. An instance not heard from for instance_timeout_ms is dropped.
  std::string instance_id;
  int64_t instance_timeout_ms = 5'000;
  // A hello binding a new name waits this long for the cluster's verdict (Redis's HSETNX);
  // without one the name is bound here and the verdict settles it later.
  int64_t cluster_bind_timeout_ms = 3'000;
  std::size_t max_peers = 100'000;
  std::size_t max_streams = 10'000;
  std::size_t max_streams_per_peer = 8;
  std::size_t max_calls_per_peer = 8;
  // Names bound to identity keys (each costs a row of ~150 bytes, kept for good): beyond
  // this, a new name shown with a key is refused (limit_reached). 0 = unbounded.
  std::size_t max_identities = 1'000'000;
  // Cost accounting: a request whose replies to the requester exceed this many bytes costs
  // one more token per such many bytes (a stream_list page of big descriptions is dearer than
  // a ping). 0 = every request costs one token.
  std::size_t reply_bytes_per_token = 1024;
};

}  // namespace meshcast::signaling
