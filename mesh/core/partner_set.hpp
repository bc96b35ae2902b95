// A node's partners (the peers it has links to) and the peers it may link to next:
// candidates, links on their way, banned forgers. Decides whom to dial and which idle
// partner may go; the caller closes the link (the other parts must forget the partner too).
#pragma once
#include <span>
#include <utility>
#include <vector>

#include "mesh/core/node_config.hpp"
#include "mesh/core/outbox.hpp"
#include "mesh/core/partner.hpp"

namespace meshcast::mesh {

class PartnerSet {
 public:
  explicit PartnerSet(const NodeConfig& cfg);
  PartnerSet(const PartnerSet&) = delete;
  PartnerSet& operator=(const PartnerSet&) = delete;

  Partner* find(PeerId id);
  const Partner* find(PeerId id) const;
  Partner& add(PeerId id, TimeUs now);
  void erase(const Partner& p);
  size_t size() const { return partners_.size(); }
  bool empty() const { return partners_.empty(); }
  Partner& operator[](size_t i) { return partners_[i]; }
  auto begin() { return partners_.begin(); }
  auto end() { return partners_.end(); }
  auto begin() const { return partners_.begin(); }
  auto end() const { return partners_.end(); }
  std::vector<PeerId> ids() const;

  const std::vector<PeerId>& candidates() const { return candidates_; }
  // Keeps the newest max_candidates ids that are neither us, partners nor banned.
  void add_candidates(std::span<const PeerId> ids);
  bool banned(PeerId id) const;
  void ban(PeerId id);
  void stop_connecting(PeerId id);
  void expire_connecting(TimeUs now);
  void learn_source(PeerId id) { source_id_ = id; }

  // Full: a partner that neither pushes to us nor is pushed to by us and has had time to
  // prove useful (a newcomer may take its place), or kNoPeer.
  PeerId evictable(TimeUs now) const;
  // Viewer upkeep: dials candidates up to the degree wanted (the hard bound while starving
  // at start-up), re-dials the source while `complaint`, asks for neighbours when short;
  // returns an idle partner to drop when full, or kNoPeer.
  PeerId manage(TimeUs now, bool playing, TimeUs started_at, bool complaint, Outbox& out);

  // For a driver about to hand the node an input: the id array's header, then (once that
  // is in) the ids and the records.
  void prefetch() const { __builtin_prefetch(&pids_); }
  void prefetch_records() const {
    __builtin_prefetch(pids_.data());
    __builtin_prefetch(partners_.data());
  }

 private:
  static constexpr size_t kMaxBanned = 1024;
  bool connecting(PeerId id) const;
  void dial(PeerId id, TimeUs now, Outbox& out);

  const NodeConfig& cfg_;
  std::vector<Partner> partners_;
  std::vector<PeerId> pids_;  // partners_[i].id, packed for find()
  std::vector<PeerId> candidates_;
  std::vector<std::pair<PeerId, TimeUs>> connecting_;
  std::vector<PeerId> banned_;  // forgers: never again (up to kMaxBanned of them)
  PeerId source_id_ = kNoPeer;  // learnt from its hello
  TimeUs source_redial_at_ = -(TimeUs(1) << 62);
  TimeUs need_sent_at_ = -1;
};

}  // namespace meshcast::mesh
