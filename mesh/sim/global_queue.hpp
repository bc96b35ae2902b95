// Global events (joins, departures, tracker answers, progress) in (time, order of posting)
// order. They run alone between windows, so a plain heap suffices.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "mesh/sim/event_queue.hpp"

namespace meshcast::mesh::sim {

class GlobalQueue {
 public:
  void push(Event e) {
    e.seq = seq_++;
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  const Event& top() const { return heap_.front(); }
  Event pop() {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    const Event e = heap_.back();
    heap_.pop_back();
    return e;
  }

 private:
  struct Later {
    bool operator()(const Event& x, const Event& y) const {
      return x.t != y.t ? x.t > y.t : x.seq > y.seq;
    }
  };
  std::vector<Event> heap_;
  uint64_t seq_ = 0;
};

}  // namespace meshcast::mesh::sim
