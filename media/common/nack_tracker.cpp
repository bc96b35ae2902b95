#include "media/common/nack_tracker.hpp"

#include "media/common/rtp.hpp"

namespace meshcast::media {

bool NackTracker::on_packet(uint16_t seq, int64_t now_us) {
  if (!started_) {
    started_ = true;
    highest_ = seq;
    highest_ext_ = seq;
    return false;
  }
  const int16_t d = seq_diff(seq, highest_);
  const int64_t ext = highest_ext_ + d;
  if (d <= 0) {  // retransmission or reordered packet fills a hole
    missing_.erase(ext);
    return false;
  }
  if (static_cast<size_t>(d - 1) > cfg_.max_missing) {
    missing_.clear();
    highest_ = seq;
    highest_ext_ = ext;
    return true;
  }
  for (int64_t s = highest_ext_ + 1; s < ext; ++s) missing_[s] = Entry{now_us, 0, 0};
  highest_ = seq;
  highest_ext_ = ext;
  while (missing_.size() > cfg_.max_missing) {
    missing_.erase(missing_.begin());
    ++given_up_;
  }
  return false;
}

std::vector<uint16_t> NackTracker::due(int64_t now_us) {
  std::vector<uint16_t> out;
  for (auto it = missing_.begin(); it != missing_.end();) {
    Entry& e = it->second;
    if (now_us - e.first_seen_us > cfg_.max_age_us || e.retries >= cfg_.max_retries) {
      if (e.last_sent_us == 0 || now_us - e.last_sent_us >= cfg_.retry_interval_us) {
        it = missing_.erase(it);
        ++given_up_;
        continue;
      }
    } else if (e.last_sent_us == 0 || now_us - e.last_sent_us >= cfg_.retry_interval_us) {
      out.push_back(static_cast<uint16_t>(it->first));
      e.last_sent_us = now_us;
      ++e.retries;
    }
    ++it;
  }
  return out;
}

}  // namespace meshcast::media
