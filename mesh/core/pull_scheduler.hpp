// A viewer's pulls: at start-up the newest segment some partners hold whole, each stripe
// from its own holder; then the units the push trees are late with, deadline-first close to
// playout and rarest-first near the live edge, each from the partner likely to hold it that
// answers best. Pulls in flight live in the window's slots (req_from); this part keeps them
// and the partners' counts of them in step.
#pragma once
#include <cstdint>

#include "mesh/core/node_config.hpp"
#include "mesh/core/node_stats.hpp"
#include "mesh/core/outbox.hpp"
#include "mesh/core/partner_set.hpp"
#include "mesh/core/playout.hpp"
#include "mesh/core/push_trees.hpp"
#include "mesh/core/rng.hpp"
#include "mesh/core/segment_window.hpp"

namespace meshcast::mesh {

class PullScheduler {
 public:
  PullScheduler(const NodeConfig& cfg, PartnerSet& partners, SegmentWindow& window, Outbox& out,
                NodeStats& stats, Rng& rng)
      : cfg_(cfg), partners_(partners), window_(window), out_(out), stats_(stats), rng_(rng) {}
  PullScheduler(const PullScheduler&) = delete;
  PullScheduler& operator=(const PullScheduler&) = delete;

  // Sends the pulls due now: start-up pulls until playout starts (once per round, see
  // startup_pending), else the units that are late by push and some partner likely has.
  void schedule(TimeUs now, const PushTrees& trees, const Playout& playout);
  // Start-up pulls are out and neither answered, refused nor timed out yet.
  bool startup_pending() const { return startup_requested_; }
  // Pulls not answered by their deadline go back (their partner gets a strike); start-up
  // pulls are retried after startup_retry.
  void expire(TimeUs now, bool playing, uint32_t next_play);
  // p refused pulls (a kRequest Reject): they go back; a busy partner is left alone a while.
  void on_refused(Partner& p, const Reject& m, TimeUs now, bool playing);
  // Unit n came from p when we no longer needed it: a pull of it to p ends.
  void on_unneeded(Partner& p, uint32_t n);
  // A pull to `id` ended (its unit was stored or evicted).
  void ended(PeerId id) {
    if (Partner* q = partners_.find(id); q && q->outstanding) --q->outstanding;
  }
  // p leaves: its pulls go back.
  void forget(const Partner& p);

 private:
  uint64_t rng() { return rng_.next(); }
  void schedule_startup(TimeUs now);

  const NodeConfig& cfg_;
  PartnerSet& partners_;
  SegmentWindow& window_;
  Outbox& out_;
  NodeStats& stats_;
  Rng& rng_;
  bool startup_requested_ = false;
  TimeUs startup_req_at_ = 0;
};

}  // namespace meshcast::mesh
