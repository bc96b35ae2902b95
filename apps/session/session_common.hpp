// Pieces shared by the broadcaster and viewer sessions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/cli/stats.hpp"  // percentile
#include "mesh/core/ed25519.hpp"
#include "mesh/link/link_types.hpp"
#include "signaling/tracker_client.hpp"

namespace meshcast::app {

// Stream id carried in every signed segment: the first 8 bytes of SHA-256(name), so a
// segment of one stream is never valid in another.
uint64_t stream_id_for(const std::string& name);

std::string to_hex(const uint8_t* data, size_t n);
// Strict: even length, [0-9a-fA-F] only, exactly `expect` bytes.
bool from_hex(const std::string& hex, size_t expect, std::vector<uint8_t>* out);

// The link settings to use: TURN servers given on the command line win; without any, those
// the tracker handed out (time-limited credentials) are used.
link::LinkConfig with_tracker_turn(link::LinkConfig cfg, const signaling::TrackerClient& client);

}  // namespace meshcast::app
