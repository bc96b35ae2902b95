#include "signaling/clock_sync.hpp"

namespace meshcast::signaling {

bool ClockSync::add(int64_t sent_us, int64_t received_us, int64_t server_us) {
  if (received_us < sent_us || __int128(received_us) - sent_us > kMaxRttUs) return false;
  const int64_t rtt = received_us - sent_us;
  // In 128 bits: times come from the network and may be anything.
  const __int128 offset = __int128(server_us) - (__int128(sent_us) + rtt / 2);
  if (offset > kMaxOffsetUs || offset < -kMaxOffsetUs) return false;
  samples_.push_back({rtt, int64_t(offset)});
  while (samples_.size() > window_) samples_.pop_front();
  return true;
}

const ClockSync::Sample* ClockSync::best() const {
  const Sample* b = nullptr;
  for (const Sample& s : samples_)
    if (!b || s.rtt_us < b->rtt_us) b = &s;
  return b;
}

int64_t ClockSync::offset_us() const {
  const Sample* b = best();
  return b ? b->offset_us : 0;
}

std::optional<int64_t> ClockSync::rtt_us() const {
  const Sample* b = best();
  return b ? std::optional<int64_t>(b->rtt_us) : std::nullopt;
}

}  // namespace meshcast::signaling
