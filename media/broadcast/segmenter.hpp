#pragma once
// Groups a broadcast's frames into batches (one segment payload each).
// A batch is emitted every target_us of media time; a video key frame arriving once the
// batch spans min_us cuts early so that the key frame opens the next batch (joining viewers
// start there), and when the key-frame cadence says one is due less than min_us after the
// target the batch is stretched to wait for it (else it would sit mid-batch). No batch ever spans
// more than max_us.

#include <cstdint>
#include <optional>

#include "media/broadcast/media_frame.hpp"

namespace meshcast::media {

struct SegmenterConfig {
  int64_t target_us = 250'000;
  int64_t min_us = 100'000;
  int64_t max_us = 500'000;
};

class Segmenter {
 public:
  Segmenter(const StreamHeader& header, SegmenterConfig config = {});

  // Adds a frame (frames must come in encoder output order). Returns the batch that this
  // frame closed, if any; the frame itself then opens the next batch.
  std::optional<FrameBatch> push(MediaFrame frame);
  // Emits whatever is pending (end of stream).
  std::optional<FrameBatch> flush();

  const StreamHeader& header() const { return header_; }
  size_t pending_frames() const { return pending_.frames.size(); }
  uint64_t batches_emitted() const { return batches_; }

 private:
  bool should_cut_before(const MediaFrame& f) const;
  FrameBatch take();

  StreamHeader header_;
  SegmenterConfig config_;
  FrameBatch pending_;
  int64_t batch_start_us_ = 0;    // pts of the batch's first frame
  int64_t nominal_start_us_ = 0;  // grid point the batch stands for (<= batch_start_us_)
  int64_t last_keyframe_us_ = -1;
  int64_t keyframe_interval_us_ = 0;  // observed distance between the last two key frames
  uint64_t batches_ = 0;
};

}  // namespace meshcast::media
