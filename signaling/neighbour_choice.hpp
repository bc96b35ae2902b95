// Neighbour suggestion for a joining (or repairing) viewer: a pure function of its inputs so
// the load-spreading policy is unit-tested with fixed tables.
//
// What a peer declares (upload, played segments, children) is only believed as far as other
// peers confirmed it: upload is clamped to one stream copy until reports of other peers show
// bytes received from it, every list holds a peer the tracker has reason to trust, and one
// address group (an IPv4 /24, an IPv6 /48) fills at most a few places of a list.
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
  int64_t upload_kbps = 0;     // declared in hello (0 = not stated: a viewer's default budget)
  int children = 0;            // reported children + suggestions handed out since the last report
  int64_t confirmed_kbps = 0;  // what other peers reported receiving from it (see TrackerCore)
  bool trusted = false;        // the owner, or long-lived with upload confirmed by others
  std::string_view group{};    // address group (empty: none, e.g. an exempt loopback peer)
};

struct NeighbourPolicy {
  int max_neighbours = 8;       // clamp 1..16
  int64_t bitrate_kbps = 1000;  // the stream's bitrate: one child costs this much upload
  // The broadcaster is offered only while fewer than this many trusted viewers can take a
  // child, so it serves a handful of copies however large the audience grows.
  int broadcaster_until_viewers = 4;
  int max_per_group = 2;  // peers of one address group in one list (0 = no limit)
};

// Upload the tracker believes: the declaration (or 4 stream copies when none was stated),
// clamped to one stream copy until others confirmed receiving from the peer, and to twice
// the confirmed rate (at least one copy) after. The broadcaster's declaration stands.
int64_t believed_upload_kbps(const NeighbourCandidate& c, int64_t bitrate_kbps);

// Spare believed upload after serving the current children (may be negative).
int64_t spare_kbps(const NeighbourCandidate& c, int64_t bitrate_kbps);

// Picks up to policy.max_neighbours peer ids for `requester`, never the requester itself nor
// anything in `exclude`. Order: the broadcaster first while few trusted viewers have spare
// upload (a saturated one goes after viewers with spare); then viewers with confirmed upload
// and spare (fewest children, most spare); then unconfirmed viewers with spare (fewest
// children); then viewers without spare (still useful for pull repair). A peer's claim to
// play counts for nothing: its partners' reports of bytes received from it do. Ties are broken by a
// hash of (requester, candidate) so that equal peers are spread across different requesters,
// deterministically. At most max_per_group peers of one address group are picked, and the list
// always holds a trusted peer when one is available (the broadcaster, even saturated, when no
// trusted viewer is).
std::vector<std::string> choose_neighbours(std::string_view requester,
                                           const std::vector<NeighbourCandidate>& candidates,
                                           const std::set<std::string, std::less<>>& exclude,
                                           const NeighbourPolicy& policy);
// The same choice as positions in `candidates` (the caller maps them back to its peers
// without looking the ids up again).
std::vector<std::size_t> choose_neighbour_indices(std::string_view requester,
                                                  const std::vector<NeighbourCandidate>& candidates,
                                                  const std::set<std::string, std::less<>>& exclude,
                                                  const NeighbourPolicy& policy);

// The address group of an IP address for the per-group limit: "a.b.c" for IPv4 (/24), the
// first three groups for IPv6 (/48), IPv4-mapped IPv6 as IPv4. Loopback addresses form one
// group only when `group_loopback`; otherwise, like unparsable or empty input, no group.
std::string address_group(std::string_view ip, bool group_loopback);

}  // namespace meshcast::signaling
