// Link: what a MeshPeer needs from one peer-to-peer link. In production it is a
// link::PeerLink (ICE + DTLS-SRTP, through PeerLinkAdapter); tests hand MeshPeer in-memory
// links instead (MeshPeerConfig::link_factory), so the node runs without ICE or DTLS.
//
// Contract, as PeerLink keeps it: callbacks run on the GLib context the link was made for;
// close() reports kClosed at once; a link connects (kConnected) only after both sides have
// the other's description and started. MeshPeer never destroys a link inside its callbacks.
#pragma once
#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mesh/base/expected.hpp"
#include "mesh/link/certificate.hpp"
#include "mesh/link/impairment.hpp"
#include "mesh/link/link_types.hpp"
#include "mesh/link/session_description.hpp"

namespace meshcast::node {

class Link {
 public:
  using PacketCallback = std::function<void(const uint8_t* data, size_t len)>;
  using CandidateCallback = std::function<void(const std::string& candidate)>;
  using GatheringDoneCallback = std::function<void()>;
  using StateCallback = std::function<void(link::LinkState state, const std::string& reason)>;

  virtual ~Link() = default;

  // Set before start().
  virtual void set_on_rtp(PacketCallback cb) = 0;
  virtual void set_on_rtcp(PacketCallback cb) = 0;
  virtual void set_on_local_candidate(CandidateCallback cb) = 0;
  virtual void set_on_gathering_done(GatheringDoneCallback cb) = 0;
  virtual void set_on_state(StateCallback cb) = 0;

  // Set-up through signaling (offer/answer, trickled candidates); each says why it failed.
  virtual Expected<void, std::string> start() = 0;
  virtual link::SessionDescription local_description() const = 0;
  virtual Expected<void, std::string> set_remote_description(
      const link::SessionDescription& remote) = 0;
  virtual Expected<void, std::string> add_remote_candidate(const std::string& candidate) = 0;
  virtual void remote_candidates_done() = 0;

  // Plain RTP / RTCP; false if it did not leave (not connected, too large, refused).
  virtual bool send_rtp(const uint8_t* data, size_t len) = 0;
  virtual bool send_rtcp(const uint8_t* data, size_t len) = 0;

  // Applied to what this link receives.
  virtual void set_receive_impairment(const link::Impairment& imp) = 0;
  virtual link::LinkStats stats() const = 0;
  virtual link::LinkRoute route() const = 0;

  // Says goodbye to the other end (it reports kClosed) and stops.
  virtual void close() = 0;
};

// Makes the link to one partner, or says why set-up failed.
using LinkFactory = std::function<Expected<std::unique_ptr<Link>, std::string>(
    GMainContext* ctx, const link::LinkConfig& config, std::shared_ptr<link::Certificate> cert,
    link::Role role)>;

}  // namespace meshcast::node
