// The tracker URL as users type it: `ws://host:8700`, `127.0.0.1:8700`, `http://host:8700`
// all mean the tracker's WebSocket at /ws. Anything else gets a clear error.
#pragma once
#include <string>

#include "mesh/base/expected.hpp"

namespace meshcast::app {

// ws[s]://HOST[:PORT][/PATH]: an empty path becomes /ws; http -> ws, https -> wss; no
// scheme means ws. An error ("bad tracker URL ...") for other schemes, a missing host, spaces
// or control characters.
Expected<std::string, std::string> normalise_tracker_url(const std::string& url);

class Args;
// --tracker (default ws://127.0.0.1:8700/ws), normalised; the error of the first malformed
// entry (a usage error).
Expected<std::string, std::string> parse_tracker_option(const Args& a);

}  // namespace meshcast::app
