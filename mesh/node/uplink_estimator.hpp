// Estimates the upload a peer's uplink really carries, from what its links see (sans-IO: the
// caller samples its links and gives the time). A declared budget (--max-upload, or the
// default share) says nothing about the modem: a viewer behind a 1 Mbit/s uplink that takes
// children for 3.2 Mbit/s fills the modem's queue, every packet it sends waits there (RTT
// grows by hundreds of ms) and then is dropped, so its children and its own requests starve.
//
// Delay-based AIMD:
//  - Our uplink's queue delays every link alike, a partner's own queue only its link: the
//    queueing delay is the smallest (RTT - that link's floor) over the links.
//  - Congested (that delay above a threshold, or partners NACKing a large share of the
//    chunks sent): the budget is cut to a share of the rate that really left, the sent rate
//    less what the queue grew by, at most once per hold time (the queue drains and the
//    children above the budget move elsewhere meanwhile). A cut after which the queue
//    still grows into saturation was too small: the next one does not wait.
//  - Clean and used (the sent rate near the budget): the budget grows, fast until the first
//    congestion (it may start below the declared budget), then slowly, up to just below the
//    rate of the last congestion for a while, then probes beyond it.
// The budget stays within [min_bps, max_bps]; max_bps is the declared upper bound.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <span>

namespace meshcast::node {

class UplinkEstimator {
 public:
  struct Config {
    uint64_t max_bps = 0;  // the declared budget: never above
    uint64_t min_bps = 0;  // never below
    // Where it starts (0: max_bps). Every peer declares the default 4x the stream rate, and
    // one behind a slow uplink that takes children for all of it buries them in its modem's
    // queue for the seconds a cut takes: starting lower and growing while used (slow start)
    // overloads it less.
    uint64_t start_bps = 0;
    // Wait for a measured capacity (set_capacity) at min_bps; start_bps is then the
    // fallback when the measurement fails (probe_failed).
    bool await_capacity = false;
    double capacity_share = 0.8;           // a measured capacity gives this budget ...
    double startup_increase_per_s = 0.15;  // growth per second until the first cut
    int64_t queue_delay_us = 100'000;      // every link's RTT this far above its floor: congested
    // NACKed share of the chunks sent above this, while the RTT shows some queue too:
    // congested. Loss alone is no proof: a partner short of CPU loses what it receives.
    double loss = 0.10;
    int64_t loss_queue_delay_us = 30'000;
    uint32_t loss_min_chunks = 50;  // ... judged only over this many chunks or more
    double decrease = 0.85;         // a cut keeps this share of the delivered rate ...
    double max_cut = 0.25;          // ... and at least this share of the budget
    // A queue this long is a modem dropping what it cannot hold: the sent rate then says
    // nothing of what got through (sendto succeeds for what the modem drops), so a cut
    // keeps at most this share of the budget, and growing back beyond the new budget waits
    // for the ceiling hold. In the lab's 12-viewer swarm 0.5 did better than 0.7 (11.0 vs
    // 8.0 viewers of 12 at >= 99 %, 4 and 3 runs) and than no such rule (6 of 12, 2 runs).
    int64_t saturated_queue_delay_us = 250'000;
    double saturated_decrease = 0.5;
    int64_t rate_window_us = 2'000'000;    // the delivered rate is measured over this long
    int64_t hold_us = 2'000'000;           // no cut or growth for this long after a cut
    double increase_per_s = 0.02;          // growth per second, as a share of the budget
    double busy_share = 0.75;              // "used": the sent rate is at least this share
    double ceiling_share = 0.85;           // grow only to this share of the last congested rate
    int64_t ceiling_hold_us = 60'000'000;  // ... for this long after the cut
    double probe_per_s = 0.005;            // then probe beyond it this slowly
  };
  struct LinkRtt {
    uint64_t key = 0;    // the link (any id stable while it lives)
    double rtt_ms = -1;  // the latest keepalive RTT; < 0 unknown
  };
  struct Sample {
    int64_t now_us = 0;
    uint64_t bytes_sent = 0;     // cumulative, every link, on the wire
    uint64_t chunks_sent = 0;    // cumulative media chunks sent (first copies)
    uint64_t chunks_nacked = 0;  // cumulative chunks partners asked for again
    std::span<const LinkRtt> links;
    // cumulative chunks our own pacer dropped (too old, or pushed out): partners NACK
    // those too, but they never reached the uplink, so they are not its loss
    uint64_t chunks_dropped_here = 0;
  };

  explicit UplinkEstimator(const Config& cfg);

  // A measured capacity of the uplink (an UplinkProbe): the budget starts at
  // capacity_share of it and may grow to ceiling_share of it without further proof, as
  // after a cut. Ignored after the first cut: the delay-based view is newer.
  void set_capacity(uint64_t bps, int64_t now_us);
  // No capacity could be measured: start from start_bps as without a probe.
  void capacity_unknown();
  uint64_t capacity_bps() const { return capacity_; }

  // Feeds one sample (call every few hundred ms); returns the budget.
  uint64_t update(const Sample& s);
  uint64_t budget_bps() const { return budget_; }
  // Last sample's view: queueing delay (-1: no link with an RTT), sent rate, NACKed share.
  int64_t queue_delay_us() const { return queue_us_; }
  double sent_bps() const { return sent_bps_; }
  double loss() const { return loss_; }
  uint32_t cuts() const { return cuts_; }
  const Config& config() const { return cfg_; }

 private:
  struct Floor {
    double ms = 0;
  };
  // The start without a measured capacity: start_bps, or else max_bps.
  uint64_t guess_bps() const;
  // Updates the per-link floors and returns the smallest queueing delay (-1: none).
  int64_t queue_delay(std::span<const LinkRtt> links);

  Config cfg_;
  uint64_t budget_;
  std::map<uint64_t, Floor> floors_;
  struct Point {
    int64_t now_us = 0;
    uint64_t bytes = 0;
    int64_t queue_us = -1;
  };
  bool have_last_ = false;
  Sample last_{};
  std::deque<Point> window_;  // samples of the last rate_window_us
  int64_t queue_us_ = -1, last_queue_us_ = -1;
  double sent_bps_ = 0, loss_ = 0;
  int64_t hold_until_ = 0;
  double ceiling_bps_ = 0;  // delivered rate at the last cut (0: none yet)
  int64_t ceiling_until_ = 0;
  uint32_t cuts_ = 0;
  uint64_t capacity_ = 0;  // measured (0: none)
  bool awaiting_ = false;
  bool last_cut_saturated_ = false;
  int64_t last_cut_queue_us_ = 0;
};

}  // namespace meshcast::node
