// Command-line options every networked command shares: which local addresses ICE may
// use, optional STUN / TURN servers (never a public default).
#pragma once
#include <string>

#include "apps/cli/args.hpp"
#include "mesh/link/link_types.hpp"

namespace meshcast::app {

inline const char* kLinkOptionsHelp =
    "  --local-address LIST   addresses ICE gathers on, comma-separated, or 'all'\n"
    "                         (default 127.0.0.1: loopback only)\n"
    "  --stun HOST:PORT       STUN server (numeric IP; none by default)\n"
    "  --turn USER:PASS@HOST:PORT  TURN relay over UDP (none by default)\n";

inline const std::set<std::string> kLinkOptionNames = {"local-address", "stun", "turn"};

// Fills `cfg`; false with a message on a malformed value.
bool parse_link_options(const Args& args, link::LinkConfig* cfg, std::string* error);

}  // namespace meshcast::app
