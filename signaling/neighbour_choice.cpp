#include "signaling/neighbour_choice.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
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

int64_t believed_upload_kbps(const NeighbourCandidate& c, int64_t bitrate_kbps) {
  if (c.is_broadcaster) return c.upload_kbps;
  const int64_t declared = c.upload_kbps > 0 ? c.upload_kbps : 4 * bitrate_kbps;
  // Unconfirmed: enough for one child, so a newcomer is tried once per report and a liar
  // gains one suggestion, not every slot. Confirmed: room to grow to twice what it gives.
  const int64_t cap =
      c.confirmed_kbps > 0 ? std::max(bitrate_kbps, 2 * c.confirmed_kbps) : bitrate_kbps;
  return std::min(declared, cap);
}

int64_t spare_kbps(const NeighbourCandidate& c, int64_t bitrate_kbps) {
  return believed_upload_kbps(c, bitrate_kbps) - static_cast<int64_t>(c.children) * bitrate_kbps;
}

std::vector<std::string> choose_neighbours(std::string_view requester,
                                           const std::vector<NeighbourCandidate>& candidates,
                                           const std::set<std::string, std::less<>>& exclude,
                                           const NeighbourPolicy& policy) {
  std::vector<std::string> out;
  for (std::size_t i : choose_neighbour_indices(requester, candidates, exclude, policy))
    out.emplace_back(candidates[i].peer_id);
  return out;
}

std::vector<std::size_t> choose_neighbour_indices(std::string_view requester,
                                                  const std::vector<NeighbourCandidate>& candidates,
                                                  const std::set<std::string, std::less<>>& exclude,
                                                  const NeighbourPolicy& policy) {
  const int max_n = std::clamp(policy.max_neighbours, 1, 16);
  const int64_t bitrate = std::max<int64_t>(policy.bitrate_kbps, 1);

  struct Ranked {
    // 0 broadcaster with spare, 1 confirmed viewer with spare, 2 unconfirmed viewer with
    // spare, 3 without spare (a saturated broadcaster too)
    int group;
    int children;
    int64_t spare;
    uint64_t tie;
    const NeighbourCandidate* c;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(candidates.size());
  int trusted_with_spare = 0;
  const NeighbourCandidate* broadcaster = nullptr;
  for (auto& c : candidates) {
    if (c.peer_id == requester || exclude.count(c.peer_id)) continue;
    if (c.is_broadcaster) {
      broadcaster = &c;
      continue;
    }
    const int64_t spare = spare_kbps(c, bitrate);
    const bool has_spare = spare >= bitrate;
    trusted_with_spare += has_spare && c.trusted ? 1 : 0;
    const int group = !has_spare ? 3 : c.confirmed_kbps > 0 ? 1 : 2;
    ranked.push_back({group, c.children, spare, pair_hash(requester, c.peer_id), &c});
  }
  if (broadcaster && trusted_with_spare < policy.broadcaster_until_viewers) {
    // First while it has spare upload; a saturated broadcaster only after viewers with spare.
    const int64_t spare = spare_kbps(*broadcaster, bitrate);
    ranked.push_back({spare >= bitrate ? 0 : 3, broadcaster->children, spare, 0, broadcaster});
  }

  auto less = [](const Ranked& a, const Ranked& b) {
    return std::tie(a.group, a.children, b.spare, a.tie, a.c->peer_id) <
           std::tie(b.group, b.children, a.spare, b.tie, b.c->peer_id);
  };
  std::sort(ranked.begin(), ranked.end(), less);

  std::vector<const NeighbourCandidate*> picked;
  std::map<std::string_view, int> per_group;
  const NeighbourCandidate* first_trusted = nullptr;
  for (auto& r : ranked) {
    const bool trusted = r.c->trusted || r.c->is_broadcaster;
    if (trusted && !first_trusted) first_trusted = r.c;
    if (picked.size() >= static_cast<size_t>(max_n)) {
      if (first_trusted) break;
      continue;  // still looking for a trusted peer to put in
    }
    if (policy.max_per_group > 0 && !r.c->group.empty() &&
        per_group[r.c->group] >= policy.max_per_group)
      continue;
    if (!r.c->group.empty()) ++per_group[r.c->group];
    picked.push_back(r.c);
  }
  // Every list holds one peer the tracker has reason to trust, so a crowd of liars cannot
  // fill it: the best-ranked trusted candidate, or the broadcaster even when saturated.
  auto is_trusted = [](const NeighbourCandidate* c) { return c->trusted || c->is_broadcaster; };
  if (std::none_of(picked.begin(), picked.end(), is_trusted)) {
    const NeighbourCandidate* t = first_trusted ? first_trusted : broadcaster;
    if (t) {
      if (picked.size() >= static_cast<size_t>(max_n)) picked.pop_back();
      picked.insert(picked.begin(), t);
    }
  }
  std::vector<std::size_t> out;
  out.reserve(picked.size());
  for (auto* c : picked) out.push_back(static_cast<std::size_t>(c - candidates.data()));
  return out;
}

std::string address_group(std::string_view ip, bool group_loopback) {
  if (ip.empty() || ip.size() > 64) return {};
  const std::string s(ip);
  std::array<unsigned char, 16> a{};
  if (inet_pton(AF_INET, s.c_str(), a.data()) == 1) {
    if (a[0] == 127) return group_loopback ? "127/8" : "";
    char buf[24];
    std::snprintf(buf, sizeof buf, "%u.%u.%u", a[0], a[1], a[2]);
    return buf;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.data()) != 1) return {};
  static constexpr std::array<unsigned char, 12> kMapped = {0, 0, 0, 0, 0,    0,
                                                            0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), a.begin())) {
    char v4[24];
    std::snprintf(v4, sizeof v4, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
    return address_group(v4, group_loopback);
  }
  static constexpr std::array<unsigned char, 16> kLoop = {0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0, 0, 0, 0, 0, 1};
  if (a == kLoop) return group_loopback ? "127/8" : "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%x:%x:%x::/48", (a[0] << 8) | a[1], (a[2] << 8) | a[3],
                (a[4] << 8) | a[5]);
  return buf;
}

}  // namespace meshcast::signaling
