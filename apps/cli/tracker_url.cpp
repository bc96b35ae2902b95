#include "apps/cli/tracker_url.hpp"

#include "apps/cli/args.hpp"

namespace meshcast::app {

Expected<std::string, std::string> normalise_tracker_url(const std::string& in) {
  auto fail = [&](const std::string& why) -> Expected<std::string, std::string> {
    return unexpected("bad tracker URL '" + in + "': " + why + " (e.g. ws://127.0.0.1:8700/ws)");
  };
  if (in.empty()) return fail("empty");
  if (in.size() > 2048) return fail("too long");
  for (unsigned char c : in)
    if (c <= 0x20 || c == 0x7f) return fail("spaces or control characters");
  std::string scheme = "ws", rest = in;
  if (auto p = in.find("://"); p != std::string::npos) {
    scheme = in.substr(0, p);
    rest = in.substr(p + 3);
    for (auto& c : scheme) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == "http") scheme = "ws";
    if (scheme == "https") scheme = "wss";
    if (scheme != "ws" && scheme != "wss") return fail("the scheme must be ws or wss");
  }
  const auto slash = rest.find('/');
  std::string host = rest.substr(0, slash),
              path = slash == std::string::npos ? "" : rest.substr(slash);
  if (host.empty() || host[0] == ':') return fail("no host");
  if (host.front() == '[' && host.find(']') == std::string::npos) return fail("unclosed [");
  if (path.empty() || path == "/") path = "/ws";
  return scheme + "://" + host + path;
}

Expected<std::string, std::string> parse_tracker_option(const Args& a) {
  // Several URLs, comma-separated: instances of one tracker cluster (TrackerClient::connect).
  const std::string list = a.get("tracker", "ws://127.0.0.1:8700/ws");
  std::string joined;
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    auto u = normalise_tracker_url(list.substr(at, comma - at));
    if (!u) return u;
    joined += (joined.empty() ? "" : ",") + *u;
    at = comma + 1;
  }
  return joined;
}

}  // namespace meshcast::app
