// One time type for the whole code base: microseconds on the monotonic clock, as a plain
// integer. Sans-IO parts never read a clock; they take `now` from their shell, which reads
// it here (the same clock as GLib's g_get_monotonic_time, so values mix freely).
#pragma once
#include <cstdint>
#include <ctime>

namespace meshcast {

using TimeUs = int64_t;

inline constexpr TimeUs kUsPerMs = 1000;
inline constexpr TimeUs kUsPerS = 1000 * kUsPerMs;

constexpr TimeUs ms_to_us(int64_t ms) { return ms * kUsPerMs; }
constexpr int64_t us_to_ms(TimeUs us) { return us / kUsPerMs; }
// Whole milliseconds from `now` until `deadline`, rounded up (0 once it has passed): the delay
// of a GLib timer for a deadline, which never fires early and then only to be set again.
constexpr int64_t ms_until(TimeUs deadline, TimeUs now) {
  return deadline <= now ? 0 : (deadline - now + kUsPerMs - 1) / kUsPerMs;
}

inline TimeUs monotonic_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return TimeUs(ts.tv_sec) * kUsPerS + ts.tv_nsec / 1000;
}
inline int64_t monotonic_ms() { return us_to_ms(monotonic_us()); }

}  // namespace meshcast
