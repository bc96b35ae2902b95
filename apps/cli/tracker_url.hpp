// The tracker URL as users type it: `ws://host:8700`, `127.0.0.1:8700`, `http://host:8700`
// all mean the tracker's WebSocket at /ws. Anything else gets a clear error.
#pragma once
#include <optional>
#include <string>

namespace meshcast::app {

// ws[s]://HOST[:PORT][/PATH]: an empty path becomes /ws; http -> ws, https -> wss; no
// scheme means ws. nullopt (and *error) for other schemes, a missing host, spaces or
// control characters.
std::optional<std::string> normalise_tracker_url(const std::string& url, std::string* error);

class Args;
// --tracker (default ws://127.0.0.1:8700/ws), normalised into *url; a malformed one sets
// *error (a usage error), unless *error is already set.
void parse_tracker_option(const Args& a, std::string* url, std::string* error);

}  // namespace meshcast::app
