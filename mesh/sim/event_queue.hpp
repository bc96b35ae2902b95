// Calendar queue for the simulator: 1 ms buckets in a ring (plus a heap for events beyond
// the ring). A bucket is sorted once when it becomes current and then read in order; events
// pushed into the current bucket after that go to a small heap merged on the fly. Pops in
// exact (time, seq) order, so runs are deterministic. Reading a sorted bucket also tells the
// simulator the next events exactly, so it can fetch their (cold) peers and nodes ahead.
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
      late_.push_back(e);
      std::push_heap(late_.begin(), late_.end(), Later{});
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
    while (pos_ == sorted_.size() && late_.empty()) advance();
    return from_late() ? late_.front() : sorted_[pos_];
  }
  void pop() {
    top();  // loads the next bucket if the current one is spent
    if (from_late()) {
      std::pop_heap(late_.begin(), late_.end(), Later{});
      late_.pop_back();
    } else {
      ++pos_;
    }
    --size_;
  }
  // An event likely to come i pops after the top (exact unless events are pushed into the
  // current bucket meanwhile), or nullptr: for prefetching only.
  const Event* peek(size_t i) const {
    return pos_ + i < sorted_.size() ? &sorted_[pos_ + i] : nullptr;
  }

 private:
  struct Later {
    bool operator()(const Event& x, const Event& y) const {
      return x.t != y.t ? x.t > y.t : x.seq > y.seq;
    }
  };
  bool from_late() const {
    return !late_.empty() && (pos_ == sorted_.size() || Later{}(sorted_[pos_], late_.front()));
  }
  void advance() {
    ++cur_;
    auto& bucket = ring_[size_t(cur_) % kBuckets];
    sorted_.clear();
    sorted_.swap(bucket);  // hand the spent storage back to the ring: no allocation
    pos_ = 0;
    while (!far_.empty() && far_.front().t / kBucketUs <= cur_) {
      sorted_.push_back(far_.front());
      std::pop_heap(far_.begin(), far_.end(), Later{});
      far_.pop_back();
    }
    std::sort(sorted_.begin(), sorted_.end(),
              [](const Event& x, const Event& y) { return Later{}(y, x); });
  }

  std::vector<std::vector<Event>> ring_;
  std::vector<Event> sorted_;  // the current bucket, ascending; sorted_[pos_] is next
  size_t pos_ = 0;
  std::vector<Event> late_;  // heap: pushed into the current bucket after it was sorted
  std::vector<Event> far_;
  TimeUs cur_ = 0;  // current bucket index
  size_t size_ = 0;
};

}  // namespace meshcast::mesh::sim
