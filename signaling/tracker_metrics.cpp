#include "signaling/tracker_metrics.hpp"

#include <sstream>

namespace meshcast::signaling {

uint64_t TrackerMetrics::messages(const std::string& type) const {
  auto it = messages_.find(type);
  return it == messages_.end() ? 0 : it->second;
}

uint64_t TrackerMetrics::errors(const std::string& code) const {
  auto it = errors_.find(code);
  return it == errors_.end() ? 0 : it->second;
}

uint64_t TrackerMetrics::closes(const std::string& reason) const {
  auto it = closes_.find(reason);
  return it == closes_.end() ? 0 : it->second;
}

std::string TrackerMetrics::render(std::size_t peers_connected, std::size_t peers_detached,
                                   std::size_t connections, std::size_t streams,
                                   std::size_t calls) const {
  // Label values are message types / error codes from fixed lists, never peer input.
  std::ostringstream o;
  o << "# HELP meshcast_peers_connected Peers registered with hello.\n"
       "# TYPE meshcast_peers_connected gauge\n"
    << "meshcast_peers_connected " << peers_connected << "\n"
    << "# HELP meshcast_peers_detached Peers whose connection dropped, resumable for the grace "
       "period.\n"
       "# TYPE meshcast_peers_detached gauge\n"
    << "meshcast_peers_detached " << peers_detached << "\n"
    << "# HELP meshcast_connections Open WebSocket connections.\n"
       "# TYPE meshcast_connections gauge\n"
    << "meshcast_connections " << connections << "\n"
    << "# HELP meshcast_streams Live streams.\n# TYPE meshcast_streams gauge\n"
    << "meshcast_streams " << streams << "\n"
    << "# HELP meshcast_calls Calls ringing or in progress.\n# TYPE meshcast_calls gauge\n"
    << "meshcast_calls " << calls << "\n"
    << "# HELP meshcast_messages_total Valid messages received, by type.\n"
       "# TYPE meshcast_messages_total counter\n";
  for (auto& [t, n] : messages_) o << "meshcast_messages_total{type=\"" << t << "\"} " << n << "\n";
  o << "# HELP meshcast_errors_total Error replies, by code.\n"
       "# TYPE meshcast_errors_total counter\n";
  for (auto& [c, n] : errors_) o << "meshcast_errors_total{code=\"" << c << "\"} " << n << "\n";
  o << "# HELP meshcast_connections_closed_total Connections closed or refused by a server "
       "bound, by reason.\n"
       "# TYPE meshcast_connections_closed_total counter\n";
  for (auto& [r, n] : closes_)
    o << "meshcast_connections_closed_total{reason=\"" << r << "\"} " << n << "\n";
  return o.str();
}

}  // namespace meshcast::signaling
