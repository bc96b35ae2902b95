#include "signaling/silence_watch.hpp"

#include <algorithm>
#include <limits>

namespace meshcast::signaling {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
}

SilenceWatch::SilenceWatch(int64_t ping_after_ms, int64_t close_after_ms)
    : ping_after_(std::max<int64_t>(0, ping_after_ms)),
      close_after_(std::max<int64_t>(0, close_after_ms)) {}

int64_t SilenceWatch::next_check(const Conn& c) const {
  int64_t at = kNever;
  if (ping_after_ > 0) at = std::max(c.last_heard, c.last_ping) + ping_after_;
  if (close_after_ > 0) at = std::min(at, c.last_heard + close_after_);
  return at;
}

void SilenceWatch::add(uint64_t id, int64_t now_ms) {
  auto [it, inserted] = conns_.try_emplace(id, Conn{now_ms, now_ms});
  if (!inserted) return;  // one heap entry per connection
  if (const int64_t at = next_check(it->second); at != kNever) heap_.emplace(at, id);
}

void SilenceWatch::heard(uint64_t id, int64_t now_ms) {
  auto it = conns_.find(id);
  if (it != conns_.end()) it->second.last_heard = std::max(it->second.last_heard, now_ms);
}

// The heap entry stays until it comes up and finds nothing: at most one per removed id.
void SilenceWatch::remove(uint64_t id) { conns_.erase(id); }

void SilenceWatch::collect(int64_t now_ms, Due& out) {
  while (!heap_.empty() && heap_.top().first <= now_ms) {
    const uint64_t id = heap_.top().second;
    heap_.pop();
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn& c = it->second;
    if (close_after_ > 0 && now_ms - c.last_heard >= close_after_) {
      out.close.push_back(id);
      conns_.erase(it);
      continue;
    }
    if (ping_after_ > 0 && now_ms - std::max(c.last_heard, c.last_ping) >= ping_after_) {
      out.ping.push_back(id);
      c.last_ping = now_ms;
    }
    // Heard since the entry was armed, or just pinged: due again later, never at `now_ms`.
    heap_.emplace(std::max(next_check(c), now_ms + 1), id);
  }
}

}  // namespace meshcast::signaling
