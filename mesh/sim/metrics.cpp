#include "mesh/sim/metrics.hpp"

#include <algorithm>

#include "mesh/stats/stats.hpp"

namespace meshcast::mesh::sim {

namespace {

// Percentiles by the shared definition (stats/): nearest rank, of histograms and samples.
Dist dist_from_hist(const std::vector<uint64_t>& h, double scale) {
  Dist d;
  for (auto c : h) d.count += c;
  if (d.count == 0) return d;
  d.p50 = double(stats::percentile_bucket(h, 0.5)) * scale;
  d.p95 = double(stats::percentile_bucket(h, 0.95)) * scale;
  d.max = double(stats::percentile_bucket(h, 1.0)) * scale;
  return d;
}

Dist dist_from_values(const std::vector<float>& v) {
  Dist d;
  d.count = v.size();
  if (v.empty()) return d;
  const std::vector<double> x(v.begin(), v.end());
  d.p50 = stats::percentile(x, 0.5);
  d.p95 = stats::percentile(x, 0.95);
  d.max = stats::percentile(x, 1.0);
  return d;
}

// Histogram bucket of a time in 1 ms buckets, the last one holding everything beyond.
size_t ms_bucket(TimeUs t, const std::vector<uint64_t>& h) {
  return size_t(std::clamp<TimeUs>(t / 1000, 0, TimeUs(h.size() - 1)));
}

}  // namespace

Metrics::Metrics() {
  lag_hist.assign(120'001, 0);
  lag_steady_hist.assign(120'001, 0);
  arrival_hist.assign(120'001, 0);
  hop_hist.assign(256, 0);
}

void Metrics::add(const Metrics& o) {
  auto sum = [](std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  };
  sum(lag_hist, o.lag_hist);
  sum(hop_hist, o.hop_hist);
  sum(lag_steady_hist, o.lag_steady_hist);
  sum(arrival_hist, o.arrival_hist);
  arrivals_pushed += o.arrivals_pushed;
  media_sends += o.media_sends;
  send_queue_us += o.send_queue_us;
  send_serialise_us += o.send_serialise_us;
  send_latency_us += o.send_latency_us;
  send_repair_us += o.send_repair_us;
  startup.insert(startup.end(), o.startup.begin(), o.startup.end());
  startup_steady.insert(startup_steady.end(), o.startup_steady.begin(), o.startup_steady.end());
  final_delays.insert(final_delays.end(), o.final_delays.begin(), o.final_delays.end());
  ctrl_sent += o.ctrl_sent, media_sent += o.media_sent, media_recv += o.media_recv;
  dup_recv += o.dup_recv, played += o.played, missed += o.missed, stalls += o.stalls;
  missed_unavailable += o.missed_unavailable;
  retransmitted_bytes += o.retransmitted_bytes;
  r.events += o.r.events;
  r.viewers_never_started += o.r.viewers_never_started;
  r.forged_played += o.r.forged_played;
  r.forged_sent += o.r.forged_sent;
  r.forger_reports += o.r.forger_reports;
  r.forger_links_dropped += o.r.forger_links_dropped;
  r.honest_reported += o.r.honest_reported;
  r.sybils += o.r.sybils;
  r.parents_lost += o.r.parents_lost;
  r.subtree_releases += o.r.subtree_releases;
  r.segments_published += o.r.segments_published;
  r.source_max_subscribers = std::max(r.source_max_subscribers, o.r.source_max_subscribers);
  r.min_viewer_continuity = std::min(r.min_viewer_continuity, o.r.min_viewer_continuity);
}

void Metrics::collect(const SimPeer& p, bool sybil, TimeUs warmup, TimeUs now) {
  const NodeStats& s = p.node->stats();
  ctrl_sent += s.control_bytes_sent;
  media_sent += s.media_bytes_sent;
  media_recv += s.media_bytes_received;
  dup_recv += s.duplicate_bytes_received;
  r.parents_lost += s.parents_lost;
  r.subtree_releases += s.subtree_releases;
  if (p.source) return;
  if (sybil) {
    ++r.sybils;
    return;
  }
  if (s.played + s.missed >= 50)
    r.min_viewer_continuity =
        std::min(r.min_viewer_continuity, double(s.played) / double(s.played + s.missed));
  played += s.played;
  missed += s.missed;
  missed_unavailable += s.missed_unavailable;
  stalls += s.stalls;
  if (s.first_play_at >= 0) {
    startup.push_back(float(double(s.first_play_at - s.started_at) / 1000.0));
    if (s.started_at >= warmup) startup_steady.push_back(startup.back());
    final_delays.push_back(double(p.node->playout_delay()) / 1000.0);
  } else if (p.joined + 10'000'000 <= now) {  // watched >= 10 s without playing
    ++r.viewers_never_started;
  }
}

void Metrics::record_play(TimeUs lag, bool steady, uint8_t hops) {
  const size_t lb = ms_bucket(lag, lag_hist);
  lag_hist[lb]++;
  if (steady) lag_steady_hist[lb]++;
  hop_hist[hops]++;
}

void Metrics::record_arrival(TimeUs age, bool pushed) {
  arrival_hist[ms_bucket(age, arrival_hist)]++;
  if (pushed) ++arrivals_pushed;
}

void Metrics::record_send(TimeUs queue, TimeUs serialise, TimeUs latency, TimeUs repair) {
  ++media_sends;
  send_queue_us += double(queue);
  send_serialise_us += double(serialise);
  send_latency_us += double(latency);
  send_repair_us += double(repair);
}

void Metrics::fill(SimResult& out) const {
  out.control_overhead = media_sent ? double(ctrl_sent) / double(media_sent) : 0;
  out.retransmitted_ratio = media_sent ? double(retransmitted_bytes) / double(media_sent) : 0;
  out.duplicate_ratio = media_recv ? double(dup_recv) / double(media_recv) : 0;
  out.played = played;
  out.missed = missed;
  out.missed_unavailable = missed_unavailable;
  out.stalls = stalls;
  out.continuity = played + missed ? double(played) / double(played + missed) : 0;
  out.lag_ms = dist_from_hist(lag_hist, 1.0);
  out.hops = dist_from_hist(hop_hist, 1.0);
  out.startup_ms = dist_from_values(startup);
  out.startup_ms_steady = dist_from_values(startup_steady);
  out.lag_ms_steady = dist_from_hist(lag_steady_hist, 1.0);
  out.arrival_ms = dist_from_hist(arrival_hist, 1.0);
  out.arrivals_pushed =
      out.arrival_ms.count ? double(arrivals_pushed) / double(out.arrival_ms.count) : 0;
  if (media_sends) {
    const double n = double(media_sends) * 1000.0;
    out.send_queue_ms = send_queue_us / n;
    out.send_serialise_ms = send_serialise_us / n;
    out.send_latency_ms = send_latency_us / n;
    out.send_repair_ms = send_repair_us / n;
  }
  out.final_playout_delay_ms_p50 = stats::percentile(final_delays, 0.5);
}

}  // namespace meshcast::mesh::sim
