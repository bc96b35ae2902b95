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
#pragma once
#include <algorithm>
#include <array>
#include <span>
#include <vector>

#include "mesh/core/messages.hpp"
#include "mesh/core/node_config.hpp"
#include "mesh/core/node_output.hpp"
#include "mesh/core/node_stats.hpp"
#include "mesh/core/token_bucket.hpp"

namespace meshcast::mesh {

class Node {
 public:
  explicit Node(const NodeConfig& cfg);

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
  // Hello when it moved by 10 % or more.
  void set_upload_budget(uint64_t bps, TimeUs now);
  uint64_t upload_budget() const { return cfg_.upload_bps; }
  // The shell's word on a partner's link: through a TURN server or not. A relayed parent
  // ranks relayed_penalty_us later (TURN is paid bandwidth).
  void set_partner_relayed(PeerId id, bool relayed) {
    if (Partner* p = find(id)) p->relayed = relayed;
  }
  // Children summed over sub-streams (one per stripe pushed).
  uint32_t child_count() const { return children_total(); }
  // Cut-through: the child that would be pushed segment `h` first (the fastest child of its
  // sub-stream other than `from`), so the shell can pass the segment's verified chunks on
  // while it still arrives; kNoPeer if the segment is not wanted (held, too old) or has no
  // such child. The push that follows the whole segment to that child is the shell's to skip.
  PeerId cut_through_child(const SegmentHeader& h, PeerId from) const;

  std::vector<Output>& outbox() { return *out_; }
  // Route outputs into a caller-owned vector (e.g. one shared by all simulated nodes, which
  // stays in cache); nullptr restores the node's own outbox.
  void use_outbox(std::vector<Output>* sink) { out_ = sink ? sink : &own_out_; }
  const NodeStats& stats() const { return stats_; }
  const NodeConfig& config() const { return cfg_; }
  // Hint for a driver about to hand this node an input (the simulator, whose 100k nodes are
  // never in cache): fetch the fields every input reads.
  void prefetch() const {
    __builtin_prefetch(this);
    __builtin_prefetch(&pids_);
    __builtin_prefetch(&win_lo_);
    __builtin_prefetch(&have_bits_);
  }
  // The state a delivery of segment n touches (after prefetch() has brought the node in).
  void prefetch_segment(uint32_t n) const {
    if (window_.empty()) return;
    __builtin_prefetch(window_.data() + (n & win_mask_));
    __builtin_prefetch(segs_.data() + (n & win_mask_));
    __builtin_prefetch(pids_.data());
    __builtin_prefetch(partners_.data());
  }

  // Introspection (tests, simulator's tracker).
  size_t partner_count() const { return partners_.size(); }
  bool has_partner_room() const { return partners_.size() < cfg_.max_partners; }
  bool is_partner(PeerId id) const { return find(id) != nullptr; }
  std::vector<PeerId> partner_ids() const;
  const std::vector<PeerId>& candidate_ids() const { return candidates_; }
  // What a partner's Hello said (as the caller let it through); false / 0 if not a partner.
  bool partner_is_source(PeerId id) const {
    auto* p = find(id);
    return p && p->is_source;
  }
  uint32_t partner_upload_kbps(PeerId id) const {
    auto* p = find(id);
    return p ? p->upload_kbps : 0;
  }
  PeerId parent(uint32_t j) const { return j < kMaxSubstreams ? parent_[j] : kNoPeer; }
  uint8_t depth(uint32_t j) const { return j < kMaxSubstreams ? depth_[j] : kNoDepth; }
  uint32_t children(uint32_t j) const { return j < kMaxSubstreams ? children_[j] : 0; }
  uint32_t spare_slots() const;
  bool has_segment(uint32_t n) const;
  bool playing() const { return playing_; }
  // Holds a verified stripe (can serve others; a joiner's first whole segment may still wait).
  bool holds_data() const { return have_any_; }
  uint32_t next_play() const { return next_play_; }
  TimeUs playout_delay() const { return delay_us_; }
  BufferMap buffer_map() const;

