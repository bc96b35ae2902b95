// FakeNetwork: in-memory Links for MeshPeers in one test process, without ICE or DTLS.
// Each peer gets its links from factory(name). Two links pair up through the usual
// offer/answer (the description's ufrag names the link), connect once both sides have the
// other's description and started, and then carry plain RTP/RTCP. Everything a link
// reports (state changes, packets) is delivered from an idle source on the GLib context, in
// the order it was sent, never from inside the sender's call, as over a socket. The network
// outlives every link it made (declare it before the peers).
#pragma once
#include <glib.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mesh/node/link.hpp"

namespace meshcast::node::test {

class FakeLink;

class FakeNetwork {
 public:
  struct Packet {
    std::string from, to;  // the owners' names
    bool rtcp = false;
    std::vector<uint8_t> bytes;  // plain RTP or RTCP, as MeshPeer sent it
  };
  // Sees every packet as it is sent; may change its bytes. True: the packet is lost.
  using Hook = std::function<bool(Packet&)>;

  explicit FakeNetwork(GMainContext* ctx = nullptr);
  ~FakeNetwork();
  FakeNetwork(const FakeNetwork&) = delete;
  FakeNetwork& operator=(const FakeNetwork&) = delete;

  // Links made by this factory belong to `owner`.
  LinkFactory factory(const std::string& owner);
  void set_hook(Hook hook) { hook_ = std::move(hook); }

  // `owner` closes its connected link to `peer` (the peer hears kClosed). False: none.
  bool close(const std::string& owner, const std::string& peer);
  // No link between a and b connects from now on (set-up fails as if unreachable).
  void block(const std::string& a, const std::string& b);

  uint64_t delivered() const { return delivered_; }
  uint64_t lost() const { return lost_; }
  size_t links() const { return links_.size(); }

 private:
  friend class FakeLink;
  struct Event {
    uint64_t to = 0;  // link serial
    bool is_state = false;
    link::LinkState state = link::LinkState::kNew;
    std::string reason;
    bool gathering_done = false;
    Packet packet;
  };
  uint64_t attach(FakeLink* l);
  void detach(uint64_t serial);
  FakeLink* find(uint64_t serial) const;
  FakeLink* find_ufrag(const std::string& ufrag) const;
  bool blocked(const std::string& a, const std::string& b) const;
  void post(Event ev);
  void send(uint64_t to, Packet p);
  static gboolean dispatch(gpointer self);

  GMainContext* ctx_;
  uint64_t next_serial_ = 1;
  std::map<uint64_t, FakeLink*> links_;
  std::set<std::pair<std::string, std::string>> blocked_;
  std::deque<Event> queue_;
  GSource* source_ = nullptr;
  Hook hook_;
  uint64_t delivered_ = 0, lost_ = 0;
};

}  // namespace meshcast::node::test
