// The K push trees a node is in: per sub-stream its parent (a viewer's; the source has none
// and sits at depth 0), its depth, its children, and the upkeep of both (subscriptions,
// timeouts, better parents, shedding children, the source's idle and silent children).
// Sends through the outbox; the caller removes partners (forget()) and owns the timers.
#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "mesh/base/token_bucket.hpp"
#include "mesh/core/node_config.hpp"
#include "mesh/core/node_stats.hpp"
#include "mesh/core/outbox.hpp"
#include "mesh/core/partner_set.hpp"
#include "mesh/core/rng.hpp"

namespace meshcast::mesh {

class PushTrees {
 public:
  PushTrees(const NodeConfig& cfg, PartnerSet& partners, Outbox& out, NodeStats& stats, Rng& rng,
            TokenBucket& bucket);
  PushTrees(const PushTrees&) = delete;
  PushTrees& operator=(const PushTrees&) = delete;

  PeerId parent(uint32_t j) const { return parent_[j]; }
  uint8_t depth(uint32_t j) const { return depth_[j]; }
  uint32_t children(uint32_t j) const { return children_[j]; }
  TimeUs push_lag(uint32_t j) const { return push_lag_[j]; }
  uint8_t home() const { return home_; }
  // Push slots the upload buys (the source: copies x K), children summed over sub-streams,
  // and the slots left (what buffer maps announce).
  uint32_t total_slots() const;
  uint32_t children_total() const;
  uint32_t spare_slots() const;
  // Depths and spare slots of our buffer map (the source shows a slot a newcomer can take
  // from a child that forwards to nobody).
  void fill_map(BufferMap& bm, TimeUs now) const;
  // Some sub-stream has neither a parent nor a subscription on its way.
  bool wants_parent() const;
  // A silent source child on sub-stream j to name to the source (within the TTL).
  bool complaining(uint32_t j, TimeUs now) const;
  bool complaining(TimeUs now) const;

  void on_subscribe(Partner& p, const Subscribe& m, TimeUs now);
  void on_ack(Partner& p, const SubscribeAck& m, TimeUs now);
  void on_unsubscribe(Partner& p, const Unsubscribe& m);
  // p refused (or dropped) our subscription to sub-stream j (< K).
  void on_refused(Partner& p, uint32_t j, RejectReason why, TimeUs now);
  // A unit of sub-stream j arrived from `from`: true if from our parent there.
  bool on_unit(uint32_t j, PeerId from, TimeUs now);
  // ... and it verified: its lag measures the tree, the parent's strikes end.
  void on_parent_unit(uint32_t j, TimeUs lag, Partner& parent);
  // p is about to leave the partner set.
  void forget(const Partner& p, TimeUs now);

  // Pushes `seg` to the children of its sub-stream j but `except`, fastest first.
  void forward(const Segment& seg, uint32_t j, PeerId except, TimeUs now);
  // The child forward() would push a unit of sub-stream j to first (other than `except`),
  // or kNoPeer.
  PeerId first_child(uint32_t j, PeerId except) const;

  // Viewer: parent upkeep (timeouts, better parents) every parent_check, or at once while
  // a sub-stream has no parent.
  void upkeep(TimeUs now);
  // Viewer: timeouts, switches and subscriptions now.
  void manage(TimeUs now);
  // Viewer: the upload budget changed: children beyond the slots or the fan-out bound go,
  // slowest first.
  void shed();

  // Source: a child forwards to nobody (its slot is about to go to a newcomer).
  bool slot_coming() const;
  // Source: the sub-streams (bits) with a slot a newcomer may take now.
  uint16_t replaceable(TimeUs now) const;

 private:
  static constexpr size_t kMaxIdleReplaced = 64;
  uint64_t rng() { return rng_.next(); }
  void orphan(uint32_t j, TimeUs now);
  // Children of sub-stream j the fan-out bound admits at the current upload.
  uint32_t fanout_limit() const;
  TimeUs parent_estimate(const Partner& q, uint32_t j) const;
  // What q's copy of sub-stream j is worth to the tree: its upload if it relays for j.
  uint32_t relay_value(const Partner& q, uint32_t j) const;
  // forward()'s order: a before b among the children of sub-stream j (stable otherwise).
  bool serves_before(const Partner& a, const Partner& b, uint32_t j) const {
    return relay_value(a, j) > relay_value(b, j);
  }
  // A sub-stream other than our home one with its foreign_children taken.
  bool foreign_full(uint32_t j) const;
  // The sub-stream whose pushes arrive balance_spread or more behind the fastest one's, or
  // kMaxSubstreams.
  uint32_t lagging_substream() const;
  bool preempt_slowest(Partner& newcomer, uint32_t j, int only_substream, TimeUs now);
  // Source: gives `newcomer` the slot on j of the child `silent` that took it as a child and
  // sent it nothing, when that child had time to send and no slot changed hands recently.
  bool replace_silent_child(Partner& newcomer, uint32_t j, PeerId silent, TimeUs now);
  // Source: `old` leaves sub-stream k (not taken back for a while), `newcomer` joins j.
  void replace_child(Partner& old, uint32_t k, Partner& newcomer, uint32_t j, TimeUs now);
  // Source: a child of `only_substream` (any if < 0) that forwards to nobody after the grace
  // time, by its own buffer map (measured evidence beats its declared upload), or nullptr.
  Partner* idle_child(int only_substream, uint32_t* substream, TimeUs now);
  bool idle_replaceable(uint32_t j, TimeUs now) const;
  bool is_idle_child(const Partner& q, TimeUs now) const;
  bool forwards_to_nobody(const Partner& q) const;  // by its own map, grace or not
  void accept_child(Partner& q, uint32_t j, TimeUs now);
  // Tells q it is no longer our child on sub-stream j and forgets it there.
  void drop_child(Partner& q, uint32_t j);
  // The child (and its sub-stream) worth least to its tree (relay_value), the first on ties.
  Partner* slowest_child(int only_substream, uint32_t* substream, const Partner* except = nullptr);

  const NodeConfig& cfg_;
  PartnerSet& partners_;
  Outbox& out_;
  NodeStats& stats_;
  Rng& rng_;
  TokenBucket& bucket_;

  uint8_t home_ = kNoHome;
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
  std::array<TimeUs, kMaxSubstreams> push_lag_{};  // EWMA arrival - creation of pushes
  TimeUs next_parents_at_ = 0;
  // Source: children replaced for forwarding to nobody (id, not again before), when a slot
  // of each sub-stream last changed hands so, and the last replacement on a complaint.
  std::vector<std::pair<PeerId, TimeUs>> idle_replaced_;
  std::array<TimeUs, kMaxSubstreams> idle_replaced_at_{};
  TimeUs silent_replaced_at_ = -(TimeUs(1) << 62);
};

}  // namespace meshcast::mesh
