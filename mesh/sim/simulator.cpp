#include "mesh/sim/simulator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <queue>
#include <vector>

#include "mesh/core/codec.hpp"
#include "mesh/core/fragmenter.hpp"
#include "mesh/core/node.hpp"
#include "mesh/core/sim_mac.hpp"
#include "mesh/core/stripes.hpp"
#include "mesh/sim/event_queue.hpp"

namespace meshcast::mesh::sim {

namespace {

constexpr uint64_t kStreamId = 0x6d657368ull;  // "mesh"
constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
// Prefetch distances (events ahead of the one being handled): the peer id's entry, the peer
// and message, then the node object, then the node's window slot for the segment delivered.
constexpr size_t kFetchId = 16, kFetchPeer = 8, kFetchNode = 4, kFetchSlot = 2;

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  uint64_t s_;
};

// Peer ids with O(1) insert, remove (swap with the last) and uniform sampling; `pos` maps a
// peer's slot to its index. The simulated tracker keeps its lists in these.
struct IdSet {
  std::vector<PeerId> ids;
  std::vector<uint32_t> pos;  // slot -> index in ids, or kNoSlot
  void reset(size_t slots) { pos.assign(slots, kNoSlot); }
  bool contains(uint32_t slot) const { return pos[slot] != kNoSlot; }
  void insert(uint32_t slot, PeerId id) {
    pos[slot] = uint32_t(ids.size());
    ids.push_back(id);
  }
  // slot_of: the slot of any id in the set.
  template <class SlotOf>
  void erase(uint32_t slot, SlotOf slot_of) {
    const uint32_t i = pos[slot];
    if (i == kNoSlot) return;
    ids[i] = ids.back();
    pos[slot_of(ids[i])] = i;
    ids.pop_back();
    pos[slot] = kNoSlot;
  }
};

enum class EvType : uint8_t {
  kDeliver,
  kTimer,
  kPublish,
  kJoin,
  kLeave,
  kConnected,
  kPartnerLeft,
  kCandidates,
  kProgress
};

using Ev = Event;

// Per peer id (ids are never reused): where its Peer lives and what senders need of it.
struct IdInfo {
  uint32_t slot = kNoSlot;
  float x = 0, y = 0;
  bool alive = false;
  bool forger = false;
};

// A slot's current peer (null node: the slot's viewer has not joined yet). Its id's position,
// liveness and forger flag are in its IdInfo.
struct Peer {
  std::unique_ptr<Node> node;
  PeerId id = kNoPeer;
  bool source = false;
  uint64_t upload_bps = 0;
  // Upload link: up_free[l] = when the work of priority levels <= l (0 first) is done.
  std::array<TimeUs, kPriorityLevels> up_free{};
  TimeUs timer_at = -1;
  TimeUs joined = 0;
  // Cut-through: for segment n (ring of 64, tagged n + 1), when its first piece had arrived
  // (the relay may start passing it on) and when the whole segment had.
  struct Arrival {
    uint32_t num = 0;  // n + 1, 0 = none
    TimeUs head_at = 0;
    TimeUs done_at = 0;
  };
  std::array<Arrival, 64> arr{};    // one cache line per look-up, not three
  std::array<uint32_t, 8> sub_n{};  // debug: arrivals per sub-stream after warm-up
  std::array<double, 8> sub_sum{};
};

class Simulator {
 public:
  explicit Simulator(const SimConfig& c) : cfg_(c), rng_(c.seed), mac_(c.seed * 7919 + 17) {
    cfg_.node.substreams = std::clamp<uint32_t>(cfg_.node.substreams, 1, kMaxSubstreams);
    seg_us_ = TimeUs(cfg_.segment_ms) * 1000;
    seg_bytes_ = uint32_t(cfg_.bitrate_kbps * 1000 / 8 * cfg_.segment_ms / 1000);
    end_ = TimeUs(cfg_.duration_s * 1e6);
    lag_hist_.assign(120'001, 0);
    lag_steady_hist_.assign(120'001, 0);
    arrival_hist_.assign(120'001, 0);
    warmup_ = TimeUs((cfg_.join_start_s + cfg_.join_spread_s + 10) * 1e6);
    hop_hist_.assign(256, 0);
  }

  SimResult run();

 private:
  // --- events ---
  void push(TimeUs t, EvType type, uint32_t a, uint32_t b = 0, uint32_t msg = 0) {
    q_.push(Ev{t, seq_++, a, b, msg, uint8_t(type)});
  }
  uint32_t slot_of(PeerId id) const { return id < ids_.size() ? ids_[id].slot : kNoSlot; }
  // What a sender needs of a receiver, without touching the receiver's (cold, large) Peer.
  const IdInfo* alive_info(PeerId id) const {
    return id < ids_.size() && ids_[id].alive ? &ids_[id] : nullptr;
  }
  Peer* alive_peer(PeerId id) {
    const IdInfo* i = alive_info(id);
    return i ? &peers_[i->slot] : nullptr;
  }
  uint32_t store_msg(Message&& m) {
    if (!free_msgs_.empty()) {
      const uint32_t i = free_msgs_.back();
      free_msgs_.pop_back();
      msgs_[i] = std::move(m);
      return i;
    }
    msgs_.push_back(std::move(m));
    return uint32_t(msgs_.size() - 1);
  }
  void free_msg(uint32_t i) {
    if (auto* s = std::get_if<SegmentMsg>(&msgs_[i])) s->segment.payload.reset();
    free_msgs_.push_back(i);
  }

  // --- network model ---
  TimeUs latency(const IdInfo& a, const IdInfo& b) const {
    const double dx = a.x - b.x, dy = a.y - b.y;
    const double d = std::sqrt(dx * dx + dy * dy) / std::sqrt(2.0);
    const double rtt_ms = cfg_.rtt_min_ms + (cfg_.rtt_max_ms - cfg_.rtt_min_ms) * d;
    return TimeUs(rtt_ms * 500.0);
  }

  void spawn_viewer(uint32_t slot, TimeUs now, bool forger);
  void leave(uint32_t slot, TimeUs now);
  void drain(Peer& p, TimeUs now);
  void collect(const Peer& p, TimeUs now);
  void tracker_reply(Peer& p, TimeUs now);
  void handle(const Ev& e);

  SimConfig cfg_;
  Rng rng_;
  SimMac mac_;
  TimeUs seg_us_ = 0, end_ = 0;
  uint32_t seg_bytes_ = 0;
  EventQueue q_;
  uint64_t seq_ = 0;
  std::vector<Peer> peers_;  // slot 0 = source
  std::vector<IdInfo> ids_;  // peer id -> slot, position, alive
  IdSet alive_;              // viewers, for the tracker
  // Viewers that hold data (the tracker learns it from their reports): joiners in a crowd
  // need partners that already have data, and uniform samples rarely find the few early on.
  IdSet with_data_;
  std::vector<Message> msgs_;
  std::vector<double> keep_;
  std::vector<uint32_t> free_msgs_;
  std::vector<TimeUs> msg_head_;  // per message slot: first piece's arrival at the receiver
  std::vector<PeerId> scratch_ids_;
  std::vector<Output> outbox_;  // shared by all nodes (drained after every input)
  uint32_t next_number_ = 0;

  // metrics
  std::vector<uint64_t> lag_hist_, hop_hist_, lag_steady_hist_;
  std::vector<uint64_t> arrival_hist_;  // creation -> first complete receipt, per viewer
  uint64_t arrivals_pushed_ = 0;
  uint64_t media_sends_ = 0;
  double send_queue_us_ = 0, send_serialise_us_ = 0, send_latency_us_ = 0, send_repair_us_ = 0;
  std::vector<float> startup_steady_;
  TimeUs warmup_ = 0;
  std::vector<float> startup_;
  SimResult r_;
  uint64_t ctrl_sent_ = 0, media_sent_ = 0, media_recv_ = 0, dup_recv_ = 0;
  uint64_t played_ = 0, missed_ = 0, stalls_ = 0, missed_unavailable_ = 0;
  uint64_t retransmitted_bytes_ = 0;
  std::vector<double> final_delays_;
  bool dbg_ = getenv("MESHCAST_SIM_DEBUG") != nullptr;
  double dbg_lag_[32] = {};
  uint64_t dbg_n_[32] = {};
  uint64_t dbg_miss_[10] = {};
  int dbg_slow_ = 0;
  std::vector<float> dbg_arr_[8];
  std::vector<float> dbg_slack_, dbg_spread_, dbg_excess_;
  std::vector<float> dbg_lag_by_group_[2];
  std::vector<float> dbg_start_by_join_[16];
  uint64_t dbg_ev_[16] = {}, dbg_msg_[16] = {};
  uint64_t dbg_pushed_ = 0, dbg_served_ = 0, dbg_req_ = 0;
  PeerId trace_ =
      getenv("MESHCAST_SIM_TRACE") ? PeerId(atoi(getenv("MESHCAST_SIM_TRACE"))) : kNoPeer;

 public:
  void dump_debug() {
    if (!dbg_) return;
    for (int i = 0; i < 9; ++i)
      std::fprintf(stderr, "ev type %d: %llu   msg type %d: %llu\n", i,
                   (unsigned long long)dbg_ev_[i], i, (unsigned long long)dbg_msg_[i]);
    std::fprintf(stderr, "pushed %llu served(pull) %llu requests %llu\n",
                 (unsigned long long)dbg_pushed_, (unsigned long long)dbg_served_,
                 (unsigned long long)dbg_req_);
    for (int i = 0; i < 10; ++i)
      std::fprintf(stderr, "missed at age %d-%ds: %llu\n", 5 * i, 5 * i + 5,
                   (unsigned long long)dbg_miss_[i]);
    std::vector<float> v = startup_;
    std::sort(v.begin(), v.end());
    for (double q : {0.1, 0.5, 0.8, 0.9, 0.95, 0.99})
      std::fprintf(stderr, "startup q%.2f = %.0f\n", q,
                   v.empty() ? 0.0 : v[size_t(q * double(v.size() - 1))]);
    for (int t = 0; t < 16; ++t) {
      auto v = dbg_start_by_join_[t];
      std::sort(v.begin(), v.end());
      if (!v.empty())
        std::fprintf(stderr, "start-up of viewers joining at %d%s s: n=%zu p50 %.0f p95 %.0f\n", t,
                     t == 15 ? "+" : "", v.size(), v[v.size() / 2], v[v.size() * 95 / 100]);
    }
    for (int g = 0; g < 2; ++g) {
      auto v = dbg_lag_by_group_[g];
      std::sort(v.begin(), v.end());
      if (!v.empty())
        std::fprintf(stderr, "lag after warm-up, viewers of the %s: n=%zu p50 %.0f p95 %.0f\n",
                     g ? "later joins" : "initial crowd", v.size(), v[v.size() / 2],
                     v[v.size() * 95 / 100]);
    }
    for (auto* vv : {&dbg_slack_, &dbg_spread_, &dbg_excess_}) {
      auto v = *vv;
      std::sort(v.begin(), v.end());
      if (!v.empty())
        std::fprintf(stderr, "%s: n=%zu p10 %.0f p50 %.0f p90 %.0f\n",
                     vv == &dbg_slack_    ? "slack (play - arrival) after warm-up"
                     : vv == &dbg_spread_ ? "viewer's sub-stream mean arrival spread"
                                          : "viewer's final delay - slowest sub-stream's mean",
                     v.size(), v[v.size() / 10], v[v.size() / 2], v[v.size() * 9 / 10]);
    }
    for (int c = 0; c < 8; ++c) {
      auto v = dbg_arr_[c];
      std::sort(v.begin(), v.end());
      if (!v.empty())
        std::fprintf(stderr, "arrivals %s, viewer %s, %s: n=%zu p50 %.0f p95 %.0f\n",
                     c & 1 ? "pulled" : "pushed",
                     c & 2 ? "joined < 10 s ago" : "joined >= 10 s ago",
                     c & 4 ? "joined after warm-up" : "initial crowd", v.size(), v[v.size() / 2],
                     v[v.size() * 95 / 100]);
    }
    for (int h = 0; h < 32; ++h)
      if (dbg_n_[h])
        std::fprintf(stderr, "hops %d: n=%llu mean arrival lag %.0f ms\n", h,
                     (unsigned long long)dbg_n_[h], dbg_lag_[h] / double(dbg_n_[h]));
  }
};

void Simulator::spawn_viewer(uint32_t slot, TimeUs now, bool forger) {
  Peer& p = peers_[slot];
  p = Peer();
  p.id = PeerId(ids_.size());
  const float x = float(rng_.uniform());
  const float y = float(rng_.uniform());
  ids_.push_back(IdInfo{slot, x, y, true, forger});
  double u = rng_.uniform(), mult = cfg_.upload_dist.back().second;
  for (auto& [frac, m] : cfg_.upload_dist) {
    if (u < frac) {
      mult = m;
      break;
    }
    u -= frac;
  }
  p.upload_bps = uint64_t(mult * double(cfg_.bitrate_kbps) * 1000.0);
  p.joined = now;
  NodeConfig nc = cfg_.node;
  nc.self = p.id;
  nc.is_source = false;
  nc.stream_id = kStreamId;
  nc.stream_bps = cfg_.bitrate_kbps * 1000;
  nc.segment_us = seg_us_;
  nc.upload_bps = p.upload_bps;
  nc.source_copies = cfg_.source_copies;
  nc.verifier = &mac_;
  nc.seed = cfg_.seed ^ (uint64_t(p.id) << 20);
  p.node = std::make_unique<Node>(nc);
  p.node->use_outbox(&outbox_);
  alive_.insert(slot, p.id);
  ++r_.viewers_joined;
  p.node->start(now);
  drain(p, now);
  if (cfg_.churn_lifetime_s > 0 && !forger) {
    const TimeUs life = TimeUs(rng_.exponential(cfg_.churn_lifetime_s) * 1e6);
    if (now + life < end_) push(now + life, EvType::kLeave, p.id);
  }
}

void Simulator::collect(const Peer& p, TimeUs now) {
  const NodeStats& s = p.node->stats();
  ctrl_sent_ += s.control_bytes_sent;
  media_sent_ += s.media_bytes_sent;
  media_recv_ += s.media_bytes_received;
  dup_recv_ += s.duplicate_bytes_received;
  dbg_pushed_ += s.segments_pushed;
  dbg_served_ += s.segments_served;
  dbg_req_ += s.requests_sent;
  r_.parents_lost += s.parents_lost;
  r_.subtree_releases += s.subtree_releases;
  if (p.source) return;
  if (s.played + s.missed >= 50)
    r_.min_viewer_continuity =
        std::min(r_.min_viewer_continuity, double(s.played) / double(s.played + s.missed));
  if (dbg_ && s.played + s.missed >= 50 && double(s.played) < 0.99 * double(s.played + s.missed))
    std::fprintf(stderr, "poor viewer: id %u joined %.3f played %llu missed %llu stalls %llu\n",
                 p.id, double(p.joined) / 1e6, (unsigned long long)s.played,
                 (unsigned long long)s.missed, (unsigned long long)s.stalls);
  played_ += s.played;
  missed_ += s.missed;
  missed_unavailable_ += s.missed_unavailable;
  stalls_ += s.stalls;
  if (s.first_play_at >= 0) {
    startup_.push_back(float(double(s.first_play_at - s.started_at) / 1000.0));
    if (s.started_at >= warmup_) startup_steady_.push_back(startup_.back());
    if (dbg_)
      dbg_start_by_join_[std::min<size_t>(15, size_t(s.started_at / 1'000'000))].push_back(
          startup_.back());
    if (dbg_ && s.first_play_at - s.started_at > 2'000'000 && dbg_slow_++ < 8)
      std::fprintf(stderr, "slow start: id %u joined %.3f first play %.3f\n", p.id,
                   double(s.started_at) / 1e6, double(s.first_play_at) / 1e6);
    final_delays_.push_back(double(p.node->playout_delay()) / 1000.0);
    if (dbg_ && p.sub_n[0] > 20) {
      double lo = 1e9, hi = 0;
      for (uint32_t j = 0; j < cfg_.node.substreams && j < 8; ++j) {
        if (!p.sub_n[j]) continue;
        lo = std::min(lo, p.sub_sum[j] / p.sub_n[j]);
        hi = std::max(hi, p.sub_sum[j] / p.sub_n[j]);
      }
      dbg_spread_.push_back(float(hi - lo));
      dbg_excess_.push_back(float(double(p.node->playout_delay()) / 1000.0 - hi));
    }
  } else if (p.joined + 10'000'000 <= now) {  // watched >= 10 s without playing
    ++r_.viewers_never_started;
    if (dbg_)
      std::fprintf(stderr, "never started: id %u joined %.3f partners %zu forger %d\n", p.id,
                   double(p.joined) / 1e6, p.node->partner_count(), int(ids_[p.id].forger));
  }
}

void Simulator::leave(uint32_t slot, TimeUs now) {
  Peer& p = peers_[slot];
  collect(p, now);
  ++r_.departures;
  for (PeerId q : p.node->partner_ids()) {
    if (alive_info(q)) push(now + TimeUs(cfg_.detect_s * 1e6), EvType::kPartnerLeft, q, p.id);
  }
  // Remove from the tracker.
  auto slot_of_id = [this](PeerId id) { return ids_[id].slot; };
  with_data_.erase(slot, slot_of_id);
  alive_.erase(slot, slot_of_id);
  ids_[p.id].alive = false;
  p.node.reset();
  spawn_viewer(slot, now, false);  // keep N constant
}

void Simulator::tracker_reply(Peer& p, TimeUs now) {
  // Random viewers, preferring those with spare upload; the source while it has room.
  scratch_ids_.clear();
  Peer& src = peers_[0];
  if (src.node->spare_slots() > 0) scratch_ids_.push_back(src.id);
  const size_t n = alive_.ids.size();
  std::vector<std::pair<uint32_t, PeerId>> picks;
  for (uint32_t i = 0; i < 2 * cfg_.tracker_candidates && n > 1; ++i) {
    // Half the samples among viewers known to hold data, half among all (keeps the mesh
    // random).
    const bool from_data = (i & 1) && !with_data_.ids.empty();
    const PeerId id = from_data ? with_data_.ids[rng_.next() % with_data_.ids.size()]
                                : alive_.ids[rng_.next() % n];
    if (id == p.id) continue;
    const Peer* q = alive_peer(id);
    if (!q) continue;
    // Peers with data to give first, then by spare upload slots.
    // A full peer would only redirect, so peers with room for a partner come first.
    const bool room = q->node->has_partner_room();
    picks.emplace_back(
        q->node->spare_slots() + (q->node->holds_data() ? (room ? 3000u : 1000u) : 0u), id);
  }
  std::stable_sort(picks.begin(), picks.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (auto& [spare, id] : picks) {
    if (scratch_ids_.size() >= cfg_.tracker_candidates) break;
    if (std::find(scratch_ids_.begin(), scratch_ids_.end(), id) == scratch_ids_.end())
      scratch_ids_.push_back(id);
  }
  // Candidates are consumed from the back: put the best last.
  std::reverse(scratch_ids_.begin(), scratch_ids_.end());
  p.node->add_candidates(scratch_ids_, now);
}

void Simulator::drain(Peer& p, TimeUs now) {
  auto& out = p.node->outbox();
  const IdInfo& self = ids_[p.id];  // ids_ does not grow while a node's outputs are drained
  for (const Output& o : out)       // the receivers are cold: fetch them all before the loop
    if (o.peer < ids_.size()) __builtin_prefetch(&ids_[o.peer]);
  for (size_t i = 0; i < out.size(); ++i) {
    Output& o = out[i];
    if (p.id == trace_)
      std::fprintf(stderr, "%.3f out kind %d peer %u msg %zu n %u\n", double(now) / 1e6,
                   int(o.kind), o.peer, o.msg.index(), o.number);
    switch (o.kind) {
      case OutputKind::kSend: {
        const IdInfo* dst = alive_info(o.peer);
        size_t bytes = encoded_size(o.msg);
        const bool media = is_media(o.msg);
        size_t chunks = Fragmenter::chunk_count(bytes);
        bytes += chunks * kChunkHeaderBytes;
        // The upload serves priority levels (Output::priority, 0 first): a fluid approximation
        // of a strict-priority pacer (node::UploadPacer), where a send already on its way is
        // not delayed further by a more urgent one queued later.
        // A relay passes a segment it is receiving on to its first child piece by piece
        // (mesh::ChunkRelay in real peers): that copy may start once the first piece is in,
        // and cannot finish before one chunk after the last one is. Later copies queue behind
        // it, so they start after the whole segment is in.
        const TimeUs chunk_us = TimeUs(double(kMaxChunkBytes) * 8e6 / double(p.upload_bps));
        const size_t level = std::min<size_t>(o.priority, p.up_free.size() - 1);
        TimeUs& lane = p.up_free[level];
        TimeUs start = std::max(now, lane), not_before = 0;
        if (cfg_.cut_through && media && o.priority != kBulkPriority) {
          const uint32_t n = std::get<SegmentMsg>(o.msg).segment.header.number;
          if (p.arr[n % 64].num == n + 1 && p.arr[n % 64].done_at == now &&
              p.arr[n % 64].head_at < now) {
            start = std::max(p.arr[n % 64].head_at, lane);
            not_before = now + chunk_us;
          }
        }
        const TimeUs busy = TimeUs(double(bytes) * 8e6 / double(p.upload_bps));
        lane = std::max(start + busy, not_before);
        TimeUs done_at = lane;
        for (size_t l = level + 1; l < p.up_free.size(); ++l)
          p.up_free[l] = std::max(p.up_free[l], now) + busy;
        if (!dst) break;
        TimeUs extra = 0;
        if (cfg_.loss > 0) {
          if (chunks >= keep_.size()) {  // P(no chunk lost), per chunk count
            for (size_t c = keep_.size(); c <= chunks; ++c)
              keep_.push_back(std::pow(1.0 - cfg_.loss, double(c)));
          }
          const double keep = keep_[chunks];
          if (rng_.uniform() >= keep) {
            if (!media || !cfg_.nack) break;  // control: one packet, recovered by timeouts
            // Chunk NACK (the link's reassembler reports missing chunks): each round costs
            // one RTT plus the resent chunk; the resent chunk may be lost again.
            int rounds = 1;
            while (rounds < 3 && rng_.uniform() < cfg_.loss) ++rounds;
            if (rounds == 3 && rng_.uniform() < cfg_.loss) break;  // give up: segment lost
            extra = rounds * (2 * latency(self, *dst) + chunk_us);
            lane += rounds * chunk_us;
            for (size_t l = level + 1; l < p.up_free.size(); ++l) p.up_free[l] += rounds * chunk_us;
            done_at += rounds * chunk_us;
            retransmitted_bytes_ += uint64_t(rounds) * kMaxChunkBytes;
          }
        }
        if (media && self.forger) std::get<SegmentMsg>(o.msg).segment.signature[3] ^= 0x5A;
        if (media) {  // where a hop's time goes (DESIGN: lag = hops x per-hop + playout)
          ++media_sends_;
          send_queue_us_ += double(start - now);
          send_serialise_us_ += double(done_at - start);
          send_latency_us_ += double(latency(self, *dst));
          send_repair_us_ += double(extra);
        }
        const uint32_t mi = store_msg(std::move(o.msg));
        if (cfg_.cut_through && media) {
          // When the receiver has the first piece (and all before it) and may pass it on.
          const size_t first = std::min(
              bytes, segment_head_bytes(std::get<SegmentMsg>(msgs_[mi]).segment.header.size) +
                         kPieceBytes);
          if (msg_head_.size() <= mi) msg_head_.resize(mi + 1);
          msg_head_[mi] =
              start + TimeUs(double(first) * 8e6 / double(p.upload_bps)) + latency(self, *dst);
        }
        push(done_at + latency(self, *dst) + extra, EvType::kDeliver, o.peer, p.id, mi);
        break;
      }
      case OutputKind::kConnect: {
        const IdInfo* dst = alive_info(o.peer);
        const TimeUs d = dst ? 3 * latency(self, *dst) : 3 * TimeUs(cfg_.rtt_max_ms) * 500;
        push(now + d, EvType::kConnected, o.peer, p.id);
        break;
      }
      case OutputKind::kDisconnect: {
        const IdInfo* dst = alive_info(o.peer);
        if (dst) push(now + latency(self, *dst), EvType::kPartnerLeft, o.peer, p.id);
        if (dst && dst->forger && o.reason == DisconnectReason::kForged) ++r_.forger_links_dropped;
        break;
      }
      case OutputKind::kSetTimer:
        p.timer_at = o.at;
        push(o.at, EvType::kTimer, p.id);
        break;
      case OutputKind::kPlay: {
        const auto& seg = std::get<SegmentMsg>(o.msg).segment;
        if (!mac_.verify(seg)) ++r_.forged_played;
        const TimeUs lag = o.at - seg.header.created_us;
        if (dbg_ && lag > 8'000'000 && dbg_slow_++ < 12)
          std::fprintf(stderr, "late play: id %u joined %.3f n %u at %.3f lag %.3f delay %.3f\n",
                       p.id, double(p.joined) / 1e6, o.number, double(o.at) / 1e6,
                       double(lag) / 1e6, double(p.node->playout_delay()) / 1e6);
        const size_t lb = size_t(std::clamp<TimeUs>(lag / 1000, 0, TimeUs(lag_hist_.size() - 1)));
        lag_hist_[lb]++;
        if (o.at >= warmup_) lag_steady_hist_[lb]++;
        if (dbg_ && o.at >= warmup_)
          dbg_lag_by_group_[p.joined >= warmup_ ? 1 : 0].push_back(float(lag / 1000));
        hop_hist_[seg.header.hops]++;
        if (dbg_ && o.at >= warmup_ && p.arr[o.number % 64].num == o.number + 1) {
          const TimeUs arrival = p.arr[o.number % 64].done_at - seg.header.created_us;
          dbg_slack_.push_back(float((o.at - p.arr[o.number % 64].done_at) / 1000));
          const uint32_t j = o.number % cfg_.node.substreams;
          if (p.sub_n[j & 7]++ == 0) p.sub_sum[j & 7] = 0;
          p.sub_sum[j & 7] += double(arrival) / 1000.0;
        }
        break;
      }
      case OutputKind::kMissed:
        if (dbg_) ++dbg_miss_[std::min<TimeUs>(9, (now - p.joined) / 5'000'000)];
        break;
      case OutputKind::kReport: {
        const IdInfo* bad = alive_info(o.peer);
        if (bad && bad->forger)
          ++r_.forger_reports;
        else if (bad)
          ++r_.honest_reported;
        break;
      }
      case OutputKind::kNeedNeighbours: {
        const Peer& tr = peers_[0];
        (void)tr;
        // Tracker round trip: modelled as one RTT at the middle of the range.
        const TimeUs rtt = TimeUs(cfg_.rtt_min_ms + cfg_.rtt_max_ms) * 500;
        push(now + rtt, EvType::kCandidates, p.id);
        break;
      }
    }
  }
  out.clear();
}

void Simulator::handle(const Ev& e) {
  if (dbg_) {
    ++dbg_ev_[e.type];
    if (EvType(e.type) == EvType::kDeliver) ++dbg_msg_[msgs_[e.msg].index()];
  }
  switch (EvType(e.type)) {
    case EvType::kDeliver: {
      Peer* dst = alive_peer(e.a);
      if (dst) {
        Message& m = msgs_[e.msg];
        if (auto* s = std::get_if<SegmentMsg>(&m); s && cfg_.forgers > 0 && ids_[e.b].forger &&
                                                   !mac_.verify(s->segment) && !ids_[e.a].forger)
          ++r_.forged_sent;
        if (auto* s = std::get_if<SegmentMsg>(&m);
            s && !dst->source && !dst->node->has_segment(s->segment.header.number)) {
          const TimeUs age = e.t - s->segment.header.created_us;
          if (cfg_.cut_through) {
            const uint32_t n = s->segment.header.number;
            dst->arr[n % 64].num = n + 1;
            dst->arr[n % 64].head_at = msg_head_[e.msg];
            dst->arr[n % 64].done_at = e.t;
          }
          arrival_hist_[size_t(
              std::clamp<TimeUs>(age / 1000, 0, TimeUs(arrival_hist_.size() - 1)))]++;
          const bool pushed =
              dst->node->parent(s->segment.header.number % cfg_.node.substreams) == e.b;
          if (pushed) ++arrivals_pushed_;
          if (dbg_) {
            const int cls = (pushed ? 0 : 1) + ((e.t - dst->joined) < 10'000'000 ? 2 : 0) +
                            (dst->joined >= warmup_ ? 4 : 0);
            dbg_arr_[cls].push_back(float(age / 1000));
            const int h = std::min(30, int(s->segment.header.hops) + 1);
            dbg_lag_[h] += double(age) / 1000.0;
            dbg_n_[h]++;
          }
        }
        if (dst->id == trace_)
          std::fprintf(stderr, "%.3f in from %u msg %zu n %u\n", double(e.t) / 1e6, e.b, m.index(),
                       is_media(m) ? std::get<SegmentMsg>(m).segment.header.number
                       : std::holds_alternative<Request>(m) ? std::get<Request>(m).base
                                                            : 0u);
        dst->node->on_message(e.b, m, e.t);
        // The tracker learns at once that a viewer holds data (real viewers report it then).
        if (const uint32_t sl = slot_of(dst->id);
            !dst->source && !with_data_.contains(sl) && dst->node->holds_data())
          with_data_.insert(sl, dst->id);
        drain(*dst, e.t);
      }
      free_msg(e.msg);
      break;
    }
    case EvType::kTimer: {
      Peer* p = alive_peer(e.a);
      if (p && p->timer_at == e.t) {
        p->timer_at = -1;
        p->node->on_timer(e.t);
        drain(*p, e.t);
      }
      break;
    }
    case EvType::kPublish: {
      Peer& src = peers_[0];
      Segment seg;
      seg.header.stream_id = kStreamId;
      seg.header.number = next_number_++;
      seg.header.created_us = e.t;
      seg.header.size = seg_bytes_;
      for (Segment& stripe : split_stripes(seg, cfg_.node.substreams)) {
        mac_.sign(stripe);
        src.node->publish_segment(std::move(stripe), e.t);
      }
      ++r_.segments_published;
      for (uint32_t j = 0; j < cfg_.node.substreams; ++j)
        r_.source_max_subscribers =
            std::max<uint64_t>(r_.source_max_subscribers, src.node->children(j));
      drain(src, e.t);
      if (e.t + seg_us_ <= end_) push(e.t + seg_us_, EvType::kPublish, 0);
      break;
    }
    case EvType::kJoin:
      spawn_viewer(e.a, e.t, e.b != 0);
      break;
    case EvType::kLeave: {
      const uint32_t s = slot_of(e.a);
      if (alive_peer(e.a)) leave(s, e.t);
      break;
    }
    case EvType::kConnected: {
      Peer* a = alive_peer(e.b);  // initiator
      Peer* b = alive_peer(e.a);
      if (!a) break;
      if (!b) {
        a->node->partner_left(e.a, e.t);
        drain(*a, e.t);
        break;
      }
      b->node->partner_connected(a->id, e.t);
      const bool accepted = b->node->is_partner(a->id);
      drain(*b, e.t);
      if (accepted) {
        a->node->partner_connected(b->id, e.t);
        const bool a_refused = !a->node->is_partner(b->id);
        drain(*a, e.t);
        if (a_refused) {
          b->node->partner_left(a->id, e.t);
          drain(*b, e.t);
        }
      } else {
        a->node->partner_left(b->id, e.t);
      }
      drain(*a, e.t);
      break;
    }
    case EvType::kPartnerLeft: {
      Peer* p = alive_peer(e.a);
      if (p) {
        p->node->partner_left(e.b, e.t);
        drain(*p, e.t);
      }
      break;
    }
    case EvType::kCandidates: {
      Peer* p = alive_peer(e.a);
      if (p) {
        tracker_reply(*p, e.t);
        drain(*p, e.t);
      }
      break;
    }
    case EvType::kProgress: {
      std::fprintf(stderr, "sim: t=%.0fs events=%llu queue=%zu msgs=%zu\n", double(e.t) / 1e6,
                   (unsigned long long)r_.events, q_.size(), msgs_.size());
      if (e.t + 10'000'000 <= end_) push(e.t + 10'000'000, EvType::kProgress, 0);
      break;
    }
  }
}

Dist dist_from_hist(const std::vector<uint64_t>& h, double scale) {
  Dist d;
  for (auto c : h) d.count += c;
  if (d.count == 0) return d;
  const uint64_t i50 = (d.count - 1) / 2, i95 = uint64_t(double(d.count - 1) * 0.95);
  uint64_t acc = 0;
  bool got50 = false, got95 = false;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i] == 0) continue;
    acc += h[i];
    if (!got50 && acc > i50) d.p50 = double(i) * scale, got50 = true;
    if (!got95 && acc > i95) d.p95 = double(i) * scale, got95 = true;
    d.max = double(i) * scale;
  }
  return d;
}

Dist dist_from_values(std::vector<float> v) {
  Dist d;
  d.count = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  d.p50 = v[(v.size() - 1) / 2];
  d.p95 = v[size_t(double(v.size() - 1) * 0.95)];
  d.max = v.back();
  return d;
}

SimResult Simulator::run() {
  const uint32_t total_slots = cfg_.peers + 1;
  peers_.resize(total_slots);
  alive_.reset(total_slots);
  with_data_.reset(total_slots);
  // Source in slot 0 at the centre.
  {
    Peer& s = peers_[0];
    s.id = 0;
    s.source = true;
    ids_.push_back(IdInfo{0, 0.5f, 0.5f, true, false});
    s.upload_bps = uint64_t(cfg_.source_upload_x * double(cfg_.bitrate_kbps) * 1000.0);
    NodeConfig nc = cfg_.node;
    nc.self = 0;
    nc.is_source = true;
    nc.stream_id = kStreamId;
    nc.stream_bps = cfg_.bitrate_kbps * 1000;
    nc.segment_us = seg_us_;
    nc.upload_bps = s.upload_bps;
    nc.source_copies = cfg_.source_copies;
    nc.max_partners = cfg_.source_copies * nc.substreams + 8;
    nc.verifier = &mac_;
    nc.seed = cfg_.seed;
    s.node = std::make_unique<Node>(nc);
    s.node->use_outbox(&outbox_);
    s.node->start(0);
    drain(s, 0);
  }
  // Forgers: evenly spread over the join order.
  for (uint32_t i = 1; i <= cfg_.peers; ++i) {
    const TimeUs t = TimeUs((cfg_.join_start_s + rng_.uniform() * cfg_.join_spread_s) * 1e6);
    const bool forger = cfg_.forgers > 0 &&
                        (i % std::max<uint32_t>(1, cfg_.peers / cfg_.forgers)) == 0 &&
                        i / std::max<uint32_t>(1, cfg_.peers / cfg_.forgers) <= cfg_.forgers;
    push(t, EvType::kJoin, i, forger ? 1 : 0);
  }
  push(seg_us_, EvType::kPublish, 0);
  if (cfg_.progress) push(10'000'000, EvType::kProgress, 0);
  while (!q_.empty()) {
    const Ev e = q_.top();
    if (e.t > end_) break;
    q_.pop();
    ++r_.events;
    if (!q_.empty()) {
      // The next events' peers, nodes and messages are cold (random among 100k peers): fetch
      // them ahead in stages, each stage reading what the previous one fetched.
      q_.top();
      if (const Ev* id = q_.peek(kFetchId); id && id->a < ids_.size())
        __builtin_prefetch(&ids_[id->a]);
      if (const Ev* far = q_.peek(kFetchPeer)) {
        if (const uint32_t sl = slot_of(far->a); sl != kNoSlot) __builtin_prefetch(&peers_[sl]);
        if (EvType(far->type) == EvType::kDeliver) __builtin_prefetch(&msgs_[far->msg]);
      }
      if (const Ev* mid = q_.peek(kFetchNode))
        if (const uint32_t sl = slot_of(mid->a); sl != kNoSlot && peers_[sl].node)
          peers_[sl].node->prefetch();
      if (const Ev* near = q_.peek(kFetchSlot); near && EvType(near->type) == EvType::kDeliver)
        if (const uint32_t sl = slot_of(near->a); sl != kNoSlot && peers_[sl].node) {
          if (const auto* s = std::get_if<SegmentMsg>(&msgs_[near->msg]))
            peers_[sl].node->prefetch_segment(s->segment.header.number);
        }
    }
    handle(e);
  }
  if (dbg_) {
    // Tree shape at the end: per depth, viewers by upload class and their mean children.
    uint64_t cnt[20][3] = {}, kids[20][3] = {};
    for (auto& p : peers_) {
      if (!p.node || p.source) continue;
      const int cls = p.upload_bps < cfg_.bitrate_kbps * 1000       ? 0
                      : p.upload_bps < 3 * cfg_.bitrate_kbps * 1000 ? 1
                                                                    : 2;
      for (uint32_t j = 0; j < cfg_.node.substreams; ++j) {
        const int d = std::min<int>(19, p.node->depth(j));
        cnt[d][cls]++;
        kids[d][cls] += p.node->children(j);
      }
    }
    for (int d = 0; d < 20; ++d)
      std::fprintf(stderr, "depth %2d: slow %6llu (%.2f kids) mid %6llu (%.2f) fast %6llu (%.2f)\n",
                   d, (unsigned long long)cnt[d][0],
                   cnt[d][0] ? double(kids[d][0]) / cnt[d][0] : 0.0, (unsigned long long)cnt[d][1],
                   cnt[d][1] ? double(kids[d][1]) / cnt[d][1] : 0.0, (unsigned long long)cnt[d][2],
                   cnt[d][2] ? double(kids[d][2]) / cnt[d][2] : 0.0);
  }
  for (auto& p : peers_)
    if (p.node) collect(p, end_);
  const NodeStats& ss = peers_[0].node->stats();
  r_.source_upload_copies =
      ss.published_bytes ? double(ss.media_bytes_sent) / double(ss.published_bytes) : 0;
  r_.control_overhead = media_sent_ ? double(ctrl_sent_) / double(media_sent_) : 0;
  r_.retransmitted_ratio = media_sent_ ? double(retransmitted_bytes_) / double(media_sent_) : 0;
  r_.duplicate_ratio = media_recv_ ? double(dup_recv_) / double(media_recv_) : 0;
  r_.played = played_;
  r_.missed = missed_;
  r_.missed_unavailable = missed_unavailable_;
  r_.stalls = stalls_;
  r_.continuity = played_ + missed_ ? double(played_) / double(played_ + missed_) : 0;
  r_.lag_ms = dist_from_hist(lag_hist_, 1.0);
  r_.hops = dist_from_hist(hop_hist_, 1.0);
  r_.startup_ms = dist_from_values(startup_);
  r_.startup_ms_steady = dist_from_values(startup_steady_);
  r_.lag_ms_steady = dist_from_hist(lag_steady_hist_, 1.0);
  r_.arrival_ms = dist_from_hist(arrival_hist_, 1.0);
  r_.arrivals_pushed =
      r_.arrival_ms.count ? double(arrivals_pushed_) / double(r_.arrival_ms.count) : 0;
  if (media_sends_) {
    const double n = double(media_sends_) * 1000.0;
    r_.send_queue_ms = send_queue_us_ / n;
    r_.send_serialise_ms = send_serialise_us_ / n;
    r_.send_latency_ms = send_latency_us_ / n;
    r_.send_repair_ms = send_repair_us_ / n;
  }
  r_.warmup_s = double(warmup_) / 1e6;
  if (!final_delays_.empty()) {
    std::sort(final_delays_.begin(), final_delays_.end());
    r_.final_playout_delay_ms_p50 = final_delays_[(final_delays_.size() - 1) / 2];
  }
  return r_;
}

}  // namespace

SimResult run_simulation(const SimConfig& cfg) {
  Simulator s(cfg);
  SimResult r = s.run();
  s.dump_debug();
  return r;
}

}  // namespace meshcast::mesh::sim
