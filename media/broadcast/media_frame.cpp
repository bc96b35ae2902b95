#include "media/broadcast/media_frame.hpp"

#include <algorithm>

namespace meshcast::media {

int64_t FrameBatch::start_pts_us() const {
  if (frames.empty()) return 0;
  int64_t s = frames.front().pts_us;
  for (const auto& f : frames) s = std::min(s, f.pts_us);
  return s;
}

int64_t FrameBatch::end_pts_us() const {
  if (frames.empty()) return 0;
  int64_t e = frames.front().pts_us + frames.front().duration_us;
  for (const auto& f : frames) e = std::max(e, f.pts_us + f.duration_us);
  return e;
}

size_t FrameBatch::media_bytes() const {
  size_t n = 0;
  for (const auto& f : frames) n += f.data.size();
  return n;
}

}  // namespace meshcast::media
