#include "signaling/neighbour_choice.hpp"

#include <algorithm>
#include <tuple>

namespace meshcast::signaling {
namespace {

// FNV-1a over both ids: a stable, platform-independent tie-break.
uint64_t pair_hash(std::string_view a, std::string_view b) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  mix(a);
  mix(b);
  return h;
}

}  // namespace

int64_t spare_kbps(const NeighbourCandidate& c, int64_t bitrate_kbps) {
  return c.upload_kbps - static_cast<int64_t>(c.children) * bitrate_kbps;
}

std::vector<std::string> choose_neighbours(std::string_view requester,
                                           const std::vector<NeighbourCandidate>& candidates,
                                           const std::set<std::string, std::less<>>& exclude,
                                           const NeighbourPolicy& policy) {
  const int max_n = std::clamp(policy.max_neighbours, 1, 16);
  const int64_t bitrate = std::max<int64_t>(policy.bitrate_kbps, 1);

  struct Ranked {
    int group;  // 0 broadcaster (tiny audience), 1/2 viewer with spare, playing or not, 3 without
    int children;
    int64_t spare;
    uint64_t tie;
    const NeighbourCandidate* c;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(candidates.size());
  int viewers_with_spare = 0;
  const NeighbourCandidate* broadcaster = nullptr;
  for (auto& c : candidates) {
    if (c.peer_id == requester || exclude.count(c.peer_id)) continue;
    int64_t spare = spare_kbps(c, bitrate);
    if (c.is_broadcaster) {
      broadcaster = &c;
      continue;
    }
    bool has_spare = spare >= bitrate;
    viewers_with_spare += has_spare ? 1 : 0;
    const int group = !has_spare ? 3 : c.playing ? 1 : 2;
    ranked.push_back({group, c.children, spare, pair_hash(requester, c.peer_id), &c});
  }
  if (broadcaster && viewers_with_spare < policy.broadcaster_until_viewers) {
    // First while it has spare upload; a saturated broadcaster only after viewers with spare.
    int64_t spare = spare_kbps(*broadcaster, bitrate);
    ranked.push_back({spare >= bitrate ? 0 : 3, broadcaster->children, spare, 0, broadcaster});
  }

  auto less = [](const Ranked& a, const Ranked& b) {
    return std::tie(a.group, a.children, b.spare, a.tie, a.c->peer_id) <
           std::tie(b.group, b.children, a.spare, b.tie, b.c->peer_id);
  };
  size_t n = std::min<size_t>(ranked.size(), static_cast<size_t>(max_n));
  std::partial_sort(ranked.begin(), ranked.begin() + n, ranked.end(), less);
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(ranked[i].c->peer_id);
  return out;
}

}  // namespace meshcast::signaling
