// Which connections have been silent long enough to be pinged or closed, without walking all
// of them: each connection has one entry in a min-heap, due when its silence would next
// matter. Hearing from a connection only records the time (O(1)); its entry is re-armed when
// it comes up, so the work is O(log N) per connection per ping interval, never O(N) per tick.
// Pings follow each connection's own silence, so they are spread over the interval instead
// of leaving in one burst.
#pragma once
#include <cstdint>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

namespace meshcast::signaling {

class SilenceWatch {
 public:
  // 0 turns either off.
  SilenceWatch(int64_t ping_after_ms, int64_t close_after_ms);

  void add(uint64_t id, int64_t now_ms);
  void heard(uint64_t id, int64_t now_ms);
  void remove(uint64_t id);

  struct Due {
    std::vector<uint64_t> ping;   // silent for the ping interval since the last word or ping
    std::vector<uint64_t> close;  // silent for the close timeout; no longer watched
  };
  void collect(int64_t now_ms, Due& out);

  std::size_t size() const { return conns_.size(); }
  std::size_t queued() const { return heap_.size(); }  // live entries plus removed ones

 private:
  struct Conn {
    int64_t last_heard;
    int64_t last_ping;
  };
  int64_t next_check(const Conn& c) const;

  int64_t ping_after_, close_after_;
  std::unordered_map<uint64_t, Conn> conns_;
  using Entry = std::pair<int64_t, uint64_t>;  // (due, id)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

}  // namespace meshcast::signaling
