// Adapts the tracker client to what a MeshPeer needs from signaling.
#pragma once
#include <string>

#include "mesh/node/mesh_peer.hpp"
#include "signaling/tracker_client.hpp"

namespace meshcast::app {

class TrackerSignaling final : public node::PeerSignaling {
 public:
  TrackerSignaling(signaling::TrackerClient& client, std::string stream)
      : client_(client), stream_(std::move(stream)) {}
  void set_peer(node::MeshPeer* peer) { peer_ = peer; }
  // Routes the tracker's relay and peer_left events to the peer (once it is set).
  void attach_events();

  void send_relay(const std::string& to, const std::string& kind,
                  const nlohmann::json& payload) override {
    client_.relay(to, kind, payload);
  }
  void request_neighbours(const std::vector<std::string>& exclude) override;
  void report_forger(const std::string& peer) override;

 private:
  signaling::TrackerClient& client_;
  std::string stream_;
  node::MeshPeer* peer_ = nullptr;
  int64_t last_request_us_ = 0;
  uint64_t forgers_reported_ = 0;

 public:
  uint64_t forgers_reported() const { return forgers_reported_; }
};

// Reads the neighbour list of a join/neighbours reply.
std::vector<std::string> neighbour_ids(const nlohmann::json& reply);

}  // namespace meshcast::app
