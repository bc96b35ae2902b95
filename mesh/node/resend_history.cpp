#include "mesh/node/resend_history.hpp"

#include <algorithm>

namespace meshcast::node {

ResendHistory::ResendHistory(size_t max_bytes, int64_t max_age_us)
    : max_bytes_(max_bytes), max_age_us_(max_age_us) {}

void ResendHistory::begin(uint32_t msg_id, uint32_t ts, int64_t now_us) {
  if (!sent_.empty() && msg_id <= sent_.back().id) return;  // ids only grow on a link
  sent_.push_back({msg_id, ts, now_us, 0, {}});
  trim(now_us);
}

void ResendHistory::add_chunk(uint32_t msg_id, uint16_t index, std::span<const uint8_t> chunk,
                              int64_t now_us) {
  Sent* m = find(msg_id);
  if (!m) return;
  if (m->chunks.size() <= index) m->chunks.resize(size_t(index) + 1);
  auto& slot = m->chunks[index];
  m->bytes -= slot.size();
  bytes_ -= slot.size();
  slot.assign(chunk.begin(), chunk.end());
  m->bytes += slot.size();
  bytes_ += slot.size();
  trim(now_us);
}

void ResendHistory::add_message(uint32_t msg_id, uint32_t ts,
                                std::vector<std::vector<uint8_t>> chunks, int64_t now_us) {
  if (!sent_.empty() && msg_id <= sent_.back().id) return;
  size_t n = 0;
  for (auto& c : chunks) n += c.size();
  sent_.push_back({msg_id, ts, now_us, n, std::move(chunks)});
  bytes_ += n;
  trim(now_us);
}

ResendHistory::Sent* ResendHistory::find(uint32_t msg_id) {
  auto it = std::lower_bound(sent_.begin(), sent_.end(), msg_id,
                             [](const Sent& s, uint32_t id) { return s.id < id; });
  return it != sent_.end() && it->id == msg_id ? &*it : nullptr;
}

const ResendHistory::Sent* ResendHistory::find(uint32_t msg_id) const {
  return const_cast<ResendHistory*>(this)->find(msg_id);
}

const std::vector<uint8_t>* ResendHistory::chunk(uint32_t msg_id, uint16_t index) const {
  const Sent* m = find(msg_id);
  if (!m || index >= m->chunks.size() || m->chunks[index].empty()) return nullptr;
  return &m->chunks[index];
}

uint32_t ResendHistory::ts(uint32_t msg_id) const {
  const Sent* m = find(msg_id);
  return m ? m->ts : 0;
}

void ResendHistory::trim(int64_t now_us) {
  while (sent_.size() > 1 && (bytes_ > max_bytes_ || now_us - sent_.front().at_us > max_age_us_)) {
    bytes_ -= sent_.front().bytes;
    sent_.pop_front();
    ++evicted_;
  }
  // A lone message may be old: age alone evicts it too.
  if (sent_.size() == 1 && now_us - sent_.front().at_us > max_age_us_) {
    bytes_ -= sent_.front().bytes;
    sent_.pop_front();
    ++evicted_;
  }
}

}  // namespace meshcast::node
