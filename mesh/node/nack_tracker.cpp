#include "mesh/node/nack_tracker.hpp"

#include <algorithm>

namespace meshcast::node {

bool NackTracker::on_chunk(uint32_t msg_id, uint32_t index, TimeUs now_us) {
  partials_.try_emplace(msg_id);
  while (partials_.size() > max_) partials_.erase(partials_.begin());
  auto it = partials_.find(msg_id);
  if (it == partials_.end()) return false;
  Partial& part = it->second;
  part.last_us = now_us;
  if (index > part.next_index && part.gap_us < 0) part.gap_us = now_us;
  part.next_index = std::max(part.next_index, index + 1);
  return true;
}

std::vector<ChunkNack> NackTracker::on_timer(TimeUs now_us, const MissingFn& missing,
                                             bool can_send) {
  std::vector<ChunkNack> out;
  for (auto it = partials_.begin(); it != partials_.end();) {
    Partial& part = it->second;
    if (now_us - part.last_us > kGiveUpUs || part.nacks >= kMaxNacks) {
      it = partials_.erase(it);
      continue;
    }
    const bool stopped = now_us - part.last_us >= kDelayUs;
    const bool gap = part.gap_us >= 0 && now_us - part.gap_us >= kDelayUs;
    const bool due =
        part.nacks ? now_us - part.nacked_us >= kRetryUs && (stopped || gap) : stopped || gap;
    if (due && can_send) {
      ChunkNack n{it->first, missing(it->first)};
      if (!stopped) {  // still coming: only what a later chunk overtook
        std::erase_if(n.indices, [&](uint16_t i) { return i >= part.next_index; });
        if (n.indices.empty()) {  // the gap was filled
          part.gap_us = -1;
          ++it;
          continue;
        }
      }
      if (n.indices.empty()) {  // completed or evicted meanwhile
        it = partials_.erase(it);
        continue;
      }
      out.push_back(std::move(n));
      part.nacks++;
      part.nacked_us = now_us;
    }
    ++it;
  }
  return out;
}

std::optional<TimeUs> NackTracker::next_deadline() const {
  std::optional<TimeUs> next;
  for (auto& [id, part] : partials_) {
    TimeUs at = part.last_us + kDelayUs;
    if (part.gap_us >= 0) at = std::min(at, part.gap_us + kDelayUs);
    if (part.nacks) at = std::max(at, part.nacked_us + kRetryUs);
    // Forgotten by then at the latest (on_timer() does it).
    at = std::min(at, part.nacks >= kMaxNacks ? part.nacked_us : part.last_us + kGiveUpUs + 1);
    if (!next || at < *next) next = at;
  }
  return next;
}

}  // namespace meshcast::node
