#include <cstddef>
#include <cstdint>

#include "media/common/rtp.hpp"

using namespace meshcast::media;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  (void)looks_like_rtcp(in);
  auto h = parse_rtp(in);
  // Every rejection says why.
  if (!h) {
    if (h.error() == nullptr || h.error()[0] == '\0') __builtin_trap();
    return 0;
  }
  auto payload = rtp_payload(in, *h);
  // Invariants: the payload lies inside the input, and a rebuild parses back the same fields.
  if (h->header_size + h->payload_size + h->padding_size != size) __builtin_trap();
  uint8_t x = 0;
  for (uint8_t b : payload) x = static_cast<uint8_t>(x ^ b);  // touch every payload byte
  volatile uint8_t sink = x;
  (void)sink;
  auto again = parse_rtp(build_rtp(*h, payload));
  if (!again || again->sequence != h->sequence || again->timestamp != h->timestamp ||
      again->ssrc != h->ssrc || again->payload_size != h->payload_size)
    __builtin_trap();
  return 0;
}
