#include "media/broadcast/segmenter.hpp"

#include <algorithm>
#include <utility>

namespace meshcast::media {

Segmenter::Segmenter(const StreamHeader& header, SegmenterConfig config)
    : header_(header), config_(config) {
  config_.max_us = std::max<int64_t>(config_.max_us, 1);
  config_.target_us = std::clamp<int64_t>(config_.target_us, 1, config_.max_us);
  config_.min_us = std::clamp<int64_t>(config_.min_us, 0, config_.target_us);
  pending_.header = header_;
}

bool Segmenter::should_cut_before(const MediaFrame& f) const {
  if (pending_.frames.empty()) return false;
  const int64_t span = f.pts_us - batch_start_us_;
  if (span >= config_.max_us) return true;
  if (f.is_video_keyframe() && span >= config_.min_us) return true;
  if (f.pts_us - nominal_start_us_ < config_.target_us) return false;
  // Past the target. If the key-frame cadence says one is due so soon that it would land
  // inside the next batch before min_us (and so not open a batch of its own), stretch this
  // batch to end at it, as long as that stays within max_us.
  if (header_.has_video() && keyframe_interval_us_ > 0 && last_keyframe_us_ >= 0) {
    const int64_t next_kf = last_keyframe_us_ + keyframe_interval_us_;
    if (next_kf > f.pts_us && next_kf - f.pts_us < config_.min_us &&
        next_kf - batch_start_us_ <= config_.max_us)
      return false;
  }
  return true;
}

std::optional<FrameBatch> Segmenter::push(MediaFrame frame) {
  std::optional<FrameBatch> out;
  if (should_cut_before(frame)) {
    // Target cuts stay on a fixed media-time grid (no drift from frame spacing); key-frame
    // and max cuts re-anchor the grid at the new batch.
    const int64_t grid = nominal_start_us_ + config_.target_us;
    const bool on_grid = !frame.is_video_keyframe() && frame.pts_us >= grid &&
                         frame.pts_us - grid < config_.target_us;
    out = take();
    nominal_start_us_ = on_grid ? grid : frame.pts_us;
  } else if (pending_.frames.empty()) {
    nominal_start_us_ = frame.pts_us;
  }
  if (frame.is_video_keyframe()) {
    if (last_keyframe_us_ >= 0 && frame.pts_us > last_keyframe_us_)
      keyframe_interval_us_ = frame.pts_us - last_keyframe_us_;
    last_keyframe_us_ = frame.pts_us;
  }
  if (pending_.frames.empty()) batch_start_us_ = frame.pts_us;
  pending_.frames.push_back(std::move(frame));
  return out;
}

std::optional<FrameBatch> Segmenter::flush() {
  if (pending_.frames.empty()) return std::nullopt;
  return take();
}

FrameBatch Segmenter::take() {
  FrameBatch b = std::move(pending_);
  pending_ = FrameBatch{};
  pending_.header = header_;
  if (!header_.has_video()) {
    b.keyframe_start = true;
  } else {
    auto it = std::find_if(b.frames.begin(), b.frames.end(),
                           [](const MediaFrame& f) { return f.kind == MediaFrame::Kind::Video; });
    b.keyframe_start = it != b.frames.end() && it->keyframe;
  }
  ++batches_;
  return b;
}

}  // namespace meshcast::media
