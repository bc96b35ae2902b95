// Command-line options every networked command shares: which local addresses ICE may
// use, optional STUN / TURN servers (never a public default).
#pragma once
#include <string>

#include "apps/cli/args.hpp"
#include "mesh/base/expected.hpp"
#include "mesh/link/link_types.hpp"

namespace meshcast::app {

inline const char* kLinkOptionsHelp =
    "  --local-address LIST   addresses ICE gathers on, comma-separated, or 'all'\n"
    "                         (default 127.0.0.1: loopback only)\n"
    "  --stun URI             STUN server: stun:HOST[:PORT] or HOST:PORT (none by default;\n"
    "                         repeatable, libnice asks the first)\n"
    "  --turn URI             TURN relay (none by default; repeatable, up to 8):\n"
    "                           turn:USER:PASS@HOST[:PORT]                 over UDP (3478)\n"
    "                           turn:USER:PASS@HOST[:PORT]?transport=tcp   over TCP (3478)\n"
    "                           turns:USER:PASS@HOST[:PORT]                over TLS (5349)\n"
    "                           USER:PASS@HOST:PORT                        over UDP\n"
    "                         HOST may be a name (resolved once at start) or an IP\n"
    "                         ([v6]:PORT)\n"
    "  --turn-ca FILE         PEM CAs trusted for turns: servers (default: the system's);\n"
    "                         the certificate must name HOST as written in the URI\n";

inline const std::set<std::string> kLinkOptionNames = {"local-address", "stun", "turn", "turn-ca"};

// Resolves `host` (a name or an IP) to one numeric address, or a message.
Expected<std::string, std::string> resolve_host_once(const std::string& host);

// Fills `cfg` (names resolved here, once); a message on a malformed value.
Expected<void, std::string> parse_link_options(const Args& args, link::LinkConfig* cfg);
// The network options of a command that talks to a tracker: the link options into `cfg`,
// then --tracker URL, returned; the first malformed value's message.
Expected<std::string, std::string> parse_tracker_and_link_options(const Args& args,
                                                                  link::LinkConfig* cfg);

}  // namespace meshcast::app
