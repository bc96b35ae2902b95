#include "mesh/node/uplink_probe.hpp"

#include <algorithm>

namespace meshcast::node {

bool UplinkProbe::marked(uint16_t index) const {
  if (index + 1 == cfg_.packets) return true;
  return index >= cfg_.first_mark && cfg_.mark_every > 0 &&
         (index - cfg_.first_mark) % cfg_.mark_every == 0;
}

std::vector<ProbePacket> UplinkProbe::start(uint32_t train, int64_t now_us) {
  train_ = train;
  in_flight_ = true;
  started_us_ = now_us;
  replies_.clear();
  std::vector<ProbePacket> out;
  for (uint16_t i = 0; i < cfg_.packets; ++i) out.push_back({train, i, cfg_.packets, marked(i)});
  return out;
}

bool UplinkProbe::on_reply(const ProbeReply& r) {
  // Only answers to marks of this train, once each, and no more received than sent.
  if (!in_flight_ || r.train != train_ || r.index >= cfg_.packets || !marked(r.index) ||
      r.received == 0 || r.received > cfg_.packets)
    return false;
  for (const ProbeReply& seen : replies_)
    if (seen.index == r.index) return false;
  replies_.push_back(r);
  if (r.index + 1 == cfg_.packets) in_flight_ = false;
  return !in_flight_;
}

std::optional<int64_t> UplinkProbe::deadline() const {
  if (!in_flight_) return std::nullopt;
  return started_us_ + cfg_.timeout_us;
}

std::optional<uint64_t> UplinkProbe::rate_bps() const {
  if (replies_.size() < 2) return std::nullopt;
  std::vector<ProbeReply> by_index = replies_;
  std::sort(by_index.begin(), by_index.end(),
            [](const ProbeReply& a, const ProbeReply& b) { return a.index < b.index; });
  const ProbeReply& last = by_index.back();
  // From the first mark that waited in the modem's queue: the marks before it may have
  // passed at line rate with the bucket's tokens (a larger bucket than first_mark assumed),
  // and counting them would overstate the rate. Without one, from the earliest.
  const ProbeReply* first = &by_index.front();
  for (size_t i = 1; i + 1 < by_index.size(); ++i)
    if (by_index[i].arrival_us > by_index.front().arrival_us + uint64_t(cfg_.min_dispersion_us)) {
      first = &by_index[i];
      break;
    }
  if (last.arrival_us < first->arrival_us || last.received <= first->received) return std::nullopt;
  // Packets lost in the modem took none of its time: only those received count.
  const double bytes = double(last.received - first->received) * double(cfg_.packet_bytes);
  const double us =
      double(std::max<uint64_t>(last.arrival_us - first->arrival_us, cfg_.min_dispersion_us));
  return uint64_t(bytes * 8e6 / us);
}

}  // namespace meshcast::node
