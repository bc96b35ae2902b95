// What a node knows about one partner (a peer it has a link to).
#pragma once
#include <cstdint>

#include "mesh/core/messages.hpp"
#include "mesh/core/types.hpp"

namespace meshcast::mesh {

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

}  // namespace meshcast::mesh
