#include "apps/session/tracker_clock.hpp"

#include <cstdlib>
#include <memory>

namespace meshcast::app {

TrackerClock::TrackerClock(signaling::TrackerClient& client) : client_(client) {
  if (const char* v = g_getenv("MESHCAST_TEST_CLOCK_OFFSET_MS")) {
    char* end = nullptr;
    const long long ms = std::strtoll(v, &end, 10);
    if (end != v && *end == '\0' && ms > -86'400'000LL && ms < 86'400'000LL)
      test_offset_us_ = int64_t(ms) * 1000;
  }
}

TrackerClock::~TrackerClock() {
  *alive_ = false;
  resync_timer_.reset();
}

int64_t TrackerClock::local_us() const { return g_get_real_time() + test_offset_us_; }

int64_t TrackerClock::now_us() const { return local_us() + sync_.offset_us(); }

void TrackerClock::ping(std::function<void()> then) {
  const int64_t sent = local_us();
  std::weak_ptr<bool> alive = alive_;
  client_.ping([this, alive, sent, then](const signaling::Reply& r) {
    if (alive.expired()) return;
    if (r.ok && r.body.contains("wall_us") && r.body["wall_us"].is_number_integer())
      sync_.add(sent, local_us(), r.body["wall_us"].get<int64_t>());
    if (then) then();
  });
}

void TrackerClock::start(std::function<void()> ready) {
  auto remaining = std::make_shared<int>(kInitialPings);
  auto step = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak_step = step;
  *step = [this, remaining, ready, weak_step] {
    if (--*remaining > 0) {
      if (auto s = weak_step.lock()) return ping([s] { (*s)(); });
    }
    if (!resync_timer_)
      resync_timer_ = media::SourceGuard::timeout(kResyncMs, &TrackerClock::on_resync, this);
    if (ready) ready();
  };
  // Each pending ping's callback owns the chain; the chain only knows itself weakly.
  ping([step] { (*step)(); });
}

gboolean TrackerClock::on_resync(gpointer p) {
  auto* self = static_cast<TrackerClock*>(p);
  if (self->client_.state() == signaling::ClientState::kConnected) self->ping({});
  return G_SOURCE_CONTINUE;
}

}  // namespace meshcast::app
