// Metrics of one simulation run (names and definitions: docs/architecture.md, "Metrics").
#pragma once
#include <cstdint>

namespace meshcast::mesh::sim {

struct Dist {
  double p50 = 0, p95 = 0, max = 0;
  uint64_t count = 0;
};

struct SimResult {
  Dist startup_ms;
  Dist lag_ms;
  Dist hops;
  // After the initial joins have settled (warm-up = join start + spread + 10 s): lag of
  // segments played then, start-up of viewers who joined then (churn replacements).
  double warmup_s = 0;
  Dist lag_ms_steady;
  Dist startup_ms_steady;
  double continuity = 0;
  double min_viewer_continuity = 1;  // worst viewer (>= 50 segments due) over the run
  double source_upload_copies = 0;
  double control_overhead = 0;
  double duplicate_ratio = 0;
  double retransmitted_ratio = 0;  // chunk NACK resends / media bytes
  // Context.
  uint64_t events = 0;
  uint32_t partitions = 1, threads = 1;  // as run
  uint64_t viewers_joined = 0;
  uint64_t viewers_never_started = 0;  // watched >= 10 s (until leaving or the end), never played
  uint64_t departures = 0;
  uint64_t segments_published = 0;
  uint64_t played = 0;
  uint64_t missed = 0;
  uint64_t missed_unavailable = 0;  // of missed: nobody could send it any more
  uint64_t stalls = 0;
  uint64_t forged_played = 0;         // must be 0
  uint64_t forged_sent = 0;           // forged segments that reached an honest viewer
  uint64_t forger_reports = 0;        // report outputs naming a forger
  uint64_t forger_links_dropped = 0;  // disconnects of a forger for kForged
  uint64_t honest_reported = 0;       // reports naming an honest peer (must be 0)
  uint64_t sybils = 0;
  // The source's children replaced for forwarding to nobody / on a partner's complaint.
  uint64_t source_idle_children_replaced = 0;
  uint64_t source_silent_children_replaced =
      0;                                // sybils seen at the end (their playback not counted)
  uint64_t source_max_subscribers = 0;  // per sub-stream, max over the run
  double final_playout_delay_ms_p50 = 0;
  // Push tree upkeep, summed over viewers and sub-streams.
  uint64_t parents_lost = 0;      // a parent left, dropped us or went silent
  uint64_t subtree_releases = 0;  // an orphan told its children to find other parents
  // Anatomy of the lag: segment creation -> first complete receipt at a viewer (lag minus
  // this is playout slack), the share of those receipts pushed by the sub-stream parent,
  // and the mean time of one media send by part (upload queue, serialisation at the
  // sender's upload rate, propagation, chunk repair after loss).
  Dist arrival_ms;
  double arrivals_pushed = 0;
  double send_queue_ms = 0, send_serialise_ms = 0, send_latency_ms = 0, send_repair_ms = 0;
};

}  // namespace meshcast::mesh::sim
