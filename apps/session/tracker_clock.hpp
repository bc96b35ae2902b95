// This process's view of the tracker's wall clock. Broadcaster and viewers stamp and judge
// segments on it, so lag and start-up are right when their machines' clocks disagree: each
// measures its offset to the one tracker (signaling::ClockSync over ping round trips) and adds
// it to its own clock. MESHCAST_TEST_CLOCK_OFFSET_MS shifts the local clock (tests only: the
// processes of a test share one kernel clock).
#pragma once
#include <glib.h>

#include <cstdint>
#include <functional>

#include "media/common/source_guard.hpp"
#include "signaling/clock_sync.hpp"
#include "signaling/tracker_client.hpp"

namespace meshcast::app {

class TrackerClock {
 public:
  explicit TrackerClock(signaling::TrackerClient& client);
  ~TrackerClock();
  TrackerClock(const TrackerClock&) = delete;
  TrackerClock& operator=(const TrackerClock&) = delete;

  // Sends a few pings one after another, then calls `ready` (also when they fail: the local
  // clock is used until a sample arrives); afterwards one ping every kResyncMs.
  void start(std::function<void()> ready);
  // Local time (+ the test offset) + the measured offset: the tracker's wall clock, in us.
  int64_t now_us() const;
  int64_t local_us() const;
  int64_t offset_us() const { return sync_.offset_us(); }
  const signaling::ClockSync& sync() const { return sync_; }

  static constexpr int kInitialPings = 4;
  static constexpr unsigned kResyncMs = 10'000;

 private:
  void ping(std::function<void()> then);
  static gboolean on_resync(gpointer self);

  signaling::TrackerClient& client_;
  signaling::ClockSync sync_;
  int64_t test_offset_us_ = 0;
  media::SourceGuard resync_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace meshcast::app
