#include "tests/unit/mesh/node/fake_network.hpp"

#include "tests/unit/mesh/node/fake_link.hpp"

namespace meshcast::node::test {

FakeNetwork::FakeNetwork(GMainContext* ctx) : ctx_(ctx ? ctx : g_main_context_default()) {}

FakeNetwork::~FakeNetwork() {
  if (source_) {
    g_source_destroy(source_);
    g_source_unref(source_);
  }
}

LinkFactory FakeNetwork::factory(const std::string& owner) {
  return [this, owner](GMainContext*, const link::LinkConfig&, std::shared_ptr<link::Certificate>,
                       link::Role role) -> Expected<std::unique_ptr<Link>, std::string> {
    return std::unique_ptr<Link>(std::make_unique<FakeLink>(*this, owner, role));
  };
}

bool FakeNetwork::close(const std::string& owner, const std::string& peer) {
  for (auto& [serial, l] : links_)
    if (l->owner() == owner && l->peer_owner() == peer &&
        l->state() == link::LinkState::kConnected) {
      l->close();
      return true;
    }
  return false;
}

void FakeNetwork::block(const std::string& a, const std::string& b) {
  blocked_.insert({a, b});
  blocked_.insert({b, a});
}

bool FakeNetwork::blocked(const std::string& a, const std::string& b) const {
  return blocked_.count({a, b}) > 0;
}

uint64_t FakeNetwork::attach(FakeLink* l) {
  links_[next_serial_] = l;
  return next_serial_++;
}

void FakeNetwork::detach(uint64_t serial) { links_.erase(serial); }

FakeLink* FakeNetwork::find(uint64_t serial) const {
  auto it = links_.find(serial);
  return it == links_.end() ? nullptr : it->second;
}

FakeLink* FakeNetwork::find_ufrag(const std::string& ufrag) const {
  for (auto& [serial, l] : links_)
    if (l->local_description().ufrag == ufrag) return l;
  return nullptr;
}

void FakeNetwork::send(uint64_t to, Packet p) {
  if (hook_ && hook_(p)) {
    ++lost_;
    return;
  }
  Event ev;
  ev.to = to;
  ev.packet = std::move(p);
  post(std::move(ev));
}

void FakeNetwork::post(Event ev) {
  queue_.push_back(std::move(ev));
  if (source_) return;
  source_ = g_idle_source_new();
  g_source_set_priority(source_, G_PRIORITY_DEFAULT);
  g_source_set_callback(source_, &FakeNetwork::dispatch, this, nullptr);
  g_source_attach(source_, ctx_);
}

gboolean FakeNetwork::dispatch(gpointer p) {
  auto* self = static_cast<FakeNetwork*>(p);
  // What is queued now; what the receivers send meanwhile goes in the next round.
  std::deque<Event> batch;
  batch.swap(self->queue_);
  for (Event& ev : batch) {
    FakeLink* l = self->find(ev.to);
    if (!l) continue;  // destroyed meanwhile
    if (ev.gathering_done) {
      l->gathered();
    } else if (ev.is_state) {
      l->receive(ev.state, ev.reason);
    } else {
      ++self->delivered_;
      l->receive(ev.packet.rtcp, ev.packet.bytes);
    }
  }
  if (!self->queue_.empty()) return G_SOURCE_CONTINUE;
  g_source_unref(self->source_);
  self->source_ = nullptr;
  return G_SOURCE_REMOVE;
}

}  // namespace meshcast::node::test
