#include "apps/session/tracker_signaling.hpp"

#include <glib.h>

#include "mesh/base/time.hpp"

namespace meshcast::app {

std::vector<std::string> neighbour_ids(const nlohmann::json& reply) {
  std::vector<std::string> ids;
  auto it = reply.find("neighbours");
  if (it == reply.end() || !it->is_array()) return ids;
  for (auto& n : *it)
    if (n.is_object() && n.contains("peer_id") && n["peer_id"].is_string())
      ids.push_back(n["peer_id"].get<std::string>());
  return ids;
}

void TrackerSignaling::attach_events() {
  client_.on("relay", [this](const nlohmann::json& m) {
    if (!peer_) return;
    peer_->on_relay(m.value("from", ""), m.value("kind", ""),
                    m.contains("payload") ? m["payload"] : nlohmann::json());
  });
  client_.on("peer_left", [this](const nlohmann::json& m) {
    if (peer_) peer_->on_peer_left(m.value("peer_id", ""));
  });
}

void TrackerSignaling::request_neighbours(const std::vector<std::string>& exclude) {
  // The core may ask on every tick while starved; one request per second is plenty.
  int64_t now = meshcast::monotonic_us();
  if (now - last_request_us_ < 1'000'000) return;
  last_request_us_ = now;
  client_.neighbours(stream_, exclude, [this](const signaling::Reply& r) {
    if (r.ok && peer_) peer_->add_neighbours(neighbour_ids(r.body));
  });
}

void TrackerSignaling::report_forger(const std::string& peer) {
  // The report message carries numbers only; the periodic report sends the count and
  // the log names the peer.
  ++forgers_reported_;
  g_message("meshcast: partner %s sent a forged segment; dropped", peer.c_str());
}

}  // namespace meshcast::app
