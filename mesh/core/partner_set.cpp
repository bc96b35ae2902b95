#include "mesh/core/partner_set.hpp"

#include <algorithm>

namespace meshcast::mesh {

PartnerSet::PartnerSet(const NodeConfig& cfg) : cfg_(cfg) {
  partners_.reserve(cfg_.max_partners);
  pids_.reserve(cfg_.max_partners);
}

// Scans the compact id array (one cache line) rather than the partner records.
Partner* PartnerSet::find(PeerId id) {
  for (size_t i = 0; i < pids_.size(); ++i)
    if (pids_[i] == id) return &partners_[i];
  return nullptr;
}
const Partner* PartnerSet::find(PeerId id) const {
  for (size_t i = 0; i < pids_.size(); ++i)
    if (pids_[i] == id) return &partners_[i];
  return nullptr;
}

Partner& PartnerSet::add(PeerId id, TimeUs now) {
  Partner p;
  p.id = id;
  p.connected_at = now;
  p.last_useful = now;
  partners_.push_back(p);
  pids_.push_back(id);
  return partners_.back();
}

void PartnerSet::erase(const Partner& p) {
  const auto idx = &p - partners_.data();
  partners_.erase(partners_.begin() + idx);
  pids_.erase(pids_.begin() + idx);
}

std::vector<PeerId> PartnerSet::ids() const {
  std::vector<PeerId> ids;
  for (auto& p : partners_) ids.push_back(p.id);
  return ids;
}

void PartnerSet::add_candidates(std::span<const PeerId> ids) {
  for (PeerId id : ids) {
    if (id == cfg_.self || find(id) || banned(id) ||
        std::find(candidates_.begin(), candidates_.end(), id) != candidates_.end())
      continue;
    candidates_.push_back(id);
  }
  if (candidates_.size() > cfg_.max_candidates)
    candidates_.erase(candidates_.begin(), candidates_.end() - long(cfg_.max_candidates));
}

bool PartnerSet::banned(PeerId id) const {
  return std::find(banned_.begin(), banned_.end(), id) != banned_.end();
}

void PartnerSet::ban(PeerId id) {
  banned_.push_back(id);
  if (banned_.size() > kMaxBanned) banned_.erase(banned_.begin());  // the oldest ban goes
}

void PartnerSet::stop_connecting(PeerId id) {
  connecting_.erase(std::remove_if(connecting_.begin(), connecting_.end(),
                                   [&](auto& c) { return c.first == id; }),
                    connecting_.end());
}

void PartnerSet::expire_connecting(TimeUs now) {
  connecting_.erase(
      std::remove_if(connecting_.begin(), connecting_.end(),
                     [&](auto& c) { return now - c.second > cfg_.connect_timeout_us; }),
      connecting_.end());
}

bool PartnerSet::connecting(PeerId id) const {
  return std::any_of(connecting_.begin(), connecting_.end(),
                     [&](auto& c) { return c.first == id; });
}

void PartnerSet::dial(PeerId id, TimeUs now, Outbox& out) {
  connecting_.emplace_back(id, now);
  out.emit(OutputKind::kConnect, id);
}

PeerId PartnerSet::evictable(TimeUs now) const {
  for (auto& q : partners_)
    if (q.parent_mask == 0 && q.child_mask == 0 && !q.is_source &&
        now - q.connected_at > cfg_.evict_after_us)
      return q.id;
  return kNoPeer;
}

PeerId PartnerSet::manage(TimeUs now, bool playing, TimeUs started_at, bool complaint,
                          Outbox& out) {
  // Not playing yet and no partner has anything to give (e.g. in a flash crowd, partners
  // that joined with us): look wider, up to the hard bound, until someone has data.
  bool starving = false;
  if (!playing && now - started_at >= cfg_.startup_widen_us) {
    // A partner whose map shows data but that left our start-up pulls unanswered
    // (startup_unanswered_max times) gives nothing either.
    starving = true;
    for (auto& q : partners_)
      starving = starving &&
                 !(q.has_bm && q.bm.count > 0 && q.startup_asked < cfg_.startup_unanswered_max);
  }
  const size_t want =
      starving ? cfg_.max_partners
               : std::clamp<size_t>(cfg_.target_partners, cfg_.min_partners, cfg_.max_partners);
  while (partners_.size() + connecting_.size() < want && !candidates_.empty()) {
    const PeerId id = candidates_.back();
    candidates_.pop_back();
    if (id == cfg_.self || find(id) || banned(id) || connecting(id)) continue;
    dial(id, now, out);
  }
  // A complaint about one of the source's children can reach only the source, which sends
  // away partners that are not its children: dial it again, at most once per back-off.
  if (source_id_ != kNoPeer && !find(source_id_) && partners_.size() < cfg_.max_partners &&
      now - source_redial_at_ >= cfg_.refuse_backoff_us && !connecting(source_id_) && complaint) {
    source_redial_at_ = now;
    dial(source_id_, now, out);
  }
  const TimeUs ask_every = starving ? cfg_.startup_widen_us : cfg_.need_neighbours_us;
  if ((starving || partners_.size() + connecting_.size() < cfg_.min_partners + 1) &&
      candidates_.empty() && (need_sent_at_ < 0 || now - need_sent_at_ >= ask_every)) {
    need_sent_at_ = now;
    out.emit(OutputKind::kNeedNeighbours);
  }
  // Full of partners: drop one that neither pushes to us, nor is pushed to by us, nor has
  // delivered anything for a while, to make room for a better one.
  if (partners_.size() >= cfg_.max_partners) {
    for (auto& q : partners_)
      if (q.parent_mask == 0 && q.child_mask == 0 && !q.is_source &&
          now - std::max(q.last_useful, q.connected_at) > cfg_.partner_idle_us)
        return q.id;
  }
  return kNoPeer;
}

}  // namespace meshcast::mesh
