#include "tests/unit/mesh/node/fake_link.hpp"

#include "tests/unit/mesh/node/fake_network.hpp"

namespace meshcast::node::test {

namespace {
std::string fake_fingerprint() {
  std::string fp = "sha-256 ";
  for (int i = 0; i < 32; ++i) fp += i ? ":FA" : "FA";
  return fp;
}
}  // namespace

FakeLink::FakeLink(FakeNetwork& net, std::string owner, link::Role role)
    : net_(net), owner_(std::move(owner)), role_(role) {
  serial_ = net_.attach(this);
}

FakeLink::~FakeLink() {
  // A real link destroyed without close() goes silent and its other end fails after the
  // liveness timeout; here it fails at once.
  if (peer_ && (state_ == link::LinkState::kConnected || state_ == link::LinkState::kConnecting))
    net_.post({peer_, true, link::LinkState::kFailed, "peer went silent", false, {}});
  net_.detach(serial_);
}

Expected<void, std::string> FakeLink::start() {
  if (started_) return unexpected("already started");
  started_ = true;
  state_ = link::LinkState::kGathering;
  net_.post({serial_, false, link::LinkState::kNew, "", true, {}});
  connect_if_ready();
  return {};
}

link::SessionDescription FakeLink::local_description() const {
  link::SessionDescription d;
  d.ufrag = "fake" + std::to_string(serial_);
  d.pwd = "fakepasswordfakepassword";
  d.fingerprint = fake_fingerprint();
  d.setup = role_ == link::Role::kOfferer ? link::DtlsSetup::kActpass : link::DtlsSetup::kActive;
  d.end_of_candidates = true;
  return d;
}

Expected<void, std::string> FakeLink::set_remote_description(
    const link::SessionDescription& remote) {
  if (peer_) return unexpected("remote description already set");
  FakeLink* other = net_.find_ufrag(remote.ufrag);
  if (!other || other == this) return unexpected("no such link: " + remote.ufrag);
  if (net_.blocked(owner_, other->owner_)) return unexpected("unreachable");
  peer_ = other->serial_;
  peer_owner_ = other->owner_;
  connect_if_ready();
  return {};
}

Expected<void, std::string> FakeLink::add_remote_candidate(const std::string& candidate) {
  return unexpected("unknown candidate " + candidate.substr(0, 32));
}

void FakeLink::connect_if_ready() {
  FakeLink* other = net_.find(peer_);
  if (!other || other->peer_ != serial_ || !started_ || !other->started_) return;
  if (state_ != link::LinkState::kGathering || other->state_ != link::LinkState::kGathering) return;
  state_ = other->state_ = link::LinkState::kConnecting;
  net_.post({serial_, true, link::LinkState::kConnected, "", false, {}});
  net_.post({peer_, true, link::LinkState::kConnected, "", false, {}});
}

bool FakeLink::send(const uint8_t* data, size_t len, bool rtcp) {
  if (state_ != link::LinkState::kConnected) return false;
  ++stats_.packets_sent;
  stats_.bytes_sent += len;
  ++stats_.wire_packets_sent;
  stats_.wire_bytes_sent += len;
  net_.send(peer_, {owner_, peer_owner_, rtcp, std::vector<uint8_t>(data, data + len)});
  return true;
}

void FakeLink::set_receive_impairment(const link::Impairment& imp) {
  drop_ = imp.drop;
  rng_.seed(imp.seed);
}

link::LinkRoute FakeLink::route() const {
  link::LinkRoute r;
  if (state_ != link::LinkState::kConnected) return r;
  r.selected = true;
  r.local_type = r.remote_type = "host";
  r.transport = "udp";
  return r;
}

void FakeLink::close() {
  if (state_ == link::LinkState::kClosed || state_ == link::LinkState::kFailed) return;
  if (peer_) net_.post({peer_, true, link::LinkState::kClosed, "closed by peer", false, {}});
  peer_ = 0;
  state_ = link::LinkState::kClosed;
  if (on_state_) on_state_(state_, "closed locally");  // at once, as PeerLink reports it
}

void FakeLink::receive(link::LinkState st, const std::string& reason) {
  if (state_ == link::LinkState::kClosed || state_ == link::LinkState::kFailed) return;
  if (st == link::LinkState::kConnected && state_ != link::LinkState::kConnecting) return;
  state_ = st;
  if (st != link::LinkState::kConnected) peer_ = 0;
  if (on_state_) on_state_(st, reason);
}

void FakeLink::receive(bool rtcp, const std::vector<uint8_t>& bytes) {
  if (state_ != link::LinkState::kConnected) return;
  if (drop_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < drop_) {
    ++stats_.impaired_dropped;
    return;
  }
  ++stats_.packets_received;
  stats_.bytes_received += bytes.size();
  ++stats_.wire_packets_received;
  stats_.wire_bytes_received += bytes.size();
  auto& cb = rtcp ? on_rtcp_ : on_rtp_;
  if (cb) cb(bytes.data(), bytes.size());
}

void FakeLink::gathered() {
  if (on_gathered_) on_gathered_();
}

}  // namespace meshcast::node::test
