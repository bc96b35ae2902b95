// The parts of a mesh node wired as Node wires them, for tests of one part at a time with
// fixed inputs, and helpers to read what they sent.
#pragma once
#include <utility>
#include <vector>

#include "mesh/base/token_bucket.hpp"
#include "mesh/core/node_config.hpp"
#include "mesh/core/node_stats.hpp"
#include "mesh/core/outbox.hpp"
#include "mesh/core/partner_set.hpp"
#include "mesh/core/playout.hpp"
#include "mesh/core/pull_scheduler.hpp"
#include "mesh/core/push_trees.hpp"
#include "mesh/core/rng.hpp"
#include "mesh/core/segment_window.hpp"

namespace meshcast::mesh::test {

constexpr TimeUs kSegUs = 200'000;

inline NodeConfig parts_cfg(bool source, uint32_t k) {
  NodeConfig c;
  c.self = 100;
  c.is_source = source;
  c.stream_id = 5;
  c.segment_us = kSegUs;
  c.substreams = k;
  c.window = 8;
  c.stream_bps = 1'000'000;
  c.upload_bps = 2'000'000;
  return c;
}

struct NodeParts {
  explicit NodeParts(const NodeConfig& c)
      : cfg(c),
        out(stats),
        rng(cfg.seed, cfg.self),
        bucket(1e9, 1e9, 0),  // never the limit here
        partners(cfg),
        window(cfg.window, cfg.substreams, cfg.is_source),
        trees(cfg, partners, out, stats, rng, bucket),
        playout(cfg, out, stats),
        pulls(cfg, partners, window, out, stats, rng) {}

  // A partner that said hello (declared upload) and, if given, sent this buffer map.
  Partner& partner(PeerId id, uint32_t upload_kbps, TimeUs now) {
    Partner& p = partners.add(id, now);
    p.hello = true;
    p.upload_kbps = upload_kbps;
    return p;
  }
  static void show(Partner& p, const BufferMap& bm, TimeUs at) {
    p.bm = bm;
    p.has_bm = true;
    p.bm_at = at;
    p.not_have_from = 0xFFFFFFFFu;
  }
  void store(uint32_t n, TimeUs created, TimeUs now) {
    Segment s;
    s.header.stream_id = cfg.stream_id;
    s.header.number = n;
    s.header.created_us = created;
    s.header.size = 1000;
    window.store(std::move(s), now, [&](PeerId id) { pulls.ended(id); });
  }
  std::vector<Output> take() { return std::exchange(out.outputs(), {}); }

  NodeConfig cfg;
  NodeStats stats;
  Outbox out;
  Rng rng;
  TokenBucket bucket;
  PartnerSet partners;
  SegmentWindow window;
  PushTrees trees;
  Playout playout;
  PullScheduler pulls;
};

inline BufferMap map_of(std::initializer_list<uint32_t> have, uint32_t k, uint8_t depth,
                        uint8_t spare) {
  BufferMap b;
  b.substreams = uint8_t(k);
  for (uint32_t j = 0; j < k; ++j) b.depth[j] = depth;
  b.spare_slots = spare;
  if (have.size()) {
    uint32_t lo = ~0u, hi = 0;
    for (auto n : have) lo = std::min(lo, n), hi = std::max(hi, n);
    b.base = lo;
    b.count = uint16_t(hi - lo + 1);
    for (auto n : have) b.set(n);
  }
  return b;
}

template <class T>
std::vector<std::pair<PeerId, T>> sent(const std::vector<Output>& outs) {
  std::vector<std::pair<PeerId, T>> r;
  for (auto& o : outs)
    if (o.kind == OutputKind::kSend)
      if (auto* m = std::get_if<T>(&o.msg)) r.emplace_back(o.peer, *m);
  return r;
}

inline size_t count(const std::vector<Output>& outs, OutputKind k) {
  size_t c = 0;
  for (auto& o : outs) c += o.kind == k;
  return c;
}

}  // namespace meshcast::mesh::test
