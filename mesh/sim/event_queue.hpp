// Calendar queue for the simulator: 1 ms buckets in a ring (plus a heap for events beyond
// the ring), and a small binary heap for the current bucket. Pops in exact (time, seq)
// order, so runs are deterministic; much more cache-friendly than one big heap.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "mesh/core/types.hpp"

namespace meshcast::mesh::sim {

struct Event {
  TimeUs t;
  uint64_t seq;
  uint32_t a;
  uint32_t b;
  uint32_t msg;
  uint8_t type;
};

class EventQueue {
 public:
  static constexpr TimeUs kBucketUs = 1000;
  static constexpr size_t kBuckets = 2048;  // ~2 s of ring (memory: buckets keep capacity)

  EventQueue() : ring_(kBuckets) {}

  void push(const Event& e) {
    ++size_;
    const TimeUs b = e.t / kBucketUs;
    if (b <= cur_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), Later{});
    } else if (b - cur_ < TimeUs(kBuckets)) {
      ring_[size_t(b) % kBuckets].push_back(e);
    } else {
      far_.push_back(e);
      std::push_heap(far_.begin(), far_.end(), Later{});
    }
  }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Earliest event; call only when !empty().
  const Event& top() {
    while (heap_.empty()) advance();
    return heap_.front();
  }
  // The i-th element of the current bucket's heap (0 = top; 1, 2 = the likely next ones),
  // or nullptr: for prefetching only.
  const Event* peek(size_t i) const { return i < heap_.size() ? &heap_[i] : nullptr; }
  void pop() {
    top();
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
    --size_;
  }

 private:
  struct Later {
    bool operator()(const Event& x, const Event& y) const {
      return x.t != y.t ? x.t > y.t : x.seq > y.seq;
    }
  };
  void advance() {
    ++cur_;
    auto& bucket = ring_[size_t(cur_) % kBuckets];
    heap_.swap(bucket);  // heap_ was empty: take the bucket's storage, no copy
    bucket.clear();
    while (!far_.empty() && far_.front().t / kBucketUs <= cur_) {
      heap_.push_back(far_.front());
      std::pop_heap(far_.begin(), far_.end(), Later{});
      far_.pop_back();
    }
    std::make_heap(heap_.begin(), heap_.end(), Later{});
  }

  std::vector<std::vector<Event>> ring_;
  std::vector<Event> heap_;
  std::vector<Event> far_;
  TimeUs cur_ = 0;  // current bucket index
  size_t size_ = 0;
};

}  // namespace meshcast::mesh::sim
