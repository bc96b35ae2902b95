// A mesh peer as a deterministic sans-IO state machine (viewer or source).
// Inputs: start, partner_connected/left, on_message/on_bytes, on_timer, add_candidates,
// publish_segment (source). Outputs accumulate in outbox(); the driver executes and clears
// them. No clock, no sockets, no hidden randomness (seeded RNG from the config).
//
// Delivery is hybrid push-pull on units, the K signed stripes of each segment (stripes.hpp):
// each viewer subscribes to the K sub-streams (unit n % K) from parents that forward new
// units at once; gaps are pulled from partners whose buffer map shows the unit,
// deadline-first when close to playout, rarest-first otherwise. A segment plays when all its
// K units are in.
//
// The node dispatches messages and timers to its parts, one job each: PartnerSet (links),
// SegmentWindow (units held), PushTrees (sub-stream parents and children), PullScheduler
// (gaps) and Playout (the viewer's clock); it serves pulls and sends buffer maps itself.
#pragma once
#include <algorithm>
#include <array>
#include <span>
#include <vector>

#include "mesh/base/token_bucket.hpp"
#include "mesh/core/messages.hpp"
#include "mesh/core/node_config.hpp"
#include "mesh/core/node_output.hpp"
#include "mesh/core/node_stats.hpp"
#include "mesh/core/outbox.hpp"
#include "mesh/core/partner_set.hpp"
#include "mesh/core/playout.hpp"
#include "mesh/core/pull_scheduler.hpp"
#include "mesh/core/push_trees.hpp"
#include "mesh/core/rng.hpp"
#include "mesh/core/segment_window.hpp"

namespace meshcast::mesh {

class Node {
 public:
  explicit Node(const NodeConfig& cfg);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Viewer joins (or source starts) at `now`.
  void start(TimeUs now);
  void partner_connected(PeerId id, TimeUs now);
  void partner_left(PeerId id, TimeUs now);
  void on_message(PeerId from, const Message& m, TimeUs now);
  // Decodes untrusted bytes; garbage disconnects the partner (kProtocol).
  void on_bytes(PeerId from, std::span<const uint8_t> bytes, TimeUs now);
  void on_timer(TimeUs now);
  void add_candidates(std::span<const PeerId> ids, TimeUs now);
  // Source only: a new signed segment.
  void publish_segment(Segment seg, TimeUs now);
  // Viewer: the upload the uplink is now believed to carry (the shell's estimate, never
  // above what was declared). Push slots, the token bucket and the fan-out bound follow it;
  // children above the new slots go, slowest first; partners hear the new upload in a
  // Hello when it moved by reannounce_percent (10 %) or more.
  void set_upload_budget(uint64_t bps, TimeUs now);
  uint64_t upload_budget() const { return cfg_.upload_bps; }
  // The shell's word on a partner's link: through a TURN server or not. A relayed parent
  // ranks relayed_penalty_us later (TURN is paid bandwidth).
  void set_partner_relayed(PeerId id, bool relayed) {
    if (Partner* p = partners_.find(id)) p->relayed = relayed;
  }
  // Children summed over sub-streams (one per stripe pushed).
  uint32_t child_count() const { return trees_.children_total(); }
  // Cut-through: the child that would be pushed segment `h` first (the fastest child of its
  // sub-stream other than `from`), so the shell can pass the segment's verified chunks on
  // while it still arrives; kNoPeer if the segment is not wanted (held, too old) or has no
  // such child. The push that follows the whole segment to that child is the shell's to skip.
  PeerId cut_through_child(const SegmentHeader& h, PeerId from) const;

  std::vector<Output>& outbox() { return out_.outputs(); }
  // Route outputs into a caller-owned vector (e.g. one shared by all simulated nodes, which
  // stays in cache); nullptr restores the node's own outbox.
  void use_outbox(std::vector<Output>* sink) { out_.use(sink); }
  const NodeStats& stats() const { return stats_; }
  const NodeConfig& config() const { return cfg_; }
  // Hint for a driver about to hand this node an input (the simulator, whose 100k nodes are
  // never in cache): fetch the fields every input reads.
  void prefetch() const;
  // The state a delivery of segment n touches (after prefetch() has brought the node in).
  void prefetch_segment(uint32_t n) const;

