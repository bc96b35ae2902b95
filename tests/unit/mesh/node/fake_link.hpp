// FakeLink: one end of an in-memory link of a FakeNetwork (see there).
#pragma once
#include <random>
#include <string>

#include "mesh/node/link.hpp"

namespace meshcast::node::test {

class FakeNetwork;

class FakeLink final : public Link {
 public:
  FakeLink(FakeNetwork& net, std::string owner, link::Role role);
  ~FakeLink() override;

  void set_on_rtp(PacketCallback cb) override { on_rtp_ = std::move(cb); }
  void set_on_rtcp(PacketCallback cb) override { on_rtcp_ = std::move(cb); }
  void set_on_local_candidate(CandidateCallback cb) override { on_candidate_ = std::move(cb); }
  void set_on_gathering_done(GatheringDoneCallback cb) override { on_gathered_ = std::move(cb); }
  void set_on_state(StateCallback cb) override { on_state_ = std::move(cb); }

  Expected<void, std::string> start() override;
  link::SessionDescription local_description() const override;
  Expected<void, std::string> set_remote_description(
      const link::SessionDescription& remote) override;
  // There is nothing to trickle: every candidate is refused as unknown.
  Expected<void, std::string> add_remote_candidate(const std::string& candidate) override;
  void remote_candidates_done() override {}

  bool send_rtp(const uint8_t* data, size_t len) override { return send(data, len, false); }
  bool send_rtcp(const uint8_t* data, size_t len) override { return send(data, len, true); }

  // Only the drop probability is applied (delay and the rest need a real link).
  void set_receive_impairment(const link::Impairment& imp) override;
  link::LinkStats stats() const override { return stats_; }
  link::LinkRoute route() const override;
  void close() override;

  const std::string& owner() const { return owner_; }
  // The owner at the other end ("" until paired).
  const std::string& peer_owner() const { return peer_owner_; }
  link::LinkState state() const { return state_; }

 private:
  friend class FakeNetwork;
  bool send(const uint8_t* data, size_t len, bool rtcp);
  // Both ends started and know each other: both connect (through the loop).
  void connect_if_ready();
  // From the network's loop.
  void receive(link::LinkState st, const std::string& reason);
  void receive(bool rtcp, const std::vector<uint8_t>& bytes);
  void gathered();

  FakeNetwork& net_;
  std::string owner_;
  link::Role role_;
  uint64_t serial_ = 0;
  uint64_t peer_ = 0;  // the other end's serial (0: not paired)
  std::string peer_owner_;
  bool started_ = false;
  link::LinkState state_ = link::LinkState::kNew;
  link::LinkStats stats_;
  double drop_ = 0;
  std::mt19937_64 rng_{1};
  PacketCallback on_rtp_, on_rtcp_;
  CandidateCallback on_candidate_;
  GatheringDoneCallback on_gathered_;
  StateCallback on_state_;
};

}  // namespace meshcast::node::test