 private:
  struct Partner {
    PeerId id = kNoPeer;
    bool hello = false;
    bool is_source = false;
    bool relayed = false;  // the link goes through a TURN server (set_partner_relayed)
    bool has_bm = false;
    uint8_t outstanding = 0;   // our pull requests in flight to it
    uint16_t child_mask = 0;   // sub-streams it receives pushed from us
    uint16_t parent_mask = 0;  // sub-streams we receive pushed from it
    uint32_t upload_kbps = 0;
    uint8_t parent_strikes = 0;  // times in a row it went silent as our parent
    uint8_t pull_strikes = 0;    // pulls in a row it let time out
    uint8_t startup_asked = 0;   // start-up pulls sent to it since it last sent a segment
    TimeUs connected_at = 0;
    TimeUs child_since = 0;                // when it last became our child (child_mask from 0)
    TimeUs last_useful = 0;                // last new segment from it
    TimeUs refused_until = 0;              // subscription back-off
    TimeUs busy_until = 0;                 // refused our pulls: leave it alone until then
    uint32_t not_have_from = 0xFFFFFFFFu;  // said it lacks this number (until next map)
    TimeUs bm_at = 0;
    BufferMap bm;
    // Likely holds n: shown in its map, or newer than its map by no more than the time
    // since (it keeps receiving at stream rate). A wrong guess costs one Reject.
    bool likely_has(uint32_t n, TimeUs now, TimeUs seg_us) const;
  };
  enum SlotState : uint8_t { kEmpty = 0, kHave = 1 };
  struct Slot {
    uint32_t number = 0;
    uint8_t state = kEmpty;
    PeerId req_from = kNoPeer;
    TimeUs req_deadline = 0;
    TimeUs arrived = 0;
  };
  // The segment held in a slot: kept apart so that window scans touch only the small slots.
  Segment& seg_of(const Slot& s) { return segs_[size_t(&s - window_.data())]; }
  const Segment& seg_of(const Slot& s) const { return segs_[size_t(&s - window_.data())]; }

  Partner* find(PeerId id);
  const Partner* find(PeerId id) const;
  void send(PeerId to, Message m, uint8_t priority = 0);
  void disconnect(PeerId id, DisconnectReason why, TimeUs now);
  void remove_partner(PeerId id, TimeUs now);
  Slot* slot_for(uint32_t n);
  const Slot* slot_for(uint32_t n) const;
  void store(Segment&& seg, TimeUs now);
  void forward(const Slot& s, PeerId except, TimeUs now);
  void maybe_timer();
  void orphan(uint32_t j, TimeUs now);

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
  void send_buffer_maps(TimeUs now, bool force_all);
  void schedule_pulls(TimeUs now);
  void manage_parents(TimeUs now);
  // The sub-stream whose pushes arrive balance_spread or more behind the fastest one's, or
  // kMaxSubstreams.
  uint32_t lagging_substream() const;
  void manage_partners(TimeUs now);
  void advance_playout(TimeUs now);
  TimeUs created_est(uint32_t n) const;
  TimeUs deadline(uint32_t n) const { return created_est(n) + delay_us_; }
  // Mean time between unit numbers (K stripes per segment).
  TimeUs unit_us() const { return std::max<TimeUs>(1, cfg_.segment_us / cfg_.substreams); }
  bool segment_complete(uint32_t first) const;
  bool too_old(uint32_t n) const;  // below the window or the playout point
  void set_have(uint32_t slot_index, bool have);
  uint32_t total_slots() const;
  bool preempt_slowest(Partner& newcomer, uint32_t j, int only_substream);
  // Source: gives `newcomer` the slot on j of the child `silent` that took it as a child and
  // sent it nothing, when that child had time to send and no slot changed hands recently.
  bool replace_silent_child(Partner& newcomer, uint32_t j, PeerId silent);
  // Viewer: a link to `id` is on its way / start one (kConnect).
  bool connecting(PeerId id) const;
  void dial(PeerId id, TimeUs now);
  // Viewer: a silent source child on sub-stream j to name to the source (within the TTL).
  bool complaining(uint32_t j, TimeUs now) const;
  // Source: `old` leaves sub-stream k (not taken back for a while), `newcomer` joins j.
  void replace_child(Partner& old, uint32_t k, Partner& newcomer, uint32_t j);
  // Source: a child of `only_substream` (any if < 0) that forwards to nobody after the grace
  // time, by its own buffer map (measured evidence beats its declared upload), or nullptr.
  Partner* idle_child(int only_substream, uint32_t* substream);
  bool idle_replaceable(uint32_t j) const;
  bool is_idle_child(const Partner& q) const;
  bool forwards_to_nobody(const Partner& q) const;  // by its own map, grace or not
  void accept_child(Partner& q, uint32_t j);
  // Tells q it is no longer our child on sub-stream j and forgets it there.
  void drop_child(Partner& q, uint32_t j);
  TimeUs parent_estimate(const Partner& q, uint32_t j) const;
  uint32_t children_total() const;
  // Children of sub-stream j the fan-out bound admits at the current upload.
  uint32_t fanout_limit() const;
  Hello hello() const;
  // The child (and its sub-stream) with the least declared upload, the first on ties.
  Partner* slowest_child(int only_substream, uint32_t* substream, const Partner* except = nullptr);
  uint64_t rng();

