// A viewer's playout clock: starts with the first whole segment, plays whole segments at
// their deadline (creation + playout delay), stalls (grows the delay) while a missing stripe
// may still come and skips the segment otherwise; shrinks the delay when segments arrive
// with room to spare. The source never starts it.
#pragma once
#include <cstdint>
#include <limits>

#include "mesh/core/node_config.hpp"
#include "mesh/core/node_stats.hpp"
#include "mesh/core/outbox.hpp"
#include "mesh/core/partner_set.hpp"
#include "mesh/core/push_trees.hpp"
#include "mesh/core/segment_window.hpp"

namespace meshcast::mesh {

class Playout {
 public:
  static constexpr TimeUs kNever = std::numeric_limits<TimeUs>::max();

  Playout(const NodeConfig& cfg, Outbox& out, NodeStats& stats)
      : cfg_(cfg), out_(out), stats_(stats) {}
  Playout(const Playout&) = delete;
  Playout& operator=(const Playout&) = delete;

  bool playing() const { return playing_; }
  uint32_t next_play() const { return next_play_; }
  TimeUs delay() const { return delay_us_; }
  TimeUs deadline(uint32_t n, const SegmentWindow& w) const {
    return w.created_est(n, cfg_.segment_us) + delay_us_;
  }
  // The node started at `now`: the first shrink period runs from there.
  void arm(TimeUs now) { shrink_at_ = now + cfg_.shrink_period_us; }
  // The first whole segment (first unit `first`, created at `created_us`) is in: the clock
  // starts with it, initial_buffer from now.
  void begin(uint32_t first, TimeUs created_us, TimeUs now);
  // Plays, stalls or skips every segment that is due at `now`. A missing stripe may still
  // come while its parent is attached, a pull for it is out or a partner likely has it.
  void advance(TimeUs now, const SegmentWindow& w, const PushTrees& trees,
               const PartnerSet& partners);
  // When the next segment's deadline needs a timer (it is missing), else kNever.
  TimeUs due(const SegmentWindow& w) const {
    return playing_ && !w.has(next_play_) ? deadline(next_play_, w) : kNever;
  }

 private:
  const NodeConfig& cfg_;
  Outbox& out_;
  NodeStats& stats_;
  bool playing_ = false;
  TimeUs play_start_ = 0;
  uint32_t next_play_ = 0;
  TimeUs delay_us_ = 0;
  uint32_t stalled_on_ = 0;
  uint32_t stalls_on_segment_ = 0;
  bool stalled_ = false;
  TimeUs min_slack_ = 0;
  TimeUs shrink_at_ = 0;
  bool stalled_in_period_ = false;
};

}  // namespace meshcast::mesh
