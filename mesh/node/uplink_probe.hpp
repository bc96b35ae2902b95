// Measures what a peer's uplink carries before it offers push slots (sans-IO: the shell
// sends the train and feeds the answers and the time). A newcomer knows nothing of its
// modem: offering slots for a guess buries the children it takes for the seconds a
// delay-based cut needs (the lab's 480 kbit/s and 1 Mbit/s uplinks, see docs/netlab.md).
//
// Packet-train dispersion: a burst sent back to back leaves the bottleneck at its rate,
// so the partner's arrival times of two packets of the train, and how many packets it had
// between them, give that rate. The first bytes of the train may pass at line rate through
// a modem's token bucket: marks start after them. Only differences between the partner's
// own arrival times are used, so clocks need not agree.
//
// A lying partner can only mislead our view of our own uplink: too high, and the
// delay-based estimate cuts it; too low, and we relay less until it grows back while used.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "mesh/node/wire.hpp"

namespace meshcast::node {

class UplinkProbe {
 public:
  struct Config {
    uint16_t packets = 20;
    size_t packet_bytes = 1100;  // each packet's size as the uplink rate counts it
    uint16_t first_mark = 5;     // marks from here (6.6 kB past a modem's bucket) ...
    uint16_t mark_every = 3;     // ... every this many, and the last packet
    int64_t timeout_us = 1'500'000;
    // Dispersion shorter than this is beyond what we can time: the rate is at least the
    // one it gives (a fast uplink; the declared budget bounds it anyway).
    int64_t min_dispersion_us = 2'000;
  };

  UplinkProbe() : UplinkProbe(Config{}) {}
  explicit UplinkProbe(const Config& cfg) : cfg_(cfg) {}

  // The train to send back to back now; answers to any earlier train are ignored since.
  std::vector<ProbePacket> start(uint32_t train, int64_t now_us);
  // An answer from the partner probed. Returns true once the last mark is answered.
  bool on_reply(const ProbeReply& r);
  // When to give up waiting for answers (nullopt: nothing in flight).
  std::optional<int64_t> deadline() const;
  // The rate the train drained at, from the answers so far (nullopt: fewer than two
  // usable ones).
  std::optional<uint64_t> rate_bps() const;
  bool marked(uint16_t index) const;
  const Config& config() const { return cfg_; }

 private:
  Config cfg_;
  uint32_t train_ = 0;
  bool in_flight_ = false;
  int64_t started_us_ = 0;
  std::vector<ProbeReply> replies_;
};

}  // namespace meshcast::node