  NodeConfig cfg_;
  NodeStats stats_;
  std::vector<Output> own_out_;
  std::vector<Output>* out_ = &own_out_;
  std::vector<Partner> partners_;
  std::vector<PeerId> pids_;  // partners_[i].id, packed for find()
  std::vector<PeerId> candidates_;
  std::vector<std::pair<PeerId, TimeUs>> connecting_;
  static constexpr size_t kMaxBanned = 1024;
  std::vector<PeerId> banned_;  // forgers: never again (up to kMaxBanned of them)
  static constexpr size_t kMaxIdleReplaced = 64;
  std::vector<std::pair<PeerId, TimeUs>> idle_replaced_;  // source: id, not again before
  std::array<TimeUs, kMaxSubstreams> idle_replaced_at_{};
  TimeUs silent_replaced_at_ = -(TimeUs(1) << 62);  // source: last replacement on a complaint
  uint16_t replaceable_shown_ = 0;  // sub-streams our last maps showed a replaceable slot on
  std::vector<Slot> window_;
  std::vector<Segment> segs_;  // parallel to window_
  uint32_t win_mask_ = 0;      // window - 1
  // K as a divisor the compiler can see is small (n % K runs per message).
  struct SmallDivisor {
    uint32_t k = 1;
    friend uint32_t operator%(uint32_t n, SmallDivisor d) {
      return (d.k & (d.k - 1)) == 0 ? n & (d.k - 1) : n % d.k;
    }
    SmallDivisor& operator=(uint32_t v) {
      k = v;
      return *this;
    }
  } kk_;
  // Bit i <=> window_[i] holds a segment (kHave): has_segment() without touching slots.
  std::array<uint64_t, kMaxWindow / 64> have_bits_{};
  TokenBucket bucket_;
  uint64_t rng_state_;

  bool started_ = false;
  bool have_any_ = false;
  uint32_t win_lo_ = 0;   // lowest number the window may hold
  uint32_t highest_ = 0;  // highest number held (valid if have_any_)
  uint32_t ref_num_ = 0;  // reference for estimating creation times of missing segments
  TimeUs ref_created_ = 0;

  std::array<PeerId, kMaxSubstreams> parent_{};
  std::array<PeerId, kMaxSubstreams> pending_sub_{};
  std::array<TimeUs, kMaxSubstreams> pending_sub_at_{};
  std::array<uint8_t, kMaxSubstreams> depth_{};
  std::array<uint32_t, kMaxSubstreams> children_{};
  std::array<TimeUs, kMaxSubstreams> last_push_{};
  std::array<TimeUs, kMaxSubstreams> orphan_since_{};
  // Per sub-stream: the parent's depth in its ack, whether it pushed anything since, and a
  // source child that took us and sent nothing (named in our next subscribe to the source).
  std::array<uint8_t, kMaxSubstreams> parent_ack_depth_{};
  std::array<bool, kMaxSubstreams> parent_pushed_{};
  std::array<PeerId, kMaxSubstreams> silent_parent_{};
  std::array<TimeUs, kMaxSubstreams> silent_parent_at_{};
  PeerId source_id_ = kNoPeer;  // learnt from its hello
  TimeUs source_redial_at_ = -(TimeUs(1) << 62);
  std::array<TimeUs, kMaxSubstreams> push_lag_{};  // EWMA arrival - creation of pushes
  std::array<uint32_t, kMaxSubstreams> newest_sub_{};
  std::array<bool, kMaxSubstreams> newest_valid_{};

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
  bool startup_requested_ = false;
  TimeUs startup_req_at_ = 0;

  TimeUs next_tick_ = 0;
  TimeUs next_bm_at_ = 0;
  TimeUs next_parents_at_ = 0;
  TimeUs timer_at_ = -1;
  TimeUs need_sent_at_ = -1;
  TimeUs now_ = 0;
  uint64_t announced_upload_bps_ = 0;  // what our Hellos said
};

}  // namespace meshcast::mesh
