// --identity FILE / --known-peers FILE for the commands that talk to a tracker.
#pragma once
#include <memory>
#include <string>

#include "apps/cli/args.hpp"
#include "apps/cli/status.hpp"
#include "mesh/base/expected.hpp"
#include "signaling/identity_key.hpp"
#include "signaling/known_peers.hpp"

namespace meshcast::app {

inline constexpr const char* kIdentityOptionsHelp =
    "  --identity FILE        my identity key (Ed25519, PEM; default\n"
    "                         $XDG_CONFIG_HOME/meshcast/identity.key, else\n"
    "                         ~/.config/meshcast/identity.key; created 0600 on first use;\n"
    "                         refused if group or others can read it). The tracker binds my\n"
    "                         --id to it: nobody else can take that id. `meshcast id` prints\n"
    "                         its fingerprint.\n";

// Loads (or creates) the key named by --identity or the default path; the reason when it
// cannot be used. `command` prefixes the "new key" notice, printed unless `quiet`.
Expected<std::shared_ptr<const signaling::IdentityKey>, std::string> load_identity_option(
    const Args& a, const char* command, bool quiet);
// --known-peers FILE, or the default next to the key.
Expected<std::shared_ptr<signaling::KnownPeers>, std::string> load_known_peers_option(
    const Args& a);

// What broadcast, watch and call do first, in this order: --stats FILE opened into `stats`
// (when given), then the identity key loaded (quiet with --quiet); the reason on failure.
Expected<std::shared_ptr<const signaling::IdentityKey>, std::string> open_stats_and_identity(
    const Args& a, const char* command, StatsWriter& stats);

}  // namespace meshcast::app
