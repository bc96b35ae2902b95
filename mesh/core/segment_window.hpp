// The units (stripes) a node holds or has asked for: a ring of `window` slots (a power of
// two) over unit numbers [lo, lo + window). Storing a unit beyond the top evicts the oldest;
// numbers below lo or beyond the ring have no slot. Also keeps the reference that estimates
// creation times of missing units and the newest unit held per sub-stream.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "mesh/core/messages.hpp"
#include "mesh/core/types.hpp"

namespace meshcast::mesh {

class SegmentWindow {
 public:
  enum SlotState : uint8_t { kEmpty = 0, kHave = 1 };
  struct Slot {
    uint32_t number = 0;
    uint8_t state = kEmpty;
    PeerId req_from = kNoPeer;  // a pull for `number` is in flight to it
    TimeUs req_deadline = 0;
    TimeUs arrived = 0;
  };

  // `window` a power of two <= kMaxWindow, `substreams` in 1..kMaxSubstreams. An `origin`
  // (the source) stores its own segments at hop 0.
  SegmentWindow(uint32_t window, uint32_t substreams, bool origin);

  uint32_t size() const { return size_; }
  // The slot of n, or nullptr if n is outside the window.
  Slot* slot_for(uint32_t n);
  const Slot* slot_for(uint32_t n) const;
  // The ring slot n maps to, wherever the window is (it may hold another number).
  Slot& ring(uint32_t n) { return slots_[n & mask_]; }
  const Slot& ring(uint32_t n) const { return slots_[n & mask_]; }
  // The ring slot of n, emptied first if it held another number (a pull is about to go out).
  Slot& claim(uint32_t n);
  // The segment held in a slot: kept apart so that window scans touch only the small slots.
  Segment& seg_of(const Slot& s) { return segs_[size_t(&s - slots_.data())]; }
  const Segment& seg_of(const Slot& s) const { return segs_[size_t(&s - slots_.data())]; }

  bool has(uint32_t n) const {
    if (n < lo_ || n - lo_ >= size_) return false;
    const uint32_t i = n & mask_;
    return (have_bits_[i >> 6] >> (i & 63)) & 1u;
  }
  // All K stripes of the segment whose first unit is `first` are held.
  bool complete(uint32_t first) const;
  // Below the window or the playout point; before playout, any unit whose segment still
  // fits in the window below the newest is welcome.
  bool too_old(uint32_t n, bool playing, uint32_t next_play) const;
  uint32_t substream(uint32_t n) const { return n % kk_; }
  // Estimated creation time of n (the K stripes of a segment share it).
  TimeUs created_est(uint32_t n, TimeUs segment_us) const;
  // Holds (or held) a verified unit; lo() and highest() are valid only then.
  bool any() const { return have_any_; }
  uint32_t lo() const { return lo_; }
  uint32_t highest() const { return highest_; }
  // A unit of sub-stream j newer than n is held.
  bool newer_held(uint32_t j, uint32_t n) const { return newest_valid_[j] && newest_sub_[j] > n; }
  // Sets base, count and bits of `bm` to the newest units held (at most kMaxBufferMapBits).
  void fill_map(BufferMap& bm) const;

  // Stores a verified unit, evicting the oldest if it lies beyond the top. Every pull in
  // flight that the store ends (evicted, or answered by this unit) is passed to
  // `ended(PeerId)`. Returns the unit's slot.
  template <class Ended>
  const Slot& store(Segment&& seg, TimeUs now, Ended&& ended);

  void prefetch() const {
    __builtin_prefetch(&lo_);
    __builtin_prefetch(&have_bits_);
  }
  // The state a delivery of unit n touches.
  void prefetch(uint32_t n) const {
    __builtin_prefetch(slots_.data() + (n & mask_));
    __builtin_prefetch(segs_.data() + (n & mask_));
  }

 private:
  void set_have(uint32_t slot_index, bool have) {
    if (have)
      have_bits_[slot_index >> 6] |= uint64_t(1) << (slot_index & 63);
    else
      have_bits_[slot_index >> 6] &= ~(uint64_t(1) << (slot_index & 63));
  }
  void place(uint32_t n);  // first store: the window starts at n's segment
  void note_stored(const Slot& s, uint32_t n);

  // K as a divisor the compiler can see is small (n % K runs per message).
  struct SmallDivisor {
    uint32_t k = 1;
    friend uint32_t operator%(uint32_t n, SmallDivisor d) {
      return (d.k & (d.k - 1)) == 0 ? n & (d.k - 1) : n % d.k;
    }
  };

  std::vector<Slot> slots_;
  std::vector<Segment> segs_;  // parallel to slots_
  uint32_t size_;
  uint32_t mask_;  // size_ - 1
  SmallDivisor kk_;
  bool origin_;
  // Bit i <=> slots_[i] holds a unit (kHave): has() without touching slots.
  std::array<uint64_t, kMaxWindow / 64> have_bits_{};
  bool have_any_ = false;
  uint32_t lo_ = 0;       // lowest number the window may hold
  uint32_t highest_ = 0;  // highest number held (valid if have_any_)
  uint32_t ref_num_ = 0;  // reference for estimating creation times of missing units
  TimeUs ref_created_ = 0;
  std::array<uint32_t, kMaxSubstreams> newest_sub_{};
  std::array<bool, kMaxSubstreams> newest_valid_{};
};

template <class Ended>
const SegmentWindow::Slot& SegmentWindow::store(Segment&& seg, TimeUs now, Ended&& ended) {
  const uint32_t n = seg.header.number;
  place(n);
  if (n - lo_ >= size_) {
    const uint32_t new_lo = n - size_ + 1;
    for (uint32_t k = lo_; k < new_lo && k - lo_ < size_; ++k) {
      Slot& s = slots_[k & mask_];
      if (s.req_from != kNoPeer) {
        ended(s.req_from);
        s.req_from = kNoPeer;
      }
      s.state = kEmpty;
      set_have(k & mask_, false);
      seg_of(s).payload.reset();
    }
    lo_ = new_lo;
  }
  Slot& s = slots_[n & mask_];
  if (s.number != n) {
    s.req_from = kNoPeer;
    s.number = n;
  }
  if (s.req_from != kNoPeer) {
    ended(s.req_from);
    s.req_from = kNoPeer;
  }
  s.state = kHave;
  set_have(n & mask_, true);
  s.arrived = now;
  seg_of(s) = std::move(seg);
  note_stored(s, n);
  return s;
}

}  // namespace meshcast::mesh
