#include "mesh/core/sim_mac.hpp"

#include <cstring>

namespace meshcast::mesh {

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t SimMac::tag(const SegmentHeader& h) const {
  uint64_t x = mix(key_ ^ h.stream_id);
  x = mix(x ^ h.number);
  x = mix(x ^ uint64_t(h.created_us));
  return mix(x ^ h.size);
}

void SimMac::sign(Segment& s) const {
  s.signature.fill(0);
  const uint64_t t = tag(s.header);
  std::memcpy(s.signature.data(), &t, sizeof t);
}

bool SimMac::verify(const Segment& s) const { return verify_head(s.header, s.signature, {}); }

bool SimMac::verify_head(const SegmentHeader& h, const Signature& sig, const Digest&) const {
  uint64_t t;
  std::memcpy(&t, sig.data(), sizeof t);
  return t == tag(h);
}

}  // namespace meshcast::mesh
