// Configuration of one mesh node (viewer or source). All times in microseconds.
#pragma once
#include <cstdint>

#include "mesh/core/segment_verifier.hpp"
#include "mesh/core/types.hpp"

namespace meshcast::mesh {

struct NodeConfig {
  PeerId self = 0;
  bool is_source = false;
  uint64_t stream_id = 0;
  uint64_t stream_bps = 1'000'000;  // media bit rate (to turn upload into push slots)
  TimeUs segment_us = 200'000;      // broadcaster's segment duration
  uint32_t substreams = 4;          // K stripes per segment, one push tree each (stripes.hpp)
  uint32_t window = 256;            // units (stripes) kept (<= kMaxWindow): 64 segments at K=4

  uint32_t min_partners = 4;          // fewer: connect to candidates / ask for neighbours
  uint32_t target_partners = 6;       // connect to candidates until this many
  uint32_t max_partners = 16;         // hard bound on the degree (incoming included)
  TimeUs evict_after_us = 5'000'000;  // full: a newcomer may evict an idle partner this old
  uint64_t upload_bps = 2'000'000;    // upload budget (token bucket rate)
  double push_utilization = 0.85;     // share of upload committed to push slots
  uint32_t source_copies = 4;         // source: max subscribers per sub-stream
  // Candidate ids kept (the newest); short of partners with none left, ask for neighbours
  // this often.
  uint32_t max_candidates = 32;
  TimeUs need_neighbours_us = 2'000'000;
  // Viewer: token bucket depth, in seconds of upload; a new upload budget is told to
  // partners (Hello) when it moved by reannounce_percent or more.
  double upload_burst_s = 0.5;
  uint32_t reannounce_percent = 10;
  // Source: a child that has been one this long and whose buffer map still shows every push
  // slot free (it forwards to nobody) may be replaced by a newcomer, whatever it declared;
  // at most one such replacement per sub-stream per interval, and a replaced child is not
  // taken back for the hold time.
  TimeUs idle_child_grace_us = 4'000'000;
  TimeUs idle_replace_interval_us = 2'000'000;
  TimeUs idle_replaced_hold_us = 30'000'000;
  // Source: a partner's complaint that a child took it and sent nothing frees that child's
  // slots, at most once per interval (a liar's complaint costs an honest child no more).
  // A viewer repeats its complaint (with each subscribe to the source) for the TTL.
  TimeUs silent_replace_interval_us = 1'000'000;
  TimeUs complaint_ttl_us = 10'000'000;
  // Source: a partner that is no child after 3 ticks and this long is sent on to children.
  TimeUs source_partner_grace_us = 2'000'000;

  TimeUs tick_us = 200'000;               // maintenance period (pull, partners): a segment
  TimeUs bm_interval_us = 1'000'000;      // buffer map period per partner
  TimeUs request_timeout_us = 1'000'000;  // a pull not answered by then may be re-sent
  TimeUs pull_grace_us = 300'000;         // wait this long past the expected push before pulling
  TimeUs deadline_pull_us = 300'000;      // ... but pull anyway this close to the deadline
  TimeUs urgent_us = 1'000'000;           // closer than this to its deadline: deadline-first
  uint32_t max_requests_per_partner = 6;
  // Start-up: the newest segment some partners hold whole, at most this many segments back
  // from the newest any partner shows (an older one would start playout far behind).
  uint32_t startup_lookback_segments = 4;
  // Start-up pulls a partner with data may leave unanswered before it counts as giving nothing.
  uint32_t startup_unanswered_max = 2;

  TimeUs initial_buffer_us = 100'000;   // start-up buffer after the first segment
  TimeUs startup_retry_us = 300'000;    // start-up stripes still missing: ask again
  TimeUs startup_widen_us = 700'000;    // not playing by then, no partner has data: look wider
  TimeUs startup_phase_us = 2'000'000;  // first seconds of playout: stall, never skip
  TimeUs stall_step_us = 50'000;        // playout delay growth on a stall
  uint32_t max_stalls_per_segment = 8;  // a segment still coming may stall playout this often
  TimeUs max_delay_us = 8'000'000;      // never stall beyond this delay (skip instead)
  TimeUs shrink_period_us = 1'000'000;  // every period without stall and with slack ...
  TimeUs shrink_margin_us = 200'000;    // ... larger than this, shrink the delay ...
  TimeUs shrink_step_us = 150'000;      // ... by at most this much (<= 15 % speed-up)

  TimeUs max_fanout_delay_us = 200'000;      // per sub-stream: children x per-copy time bound
  TimeUs hop_estimate_us = 150'000;          // typical delay per push hop (parent choice)
  TimeUs relayed_penalty_us = 0;             // a parent over a relayed (TURN) link ranks later
  TimeUs switch_gain_us = 250'000;           // switch parents only to gain at least this much
  TimeUs balance_spread_us = 100'000;        // slowest sub-stream this much behind the fastest
  TimeUs balance_gain_us = 0;                // ... switches for any gain (0 spread: rule off)
  TimeUs parent_timeout_us = 2'000'000;      // parent silent on its sub-stream: replace it
  TimeUs first_push_timeout_us = 1'000'000;  // ... or silent since it took us: replace it
  TimeUs orphan_timeout_us = 300'000;        // no shallower parent by then: release the subtree
  TimeUs partner_idle_us = 10'000'000;       // partner delivered nothing: drop when full
  TimeUs connect_timeout_us = 4'000'000;
  TimeUs refuse_backoff_us = 2'000'000;  // after a refusal, don't ask that partner again
  // A parent that went silent is asked again after refuse_backoff, doubled with each such
  // failure in a row (up to 2^(max_strikes-1) times); a partner that let pulls time out is
  // asked after those that answer, until one of its segments arrives.
  uint32_t max_strikes = 6;
  // A parent that took us and sent nothing counts as this many silences in a row.
  uint32_t silent_parent_strikes = 3;
  // Parent choice: a partner's unknown depth counts as this many hops; a random tie-break of
  // up to parent_jitter is added to each estimate; upkeep runs every parent_check (at once
  // while a sub-stream has no parent).
  uint32_t unknown_depth_hops = 64;
  TimeUs parent_jitter_us = 1'000;
  TimeUs parent_check_us = 1'000'000;
  // Full of children: a newcomer declaring this % of our slowest child's upload takes its slot.
  uint32_t preempt_upload_percent = 150;
  // A viewer with fewer push slots than home_below_slots relays for one home sub-stream
  // (random, drawn once at start), whose slots it gives first: spread over K trees, few
  // slots make chains; all in one tree, the fan-out there is K times larger, so trees are
  // shallower (SplitStream). Children of other sub-streams take a slot only while it is
  // free, at most foreign_children per sub-stream (255: no bound). 0: nobody has a home.
  uint32_t home_below_slots = 0;
  uint32_t foreign_children = 255;

  const SegmentVerifier* verifier = nullptr;  // required for viewers
  uint64_t seed = 1;
};

// Mean time between unit numbers (K stripes per segment).
inline TimeUs unit_us(const NodeConfig& c) {
  return c.segment_us / c.substreams > 1 ? c.segment_us / c.substreams : 1;
}

}  // namespace meshcast::mesh
