#include "media/call/audio_jitter_buffer.hpp"

#include <algorithm>

namespace meshcast::media {

const char* to_string(PlayoutKind k) {
  switch (k) {
    case PlayoutKind::Silence:
      return "silence";
    case PlayoutKind::Normal:
      return "normal";
    case PlayoutKind::Fec:
      return "fec";
    case PlayoutKind::Plc:
      return "plc";
    case PlayoutKind::Expand:
      return "expand";
    case PlayoutKind::Dtx:
      return "dtx";
  }
  return "?";
}

AudioJitterBuffer::AudioJitterBuffer(JitterBufferConfig cfg)
    : cfg_(cfg), target_us_(std::max(cfg.min_target_us, 20'000 + cfg.fec_margin_us)) {}

void AudioJitterBuffer::reset() {
  packets_.clear();
  transit_.clear();
  started_ = false;
  have_last_seq_ = false;
  high_streak_ = low_streak_ = 0;
  target_us_ = std::max(cfg_.min_target_us, 20'000 + cfg_.fec_margin_us);
  ++st_.resets;
}

int64_t AudioJitterBuffer::unwrap(uint32_t ts) {
  const int64_t ext = ref_ext_ + static_cast<int32_t>(ts - ref_ts_);
  if (ext > ref_ext_) {
    ref_ext_ = ext;
    ref_ts_ = ts;
  }
  return ext;
}

int64_t AudioJitterBuffer::ts_to_us(int64_t ext) const {
  return ext * 1'000'000 / static_cast<int64_t>(cfg_.clock_rate);
}

void AudioJitterBuffer::update_target() {
  d_min_ = *std::min_element(transit_.begin(), transit_.end());
  std::vector<int64_t> v(transit_.begin(), transit_.end());
  const size_t k = (v.size() * static_cast<size_t>(cfg_.jitter_percentile)) / 100;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(std::min(k, v.size() - 1)), v.end());
  jitter_pct_us_ = v[std::min(k, v.size() - 1)] - d_min_;
  const int64_t frame_us = ts_to_us(frame_);
  const int64_t floor_us = std::max(cfg_.min_target_us, frame_us + cfg_.fec_margin_us);
  target_us_ = std::min(std::max(frame_us + jitter_pct_us_ + cfg_.margin_us, floor_us),
                        std::max(floor_us, cfg_.max_target_us));
}

void AudioJitterBuffer::insert(uint16_t seq, uint32_t ts, std::vector<uint8_t> payload,
                               uint32_t duration, int64_t arrival_us) {
  if (duration == 0) duration = frame_;
  bool just_started = false;
  if (!started_) {
    just_started = true;
    started_ = true;
    ref_ts_ = ts;
    ref_ext_ = ts;  // positive start keeps arithmetic simple
    next_ext_ = ts;
    frame_ = duration;
    transit_.clear();
  }
  int64_t ext = unwrap(ts);
  // A jump of more than 10 s either way is a new stream (sender restarted): start over.
  const int64_t jump_limit = 10ll * cfg_.clock_rate;
  if (ext < next_ext_ - jump_limit || ext > next_ext_ + jump_limit) {
    reset();
    insert(seq, ts, std::move(payload), duration, arrival_us);
    return;
  }
  ++st_.packets_received;
  last_arrival_us_ = arrival_us;
  transit_.push_back(arrival_us - ts_to_us(ext));
  if (transit_.size() > cfg_.window_packets) transit_.pop_front();
  update_target();
  if (just_started) first_playout_us_ = arrival_us + target_us_;
  if (ext < next_ext_) {
    ++st_.packets_late;
    return;
  }
  if (packets_.count(ext)) {
    ++st_.packets_duplicate;
    return;
  }
  packets_.emplace(ext, Packet{seq, duration, std::move(payload)});
  while (packets_.size() > cfg_.max_packets) packets_.erase(std::prev(packets_.end()));
}

std::optional<int64_t> AudioJitterBuffer::first_playout_us() const {
  if (!started_) return std::nullopt;
  return first_playout_us_;
}

PlayoutDecision AudioJitterBuffer::play(std::map<int64_t, Packet>::iterator it) {
  PlayoutDecision d;
  d.kind = PlayoutKind::Normal;
  d.rtp_timestamp = static_cast<uint32_t>(it->first);
  d.samples = it->second.duration;
  d.payload = std::move(it->second.payload);
  frame_ = it->second.duration;
  // A timestamp gap with contiguous sequence numbers was DTX, not a late packet: the frames
  // stretched while waiting were comfort noise.
  if (have_last_seq_ && it->second.seq == static_cast<uint16_t>(last_seq_ + 1) &&
      it->first > last_end_ext_) {
    st_.frames_expand -= expands_since_play_;
    st_.frames_dtx += expands_since_play_;
  }
  expands_since_play_ = 0;
  last_end_ext_ = it->first + it->second.duration;
  last_seq_ = it->second.seq;
  have_last_seq_ = true;
  next_ext_ = it->first + it->second.duration;
  packets_.erase(it);
  ++st_.frames_normal;
  return d;
}

PlayoutDecision AudioJitterBuffer::conceal(PlayoutKind kind, uint32_t samples) {
  PlayoutDecision d;
  d.kind = kind;
  d.rtp_timestamp = static_cast<uint32_t>(next_ext_);
  d.samples = samples;
  if (kind != PlayoutKind::Expand) next_ext_ += samples;  // Expand stretches: no advance
  switch (kind) {
    case PlayoutKind::Plc:
      ++st_.frames_plc;
      break;
    case PlayoutKind::Expand:
      ++st_.frames_expand;
      ++expands_since_play_;
      break;
    case PlayoutKind::Dtx:
      ++st_.frames_dtx;
      break;
    default:
      break;
  }
  return d;
}

PlayoutDecision AudioJitterBuffer::pop(int64_t now_us) {
  PlayoutDecision silence;
  silence.samples = frame_;
  if (!started_ || now_us < first_playout_us_) return silence;

  lag_us_ = now_us - d_min_ - ts_to_us(next_ext_);
  const int64_t frame_us = ts_to_us(frame_);
  auto it = packets_.find(next_ext_);

  if (it != packets_.end()) {
    // Too late for a sustained time: drop this frame if the next one is here to replace it.
    high_streak_ = lag_us_ > target_us_ + frame_us / 2 ? high_streak_ + 1 : 0;
    low_streak_ = lag_us_ < target_us_ - frame_us / 2 ? low_streak_ + 1 : 0;
    if (high_streak_ >= cfg_.drop_streak) {
      auto next = packets_.find(next_ext_ + it->second.duration);
      if (next != packets_.end()) {
        high_streak_ = 0;
        ++st_.frames_dropped;
        packets_.erase(it);
        next_ext_ = next->first;
        return play(next);
      }
    }
    if (low_streak_ >= cfg_.expand_streak) {  // too early: stretch once to gain a frame
      low_streak_ = 0;
      return conceal(PlayoutKind::Expand, frame_);
    }
    return play(it);
  }

  if (packets_.empty()) {
    // Nothing to play. A long silence means the sender stopped or paused: do not count it.
    if (now_us - last_arrival_us_ > cfg_.idle_after_us) {
      silence.rtp_timestamp = static_cast<uint32_t>(next_ext_);
      return silence;
    }
    return conceal(PlayoutKind::Expand, frame_);
  }

  // The frame is missing but later packets are here.
  auto p = packets_.begin();
  const bool dtx_gap = have_last_seq_ && p->second.seq == static_cast<uint16_t>(last_seq_ + 1);
  // Catch up on time spent stretching: skip whole missing frames we are behind by.
  const int64_t behind_us = lag_us_ - target_us_;
  if (behind_us >= frame_us) {
    const int64_t k = behind_us / frame_us;
    const int64_t skip_to = std::min(p->first, next_ext_ + k * frame_);
    st_.frames_skipped += static_cast<uint64_t>((skip_to - next_ext_) / frame_);
    next_ext_ = skip_to;
    if (next_ext_ == p->first) return play(p);
  }
  const int64_t gap = p->first - next_ext_;
  if (!dtx_gap && gap > 0 && gap <= frame_) {
    // Opus in-band FEC: the next packet carries a low-bitrate copy of the missing frame.
    PlayoutDecision d;
    d.kind = PlayoutKind::Fec;
    d.rtp_timestamp = static_cast<uint32_t>(next_ext_);
    d.samples = static_cast<uint32_t>(gap);
    d.payload = p->second.payload;  // the packet stays queued for its own Normal turn
    next_ext_ = p->first;
    ++st_.frames_fec;
    return d;
  }
  const uint32_t n = static_cast<uint32_t>(std::min<int64_t>(gap, frame_));
  return conceal(dtx_gap ? PlayoutKind::Dtx : PlayoutKind::Plc, n);
}

JitterBufferStats AudioJitterBuffer::stats() const {
  JitterBufferStats s = st_;
  s.target_us = target_us_;
  s.lag_us = lag_us_;
  s.jitter_pct_us = jitter_pct_us_;
  return s;
}

}  // namespace meshcast::media
