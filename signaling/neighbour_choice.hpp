// Neighbour suggestion for a joining (or repairing) viewer: a pure function of its inputs so
// the load-spreading policy is unit-tested with fixed tables.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace meshcast::signaling {

struct NeighbourCandidate {
  std::string_view peer_id;
  bool is_broadcaster = false;
  int64_t upload_kbps = 0;  // declared in hello
  int children = 0;         // reported children + suggestions handed out since the last report
  bool playing = false;     // its latest report counts played segments or has_data: data to give
};

struct NeighbourPolicy {
  int max_neighbours = 8;       // clamp 1..16
  int64_t bitrate_kbps = 1000;  // the stream's bitrate: one child costs this much upload
  // The broadcaster is offered only while fewer than this many viewers can take a child, so
  // it serves a handful of copies however large the audience grows.
  int broadcaster_until_viewers = 4;
};

// Spare upload after serving the current children (may be negative).
int64_t spare_kbps(const NeighbourCandidate& c, int64_t bitrate_kbps);

// Picks up to policy.max_neighbours peer ids for `requester`, never the requester itself nor
// anything in `exclude`. Order: the broadcaster first while the audience is tiny (and it has
// spare upload; a saturated one goes after viewers with spare), then viewers
// that can take another child, those already playing first (in a crowd of joiners only they
// have data to give), then fewest children, then most spare upload, then viewers without
// spare upload (still useful for pull repair). Ties are broken by a hash of (requester,
// candidate) so that equal peers are spread across different requesters, deterministically.
std::vector<std::string> choose_neighbours(std::string_view requester,
                                           const std::vector<NeighbourCandidate>& candidates,
                                           const std::set<std::string, std::less<>>& exclude,
                                           const NeighbourPolicy& policy);

}  // namespace meshcast::signaling
