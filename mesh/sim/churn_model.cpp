#include "mesh/sim/churn_model.hpp"

#include <algorithm>

namespace meshcast::mesh::sim {

namespace {
// What a sybil declares, in stream rates: the most MeshPeer believes of anyone.
constexpr double kSybilUploadX = 4.0;
}  // namespace

std::vector<ChurnModel::Join> ChurnModel::initial_joins() {
  std::vector<Join> joins;
  joins.reserve(cfg_.peers);
  // Forgers: evenly spread over the join order.
  const uint32_t forger_every = std::max<uint32_t>(1, cfg_.forgers ? cfg_.peers / cfg_.forgers : 1);
  for (uint32_t i = 1; i <= cfg_.peers; ++i) {
    const TimeUs t = TimeUs((cfg_.join_start_s + rng_.uniform() * cfg_.join_spread_s) * 1e6);
    const bool forger =
        cfg_.forgers > 0 && i % forger_every == 0 && i / forger_every <= cfg_.forgers;
    // Sybils: the first join slots, all joined within the first half second (the worst case:
    // they meet the source before any honest viewer does).
    const bool sybil = !forger && i <= cfg_.sybils;
    const TimeUs at = sybil ? TimeUs((cfg_.join_start_s + 0.5 * rng_.uniform()) * 1e6) : t;
    joins.push_back({at, i,
                     forger  ? JoinKind::kForger
                     : sybil ? JoinKind::kSybil
                             : JoinKind::kHonest});
  }
  return joins;
}

ChurnModel::Viewer ChurnModel::draw_viewer(JoinKind kind) {
  Viewer v;
  v.x = float(rng_.uniform());
  v.y = float(rng_.uniform());
  double u = rng_.uniform(), mult = cfg_.upload_dist.back().second;
  for (auto& [frac, m] : cfg_.upload_dist) {
    if (u < frac) {
      mult = m;
      break;
    }
    u -= frac;
  }
  // A sybil declares the most real peers believe of anyone (MeshPeer clamps declarations).
  if (kind == JoinKind::kSybil) mult = kSybilUploadX;
  v.upload_bps = uint64_t(mult * double(cfg_.bitrate_kbps) * 1000.0);
  return v;
}

TimeUs ChurnModel::lifetime(JoinKind kind) {
  if (cfg_.churn_lifetime_s <= 0 || kind != JoinKind::kHonest) return -1;
  return TimeUs(rng_.exponential(cfg_.churn_lifetime_s) * 1e6);
}

}  // namespace meshcast::mesh::sim
