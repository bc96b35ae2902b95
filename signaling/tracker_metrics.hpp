// Counters exported on GET /metrics in the Prometheus text format.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace meshcast::signaling {

class TrackerMetrics {
 public:
  void count_message(const std::string& type) { ++messages_[type]; }
  void count_error(const std::string& code) { ++errors_[code]; }
  // A connection the server closed or refused for a bound (reason from a fixed list).
  void count_close(const std::string& reason) { ++closes_[reason]; }
  uint64_t closes(const std::string& reason) const;
  uint64_t messages(const std::string& type) const;
  uint64_t errors(const std::string& code) const;

  // Renders counters plus the current gauges.
  std::string render(std::size_t peers_connected, std::size_t peers_detached,
                     std::size_t connections, std::size_t streams, std::size_t calls) const;

 private:
  std::map<std::string, uint64_t> messages_;
  std::map<std::string, uint64_t> errors_;
  std::map<std::string, uint64_t> closes_;
};

}  // namespace meshcast::signaling
