// PeerLinkAdapter: a link::PeerLink (libnice ICE + DTLS-SRTP) as a MeshPeer's Link. Every
// call is passed straight through, so the production path is the PeerLink's own.
#pragma once
#include <memory>
#include <string>

#include "mesh/link/peer_link.hpp"
#include "mesh/node/link.hpp"

namespace meshcast::node {

class PeerLinkAdapter final : public Link {
 public:
  explicit PeerLinkAdapter(std::unique_ptr<link::PeerLink> link) : link_(std::move(link)) {}

  // The default LinkFactory: a real PeerLink.
  static Expected<std::unique_ptr<Link>, std::string> create(
      GMainContext* ctx, const link::LinkConfig& config, std::shared_ptr<link::Certificate> cert,
      link::Role role);

  void set_on_rtp(PacketCallback cb) override { link_->set_on_rtp(std::move(cb)); }
  void set_on_rtcp(PacketCallback cb) override { link_->set_on_rtcp(std::move(cb)); }
  void set_on_local_candidate(CandidateCallback cb) override {
    link_->set_on_local_candidate(std::move(cb));
  }
  void set_on_gathering_done(GatheringDoneCallback cb) override {
    link_->set_on_gathering_done(std::move(cb));
  }
  void set_on_state(StateCallback cb) override { link_->set_on_state(std::move(cb)); }

  Expected<void, std::string> start() override { return link_->start(); }
  link::SessionDescription local_description() const override { return link_->local_description(); }
  Expected<void, std::string> set_remote_description(
      const link::SessionDescription& remote) override {
    return link_->set_remote_description(remote);
  }
  Expected<void, std::string> add_remote_candidate(const std::string& candidate) override {
    return link_->add_remote_candidate(candidate);
  }
  void remote_candidates_done() override { link_->remote_candidates_done(); }

  bool send_rtp(const uint8_t* data, size_t len) override {
    return bool(link_->send_rtp(data, len));
  }
  bool send_rtcp(const uint8_t* data, size_t len) override {
    return bool(link_->send_rtcp(data, len));
  }

  void set_receive_impairment(const link::Impairment& imp) override {
    link_->set_impairment(link::PeerLink::Direction::kReceive, imp);
  }
  link::LinkStats stats() const override { return link_->stats(); }
  link::LinkRoute route() const override { return link_->route(); }
  void close() override { link_->close(); }

 private:
  std::unique_ptr<link::PeerLink> link_;
};

}  // namespace meshcast::node