  // Introspection (tests, simulator's tracker).
  size_t partner_count() const { return partners_.size(); }
  bool has_partner_room() const { return partners_.size() < cfg_.max_partners; }
  bool is_partner(PeerId id) const { return partners_.find(id) != nullptr; }
  std::vector<PeerId> partner_ids() const { return partners_.ids(); }
  const std::vector<PeerId>& candidate_ids() const { return partners_.candidates(); }
  // What a partner's Hello said (as the caller let it through); false / 0 if not a partner.
  bool partner_is_source(PeerId id) const {
    auto* p = partners_.find(id);
    return p && p->is_source;
  }
  uint32_t partner_upload_kbps(PeerId id) const {
    auto* p = partners_.find(id);
    return p ? p->upload_kbps : 0;
  }
  PeerId parent(uint32_t j) const { return j < kMaxSubstreams ? trees_.parent(j) : kNoPeer; }
  uint8_t depth(uint32_t j) const { return j < kMaxSubstreams ? trees_.depth(j) : kNoDepth; }
  uint32_t children(uint32_t j) const { return j < kMaxSubstreams ? trees_.children(j) : 0; }
  uint32_t spare_slots() const { return trees_.spare_slots(); }
  bool has_segment(uint32_t n) const { return window_.has(n); }
  bool playing() const { return playout_.playing(); }
  // Holds a verified stripe (can serve others; a joiner's first whole segment may still wait).
  bool holds_data() const { return window_.any(); }
  uint32_t next_play() const { return playout_.next_play(); }
  TimeUs playout_delay() const { return playout_.delay(); }
  BufferMap buffer_map() const;

 private:
  void disconnect(PeerId id, DisconnectReason why, TimeUs now);
  // Every part forgets the partner, then the set drops it.
  void remove_partner(PeerId id, TimeUs now);
  void maybe_timer();
  bool too_old(uint32_t n) const {
    return window_.too_old(n, playout_.playing(), playout_.next_play());
  }

  void handle(PeerId from, const Hello& m, TimeUs now);
  void handle(PeerId from, const BufferMap& m, TimeUs now);
  void handle(PeerId from, const Request& m, TimeUs now);
  void handle(PeerId from, const Subscribe& m, TimeUs now);
  void handle(PeerId from, const SubscribeAck& m, TimeUs now);
  void handle(PeerId from, const Unsubscribe& m, TimeUs now);
  void handle(PeerId from, const Reject& m, TimeUs now);
  void handle(PeerId from, const SegmentMsg& m, TimeUs now);
  void handle(PeerId from, const Bye& m, TimeUs now);

  void tick(TimeUs now);
  // Source: keeps only its subscribers, tells a slot that became free at once.
  void tick_source(TimeUs now);
  void send_buffer_maps(TimeUs now, bool force_all);
  // Viewer: dial, ask for neighbours, drop an idle partner (PartnerSet::manage); a source
  // only takes partners.
  void manage_partners(TimeUs now);
  Hello hello() const;

  NodeConfig cfg_;  // normalised (clamped) copy; the parts read it by reference
  NodeStats stats_;
  Outbox out_;
  Rng rng_;  // one sequence shared by the parts, in the order they draw
  TokenBucket bucket_;
  PartnerSet partners_;
  SegmentWindow window_;
  PushTrees trees_;
  Playout playout_;
  PullScheduler pulls_;

  bool started_ = false;
  uint16_t replaceable_shown_ = 0;  // source: sub-streams our last maps showed a slot on
  TimeUs next_tick_ = 0;
  TimeUs next_bm_at_ = 0;
  TimeUs timer_at_ = -1;
  TimeUs now_ = 0;
  uint64_t announced_upload_bps_ = 0;  // what our Hellos said
};

}  // namespace meshcast::mesh
