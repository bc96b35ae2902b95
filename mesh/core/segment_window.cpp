#include "mesh/core/segment_window.hpp"

#include <algorithm>

namespace meshcast::mesh {

SegmentWindow::SegmentWindow(uint32_t window, uint32_t substreams, bool origin)
    : slots_(window), segs_(window), size_(window), mask_(window - 1), origin_(origin) {
  kk_.k = substreams;
}

SegmentWindow::Slot* SegmentWindow::slot_for(uint32_t n) {
  if (n < lo_ || n - lo_ >= size_) return nullptr;
  return &slots_[n & mask_];
}
const SegmentWindow::Slot* SegmentWindow::slot_for(uint32_t n) const {
  if (n < lo_ || n - lo_ >= size_) return nullptr;
  return &slots_[n & mask_];
}

SegmentWindow::Slot& SegmentWindow::claim(uint32_t n) {
  Slot& s = slots_[n & mask_];
  if (s.number != n) {
    s.number = n;
    s.state = kEmpty;
    set_have(n & mask_, false);
    seg_of(s).payload.reset();
  }
  return s;
}

bool SegmentWindow::complete(uint32_t first) const {
  for (uint32_t j = 0; j < kk_.k; ++j)
    if (!has(first + j)) return false;
  return true;
}

bool SegmentWindow::too_old(uint32_t n, bool playing, uint32_t next_play) const {
  if (!have_any_) return false;
  if (playing) return n < lo_ || n < next_play;
  const uint32_t first = n - n % kk_;
  return first < lo_ && highest_ - first >= size_;
}

TimeUs SegmentWindow::created_est(uint32_t n, TimeUs segment_us) const {
  const uint32_t k = kk_.k;
  return ref_created_ + (TimeUs(n / k) - TimeUs(ref_num_ / k)) * segment_us;
}

void SegmentWindow::fill_map(BufferMap& bm) const {
  if (!have_any_) return;
  const uint32_t span = std::min<uint32_t>(size_, kMaxBufferMapBits);
  bm.base = std::max(lo_, highest_ + 1 >= span ? highest_ + 1 - span : 0);
  bm.count = uint16_t(highest_ - bm.base + 1);
  for (uint32_t n = bm.base; n <= highest_; ++n)
    if (has(n)) bm.set(n);
}

void SegmentWindow::place(uint32_t n) {
  if (!have_any_) {
    lo_ = n - n % kk_;  // its segment's other stripes are still welcome
    highest_ = n;
    have_any_ = true;
  } else if (n < lo_) {
    lo_ = n - n % kk_;  // not playing yet: an older segment may start playout
  }
}

void SegmentWindow::note_stored(const Slot& s, uint32_t n) {
  Segment& seg = seg_of(s);
  if (seg.header.hops < 255) ++seg.header.hops;
  if (origin_) seg.header.hops = 0;
  highest_ = std::max(highest_, n);
  if (n >= ref_num_ || ref_created_ == 0) {
    ref_num_ = n;
    ref_created_ = seg.header.created_us;
  }
  const uint32_t j = n % kk_;
  if (!newest_valid_[j] || n > newest_sub_[j]) {
    newest_sub_[j] = n;
    newest_valid_[j] = true;
  }
}

}  // namespace meshcast::mesh
