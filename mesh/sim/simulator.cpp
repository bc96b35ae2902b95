#include "mesh/sim/simulator.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <thread>
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

// Partition events touch one peer (its partition's); global events (tracker, joins,
// departures, progress) may touch any and run alone, between windows.
// What a joining viewer is (kJoin's b).
enum class JoinKind : uint32_t { kHonest, kForger, kSybil };
// What a sybil declares, in stream rates: the most MeshPeer believes of anyone.
constexpr double kSybilUploadX = 4.0;

enum class EvType : uint8_t {
  kDeliver,
  kTimer,
  kPublish,
  kJoin,       // global; a = slot
  kLeave,      // global
  kConnected,  // at the target a: initiator b asks to connect
  kPartnerLeft,
  kCandidates,     // global
  kProgress,       // global
  kConnectResult,  // at the initiator a: target b accepted (msg != 0) or not
};

bool is_global(EvType t) {
  return t == EvType::kJoin || t == EvType::kLeave || t == EvType::kCandidates ||
         t == EvType::kProgress;
}

using Ev = Event;

// Per peer id (ids are never reused): where its Peer lives and what senders need of it.
// Written only between windows, so every partition may read any entry.
struct IdInfo {
  uint32_t slot = kNoSlot;
  float x = 0, y = 0;
  bool alive = false;
  bool forger = false;
  bool sybil = false;  // holds data, accepts partners and children, never sends a segment
};

// A slot's current peer (null node: the slot's viewer has not joined yet). Its id's position,
// liveness and forger flag are in its IdInfo. Aligned so that neighbouring slots, which
// belong to different partitions (threads), never share a cache line.
struct alignas(64) Peer {
  std::unique_ptr<Node> node;
  PeerId id = kNoPeer;
  bool source = false;
  bool data_reported = false;  // the tracker was told it holds data
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

// What one partition measures (summed over partitions at the end).
struct Metrics {
  std::vector<uint64_t> lag_hist, hop_hist, lag_steady_hist;
  std::vector<uint64_t> arrival_hist;  // creation -> first complete receipt, per viewer
  uint64_t arrivals_pushed = 0;
  uint64_t media_sends = 0;
  double send_queue_us = 0, send_serialise_us = 0, send_latency_us = 0, send_repair_us = 0;
  std::vector<float> startup, startup_steady;
  std::vector<double> final_delays;
  uint64_t ctrl_sent = 0, media_sent = 0, media_recv = 0, dup_recv = 0;
  uint64_t played = 0, missed = 0, stalls = 0, missed_unavailable = 0;
  uint64_t retransmitted_bytes = 0;
  uint64_t pushed = 0, served = 0, requests = 0;  // debug output
  SimResult r;  // event and forgery counters, tree upkeep, extremes

  Metrics() {
    lag_hist.assign(120'001, 0);
    lag_steady_hist.assign(120'001, 0);
    arrival_hist.assign(120'001, 0);
    hop_hist.assign(256, 0);
  }
  void add(const Metrics& o) {
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
    pushed += o.pushed, served += o.served, requests += o.requests;
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
};

// An event for another partition, posted during a window and queued there before the next
// one (its time is at least one window ahead: the minimum link latency).
struct Mail {
  TimeUs t = 0;
  uint32_t a = 0, b = 0, flag = 0;
  EvType type = EvType::kDeliver;
  TimeUs head = 0;  // kDeliver: first piece's arrival (cut-through)
  Message msg;      // kDeliver only
};

// The peers of slots s with s % partitions == index, their events, message pool and
// metrics. Only the thread running the partition touches it during a window.
struct alignas(64) Partition {
  uint32_t index = 0;
  EventQueue q;
  uint64_t seq = 0;
  std::vector<Message> msgs;
  std::vector<uint32_t> free_msgs;
  std::vector<TimeUs> msg_head;  // per message slot: first piece's arrival at the receiver
  std::vector<Output> outbox;    // shared by the partition's nodes (drained after every input)
  Rng rng{0};                    // link loss
  std::vector<double> keep;      // P(no chunk lost) by chunk count
  Metrics m;
  std::vector<Ev> to_global;                           // global events posted during the window
  std::vector<PeerId> now_with_data;                   // viewers the tracker should learn hold data
  std::array<std::vector<std::vector<Mail>>, 2> mail;  // [window parity][target partition]
};

class Simulator {
 public:
  explicit Simulator(const SimConfig& c) : cfg_(c), rng_(c.seed), mac_(c.seed * 7919 + 17) {
    cfg_.node.substreams = std::clamp<uint32_t>(cfg_.node.substreams, 1, kMaxSubstreams);
    seg_us_ = TimeUs(cfg_.segment_ms) * 1000;
    seg_bytes_ = uint32_t(cfg_.bitrate_kbps * 1000 / 8 * cfg_.segment_ms / 1000);
    end_ = TimeUs(cfg_.duration_s * 1e6);
    warmup_ = TimeUs((cfg_.join_start_s + cfg_.join_spread_s + 10) * 1e6);
    // Windows: every event one partition posts to another is at least one minimum link
    // latency ahead, so partitions may run that far alone (conservative parallel DES).
    const TimeUs lookahead = TimeUs(cfg_.rtt_min_ms) * 500;
    parts_n_ = std::clamp<uint32_t>(cfg_.partitions, 1, 64);
    if (lookahead <= 0) parts_n_ = 1;
    tracker_rtt_ = std::max<TimeUs>(1000, TimeUs(cfg_.rtt_min_ms + cfg_.rtt_max_ms) * 500);
    window_ = parts_n_ > 1 ? std::min(lookahead, tracker_rtt_) : tracker_rtt_;
    const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
    threads_ = std::min(parts_n_, cfg_.threads ? cfg_.threads : cores);
    if (dbg_ || trace_ != kNoPeer) threads_ = 1;  // debug state is not per partition
  }

  SimResult run();
  uint32_t partitions() const { return parts_n_; }
  uint32_t threads() const { return threads_; }

 private:
  // --- events ---
  static void push_local(Partition& w, TimeUs t, EvType type, uint32_t a, uint32_t b = 0,
                         uint32_t msg = 0) {
    w.q.push(Ev{t, w.seq++, a, b, msg, uint8_t(type)});
  }
  void push_global(Ev e) {
    e.seq = gseq_++;
    global_.push_back(e);
    std::push_heap(global_.begin(), global_.end(), Later{});
  }
  struct Later {
    bool operator()(const Ev& x, const Ev& y) const {
      return x.t != y.t ? x.t > y.t : x.seq > y.seq;
    }
  };
  uint32_t slot_of(PeerId id) const { return id < ids_.size() ? ids_[id].slot : kNoSlot; }
  Partition& part_of_slot(uint32_t slot) { return parts_[slot % parts_n_]; }
  uint32_t part_index(PeerId id) const {
    const uint32_t s = slot_of(id);
    return s == kNoSlot ? 0 : s % parts_n_;
  }
  // An event without a message, from a handler running in partition w.
  void post(Partition& w, TimeUs t, EvType type, uint32_t a, uint32_t b = 0, uint32_t flag = 0) {
    if (is_global(type)) {
      if (serial_)
        push_global(Ev{t, 0, a, b, flag, uint8_t(type)});
      else
        w.to_global.push_back(Ev{t, 0, a, b, flag, uint8_t(type)});
      return;
    }
    const uint32_t target = part_index(a);
    if (serial_ || target == w.index)
      push_local(parts_[target], t, type, a, b, flag);
    else
      w.mail[parity_][target].push_back(Mail{t, a, b, flag, type, 0, Message{}});
  }
  // Message m from peer `from` reaches peer `to` at t (first piece at `head`).
  void post_message(Partition& w, TimeUs t, PeerId to, PeerId from, Message&& m, TimeUs head) {
    const uint32_t target = part_index(to);
    if (serial_ || target == w.index) {
      Partition& tp = parts_[target];
      push_local(tp, t, EvType::kDeliver, to, from, store_msg(tp, std::move(m), head));
    } else {
      w.mail[parity_][target].push_back(Mail{t, to, from, 0, EvType::kDeliver, head, std::move(m)});
    }
  }
  // Queue what other partitions posted to w in the previous window.
  void take_mail(Partition& w, uint32_t parity) {
    for (Partition& s : parts_) {
      auto& box = s.mail[parity][w.index];
      for (Mail& x : box) {
        const uint32_t mi =
            x.type == EvType::kDeliver ? store_msg(w, std::move(x.msg), x.head) : x.flag;
        push_local(w, x.t, x.type, x.a, x.b, mi);
      }
      box.clear();
    }
  }
  // What a sender needs of a receiver, without touching the receiver's (cold, large) Peer.
  const IdInfo* alive_info(PeerId id) const {
    return id < ids_.size() && ids_[id].alive ? &ids_[id] : nullptr;
  }
  Peer* alive_peer(PeerId id) {
    const IdInfo* i = alive_info(id);
    return i ? &peers_[i->slot] : nullptr;
  }
  static uint32_t store_msg(Partition& w, Message&& m, TimeUs head) {
    uint32_t i;
    if (!w.free_msgs.empty()) {
      i = w.free_msgs.back();
      w.free_msgs.pop_back();
      w.msgs[i] = std::move(m);
    } else {
      w.msgs.push_back(std::move(m));
      i = uint32_t(w.msgs.size() - 1);
      w.msg_head.resize(w.msgs.size());
    }
    w.msg_head[i] = head;
    return i;
  }
  static void free_msg(Partition& w, uint32_t i) {
    if (auto* s = std::get_if<SegmentMsg>(&w.msgs[i])) s->segment.payload.reset();
    w.free_msgs.push_back(i);
  }

  // --- network model ---
  TimeUs latency(const IdInfo& a, const IdInfo& b) const {
    const double dx = a.x - b.x, dy = a.y - b.y;
    const double d = std::sqrt(dx * dx + dy * dy) / std::sqrt(2.0);
    const double rtt_ms = cfg_.rtt_min_ms + (cfg_.rtt_max_ms - cfg_.rtt_min_ms) * d;
    return TimeUs(rtt_ms * 500.0);
  }

  void spawn_viewer(uint32_t slot, TimeUs now, JoinKind kind);
  void leave(uint32_t slot, TimeUs now);
  void drain(Partition& w, Peer& p, TimeUs now);
  void collect(const Peer& p, Metrics& m, TimeUs now);
  void tracker_reply(Peer& p, TimeUs now);
  void handle(Partition& w, const Ev& e);
  void handle_global(const Ev& e);
  void run_window(Partition& w, TimeUs until, uint32_t parity);
  void run_parallel(TimeUs until);
  void worker(uint32_t t);
  void end_window();

  SimConfig cfg_;
  Rng rng_;  // joins, lifetimes, tracker samples (global events only)
  SimMac mac_;
  TimeUs seg_us_ = 0, end_ = 0;
  uint32_t seg_bytes_ = 0;
  uint32_t parts_n_ = 1, threads_ = 1;
  TimeUs window_ = 0, tracker_rtt_ = 0;
  std::vector<Partition> parts_;
  std::vector<Ev> global_;  // heap of global events
  uint64_t gseq_ = 0;
  bool serial_ = true;   // between windows (global events, set-up): post straight to queues
  uint32_t parity_ = 0;  // of the current window (mail boxes)
  // Window hand-off to worker threads.
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> go_{0};
  std::atomic<uint32_t> done_{0};
  TimeUs until_ = 0;
  bool stop_ = false;

  std::vector<Peer> peers_;  // slot 0 = source
  std::vector<IdInfo> ids_;  // peer id -> slot, position, alive
  IdSet alive_;              // viewers, for the tracker
  // Viewers that hold data (the tracker learns it from their reports): joiners in a crowd
  // need partners that already have data, and uniform samples rarely find the few early on.
  IdSet with_data_;
  std::vector<PeerId> scratch_ids_;
  uint32_t next_number_ = 0;  // source's (partition 0) next segment
  TimeUs warmup_ = 0;
  SimResult r_;    // counters of global events
  Metrics total_;  // partitions' metrics, summed at the end

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
  PeerId trace_ =
      getenv("MESHCAST_SIM_TRACE") ? PeerId(atoi(getenv("MESHCAST_SIM_TRACE"))) : kNoPeer;

 public:
  void dump_debug() {
    if (!dbg_) return;
    for (int i = 0; i < 10; ++i)
      std::fprintf(stderr, "ev type %d: %llu   msg type %d: %llu\n", i,
                   (unsigned long long)dbg_ev_[i], i, (unsigned long long)dbg_msg_[i]);
    std::fprintf(stderr, "pushed %llu served(pull) %llu requests %llu\n",
                 (unsigned long long)total_.pushed, (unsigned long long)total_.served,
                 (unsigned long long)total_.requests);
    for (int i = 0; i < 10; ++i)
      std::fprintf(stderr, "missed at age %d-%ds: %llu\n", 5 * i, 5 * i + 5,
                   (unsigned long long)dbg_miss_[i]);
    std::vector<float> v = total_.startup;
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

void Simulator::spawn_viewer(uint32_t slot, TimeUs now, JoinKind kind) {
  const bool forger = kind == JoinKind::kForger, sybil = kind == JoinKind::kSybil;
  Peer& p = peers_[slot];
  Partition& w = part_of_slot(slot);
  p = Peer();
  p.id = PeerId(ids_.size());
  const float x = float(rng_.uniform());
  const float y = float(rng_.uniform());
  ids_.push_back(IdInfo{slot, x, y, true, forger, sybil});
  double u = rng_.uniform(), mult = cfg_.upload_dist.back().second;
  for (auto& [frac, m] : cfg_.upload_dist) {
    if (u < frac) {
      mult = m;
      break;
    }
    u -= frac;
  }
  p.upload_bps = uint64_t(mult * double(cfg_.bitrate_kbps) * 1000.0);
  // A sybil declares the most real peers believe of anyone (MeshPeer clamps declarations).
  if (sybil) p.upload_bps = uint64_t(kSybilUploadX * double(cfg_.bitrate_kbps) * 1000.0);
  if (sybil && dbg_) std::fprintf(stderr, "sybil: id %u joined %.3f\n", p.id, double(now) / 1e6);
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
  p.node->use_outbox(&w.outbox);
  alive_.insert(slot, p.id);
  ++r_.viewers_joined;
  p.node->start(now);
  drain(w, p, now);
  if (cfg_.churn_lifetime_s > 0 && !forger && !sybil) {
    const TimeUs life = TimeUs(rng_.exponential(cfg_.churn_lifetime_s) * 1e6);
    if (now + life < end_) push_global(Ev{now + life, 0, p.id, 0, 0, uint8_t(EvType::kLeave)});
  }
}

void Simulator::collect(const Peer& p, Metrics& m, TimeUs now) {
  const NodeStats& s = p.node->stats();
  m.ctrl_sent += s.control_bytes_sent;
  m.media_sent += s.media_bytes_sent;
  m.media_recv += s.media_bytes_received;
  m.dup_recv += s.duplicate_bytes_received;
  m.pushed += s.segments_pushed;
  m.served += s.segments_served;
  m.requests += s.requests_sent;
  m.r.parents_lost += s.parents_lost;
  m.r.subtree_releases += s.subtree_releases;
  if (p.source) return;
  if (ids_[p.id].sybil) {  // the attackers' own playback is not the viewers'
    ++m.r.sybils;
    return;
  }
  if (s.played + s.missed >= 50)
    m.r.min_viewer_continuity =
        std::min(m.r.min_viewer_continuity, double(s.played) / double(s.played + s.missed));
  if (dbg_ && s.played + s.missed >= 50 && double(s.played) < 0.99 * double(s.played + s.missed))
    std::fprintf(stderr, "poor viewer: id %u joined %.3f played %llu missed %llu stalls %llu\n",
                 p.id, double(p.joined) / 1e6, (unsigned long long)s.played,
                 (unsigned long long)s.missed, (unsigned long long)s.stalls);
  m.played += s.played;
  m.missed += s.missed;
  m.missed_unavailable += s.missed_unavailable;
  m.stalls += s.stalls;
  if (s.first_play_at >= 0) {
    m.startup.push_back(float(double(s.first_play_at - s.started_at) / 1000.0));
    if (s.started_at >= warmup_) m.startup_steady.push_back(m.startup.back());
    if (dbg_)
      dbg_start_by_join_[std::min<size_t>(15, size_t(s.started_at / 1'000'000))].push_back(
          m.startup.back());
    if (dbg_ && s.first_play_at - s.started_at > 2'000'000 && dbg_slow_++ < 8)
      std::fprintf(stderr, "slow start: id %u joined %.3f first play %.3f\n", p.id,
                   double(s.started_at) / 1e6, double(s.first_play_at) / 1e6);
    m.final_delays.push_back(double(p.node->playout_delay()) / 1000.0);
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
    ++m.r.viewers_never_started;
    if (dbg_)
      std::fprintf(stderr, "never started: id %u joined %.3f partners %zu forger %d\n", p.id,
                   double(p.joined) / 1e6, p.node->partner_count(), int(ids_[p.id].forger));
  }
}

void Simulator::leave(uint32_t slot, TimeUs now) {
  Peer& p = peers_[slot];
  Partition& w = part_of_slot(slot);
  collect(p, w.m, now);
  ++r_.departures;
  for (PeerId q : p.node->partner_ids()) {
    if (alive_info(q)) post(w, now + TimeUs(cfg_.detect_s * 1e6), EvType::kPartnerLeft, q, p.id);
  }
  // Remove from the tracker.
  auto slot_of_id = [this](PeerId id) { return ids_[id].slot; };
  with_data_.erase(slot, slot_of_id);
  alive_.erase(slot, slot_of_id);
  ids_[p.id].alive = false;
  p.node.reset();
  spawn_viewer(slot, now, JoinKind::kHonest);  // keep N constant
}

void Simulator::tracker_reply(Peer& p, TimeUs now) {
  // Random viewers, preferring those with spare upload; the source while it has room for a
  // child, or for a partner while few viewers hold data (as the real tracker lists the
  // broadcaster while no viewer has earned its trust).
  scratch_ids_.clear();
  Peer& src = peers_[0];
  if (src.node->spare_slots() > 0 ||
      (src.node->has_partner_room() && with_data_.ids.size() < cfg_.tracker_candidates))
    scratch_ids_.push_back(src.id);
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

void Simulator::drain(Partition& w, Peer& p, TimeUs now) {
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
        if (media && self.sybil) break;  // as a sybil MeshPeer: nothing leaves
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
          if (chunks >= w.keep.size()) {  // P(no chunk lost), per chunk count
            for (size_t c = w.keep.size(); c <= chunks; ++c)
              w.keep.push_back(std::pow(1.0 - cfg_.loss, double(c)));
          }
          const double keep = w.keep[chunks];
          if (w.rng.uniform() >= keep) {
            if (!media || !cfg_.nack) break;  // control: one packet, recovered by timeouts
            // Chunk NACK (the link's reassembler reports missing chunks): each round costs
            // one RTT plus the resent chunk; the resent chunk may be lost again.
            int rounds = 1;
            while (rounds < 3 && w.rng.uniform() < cfg_.loss) ++rounds;
            if (rounds == 3 && w.rng.uniform() < cfg_.loss) break;  // give up: segment lost
            extra = rounds * (2 * latency(self, *dst) + chunk_us);
            lane += rounds * chunk_us;
            for (size_t l = level + 1; l < p.up_free.size(); ++l) p.up_free[l] += rounds * chunk_us;
            done_at += rounds * chunk_us;
            w.m.retransmitted_bytes += uint64_t(rounds) * kMaxChunkBytes;
          }
        }
        if (media && self.forger) std::get<SegmentMsg>(o.msg).segment.signature[3] ^= 0x5A;
        if (media) {  // where a hop's time goes (DESIGN: lag = hops x per-hop + playout)
          ++w.m.media_sends;
          w.m.send_queue_us += double(start - now);
          w.m.send_serialise_us += double(done_at - start);
          w.m.send_latency_us += double(latency(self, *dst));
          w.m.send_repair_us += double(extra);
        }
        const TimeUs lat = latency(self, *dst);
        TimeUs head = 0;
        if (cfg_.cut_through && media) {
          // When the receiver has the first piece (and all before it) and may pass it on.
          const size_t first =
              std::min(bytes, segment_head_bytes(std::get<SegmentMsg>(o.msg).segment.header.size) +
                                  kPieceBytes);
          head = start + TimeUs(double(first) * 8e6 / double(p.upload_bps)) + lat;
        }
        post_message(w, done_at + lat + extra, o.peer, p.id, std::move(o.msg), head);
        break;
      }
      case OutputKind::kConnect: {
        // Link set-up takes 3 one-way latencies (ICE + DTLS): the target decides after 2,
        // the initiator learns the answer one later.
        if (const IdInfo* dst = alive_info(o.peer))
          post(w, now + 2 * latency(self, *dst), EvType::kConnected, o.peer, p.id);
        else
          post(w, now + 3 * TimeUs(cfg_.rtt_max_ms) * 500, EvType::kConnectResult, p.id, o.peer);
        break;
      }
      case OutputKind::kDisconnect: {
        const IdInfo* dst = alive_info(o.peer);
        if (dst) post(w, now + latency(self, *dst), EvType::kPartnerLeft, o.peer, p.id);
        if (dst && dst->forger && o.reason == DisconnectReason::kForged)
          ++w.m.r.forger_links_dropped;
        break;
      }
      case OutputKind::kSetTimer:
        p.timer_at = o.at;
        push_local(w, o.at, EvType::kTimer, p.id);
        break;
      case OutputKind::kPlay: {
        const auto& seg = std::get<SegmentMsg>(o.msg).segment;
        if (!mac_.verify(seg)) ++w.m.r.forged_played;
        const TimeUs lag = o.at - seg.header.created_us;
        if (dbg_ && lag > 8'000'000 && dbg_slow_++ < 12)
          std::fprintf(stderr, "late play: id %u joined %.3f n %u at %.3f lag %.3f delay %.3f\n",
                       p.id, double(p.joined) / 1e6, o.number, double(o.at) / 1e6,
                       double(lag) / 1e6, double(p.node->playout_delay()) / 1e6);
        const size_t lb =
            size_t(std::clamp<TimeUs>(lag / 1000, 0, TimeUs(w.m.lag_hist.size() - 1)));
        w.m.lag_hist[lb]++;
        if (o.at >= warmup_) w.m.lag_steady_hist[lb]++;
        if (dbg_ && o.at >= warmup_)
          dbg_lag_by_group_[p.joined >= warmup_ ? 1 : 0].push_back(float(lag / 1000));
        w.m.hop_hist[seg.header.hops]++;
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
          ++w.m.r.forger_reports;
        else if (bad)
          ++w.m.r.honest_reported;
        break;
      }
      case OutputKind::kNeedNeighbours: {
        // Tracker round trip: modelled as one RTT at the middle of the range.
        post(w, now + tracker_rtt_, EvType::kCandidates, p.id);
        break;
      }
    }
  }
  out.clear();
}

void Simulator::handle(Partition& w, const Ev& e) {
  if (dbg_) {
    ++dbg_ev_[e.type];
    if (EvType(e.type) == EvType::kDeliver) ++dbg_msg_[w.msgs[e.msg].index()];
  }
  switch (EvType(e.type)) {
    case EvType::kDeliver: {
      Peer* dst = alive_peer(e.a);
      if (dst) {
        Message& m = w.msgs[e.msg];
        if (auto* s = std::get_if<SegmentMsg>(&m); s && cfg_.forgers > 0 && ids_[e.b].forger &&
                                                   !mac_.verify(s->segment) && !ids_[e.a].forger)
          ++w.m.r.forged_sent;
        if (auto* s = std::get_if<SegmentMsg>(&m);
            s && !dst->source && !dst->node->has_segment(s->segment.header.number)) {
          const TimeUs age = e.t - s->segment.header.created_us;
          if (cfg_.cut_through) {
            const uint32_t n = s->segment.header.number;
            dst->arr[n % 64].num = n + 1;
            dst->arr[n % 64].head_at = w.msg_head[e.msg];
            dst->arr[n % 64].done_at = e.t;
          }
          w.m.arrival_hist[size_t(
              std::clamp<TimeUs>(age / 1000, 0, TimeUs(w.m.arrival_hist.size() - 1)))]++;
          const bool pushed =
              dst->node->parent(s->segment.header.number % cfg_.node.substreams) == e.b;
          if (pushed) ++w.m.arrivals_pushed;
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
        // The tracker learns that a viewer holds data (real viewers report it then) once the
        // window ends.
        if (!dst->source && !dst->data_reported && dst->node->holds_data()) {
          dst->data_reported = true;
          w.now_with_data.push_back(dst->id);
        }
        drain(w, *dst, e.t);
      }
      free_msg(w, e.msg);
      break;
    }
    case EvType::kTimer: {
      Peer* p = alive_peer(e.a);
      if (p && p->timer_at == e.t) {
        p->timer_at = -1;
        p->node->on_timer(e.t);
        drain(w, *p, e.t);
      }
      break;
    }
    case EvType::kPublish: {
      Peer& src = peers_[0];  // slot 0: partition 0
      Segment seg;
      seg.header.stream_id = kStreamId;
      seg.header.number = next_number_++;
      seg.header.created_us = e.t;
      seg.header.size = seg_bytes_;
      for (Segment& stripe : split_stripes(seg, cfg_.node.substreams)) {
        mac_.sign(stripe);
        src.node->publish_segment(std::move(stripe), e.t);
      }
      ++w.m.r.segments_published;
      for (uint32_t j = 0; j < cfg_.node.substreams; ++j)
        w.m.r.source_max_subscribers =
            std::max<uint64_t>(w.m.r.source_max_subscribers, src.node->children(j));
      drain(w, src, e.t);
      if (e.t + seg_us_ <= end_) push_local(w, e.t + seg_us_, EvType::kPublish, 0);
      break;
    }
    case EvType::kConnected: {  // at the target a; b initiated
      const IdInfo* initiator = alive_info(e.b);
      Peer* target = alive_peer(e.a);
      if (!initiator) break;  // gone: nobody to answer
      const TimeUs back = e.t + latency(ids_[e.a], *initiator);
      if (!target) {
        post(w, back, EvType::kConnectResult, e.b, e.a, 0);
        break;
      }
      target->node->partner_connected(e.b, e.t);
      const bool accepted = target->node->is_partner(e.b);
      // Posted before the target's first messages to the initiator (same arrival time,
      // earlier in order), so that they find the link up.
      post(w, back, EvType::kConnectResult, e.b, e.a, accepted ? 1 : 0);
      drain(w, *target, e.t);
      break;
    }
    case EvType::kConnectResult: {  // at the initiator a; target b answered
      Peer* a = alive_peer(e.a);
      const IdInfo* target = alive_info(e.b);
      if (!a) {  // left meanwhile: an accepting target must learn it
        if (e.msg && target)
          post(w, e.t + latency(ids_[e.a], *target), EvType::kPartnerLeft, e.b, e.a);
        break;
      }
      if (!e.msg || !target) {
        a->node->partner_left(e.b, e.t);
        drain(w, *a, e.t);
        break;
      }
      a->node->partner_connected(e.b, e.t);
      const bool refused = !a->node->is_partner(e.b);
      drain(w, *a, e.t);
      if (refused) post(w, e.t + latency(ids_[e.a], *target), EvType::kPartnerLeft, e.b, e.a);
      break;
    }
    case EvType::kPartnerLeft: {
      Peer* p = alive_peer(e.a);
      if (p) {
        p->node->partner_left(e.b, e.t);
        drain(w, *p, e.t);
      }
      break;
    }
    default:
      break;  // global events never reach a partition
  }
}

void Simulator::handle_global(const Ev& e) {
  if (dbg_) ++dbg_ev_[e.type];
  switch (EvType(e.type)) {
    case EvType::kJoin:
      spawn_viewer(e.a, e.t, JoinKind(e.b));
      break;
    case EvType::kLeave: {
      const uint32_t s = slot_of(e.a);
      if (alive_peer(e.a)) leave(s, e.t);
      break;
    }
    case EvType::kCandidates: {
      Peer* p = alive_peer(e.a);
      if (p) {
        tracker_reply(*p, e.t);
        drain(part_of_slot(slot_of(e.a)), *p, e.t);
      }
      break;
    }
    case EvType::kProgress: {
      size_t queued = global_.size(), msgs = 0;
      uint64_t events = r_.events;
      for (const Partition& w : parts_) {
        queued += w.q.size();
        msgs += w.msgs.size();
        events += w.m.r.events;
      }
      std::fprintf(stderr, "sim: t=%.0fs events=%llu queue=%zu msgs=%zu\n", double(e.t) / 1e6,
                   (unsigned long long)events, queued, msgs);
      if (e.t + 10'000'000 <= end_)
        push_global(Ev{e.t + 10'000'000, 0, 0, 0, 0, uint8_t(EvType::kProgress)});
      break;
    }
    default:
      break;
  }
}

void Simulator::run_window(Partition& w, TimeUs until, uint32_t parity) {
  take_mail(w, parity ^ 1u);
  EventQueue& q = w.q;
  while (!q.empty()) {
    const Ev e = q.top();
    if (e.t >= until) break;
    q.pop();
    ++w.m.r.events;
    if (!q.empty()) {
      // The next events' peers, nodes and messages are cold (random among 100k peers): fetch
      // them ahead in stages, each stage reading what the previous one fetched.
      q.top();
      if (const Ev* id = q.peek(kFetchId); id && id->a < ids_.size())
        __builtin_prefetch(&ids_[id->a]);
      if (const Ev* far = q.peek(kFetchPeer)) {
        if (const uint32_t sl = slot_of(far->a); sl != kNoSlot) __builtin_prefetch(&peers_[sl]);
        if (EvType(far->type) == EvType::kDeliver) __builtin_prefetch(&w.msgs[far->msg]);
      }
      if (const Ev* mid = q.peek(kFetchNode))
        if (const uint32_t sl = slot_of(mid->a); sl != kNoSlot && peers_[sl].node)
          peers_[sl].node->prefetch();
      if (const Ev* near = q.peek(kFetchSlot); near && EvType(near->type) == EvType::kDeliver)
        if (const uint32_t sl = slot_of(near->a); sl != kNoSlot && peers_[sl].node) {
          if (const auto* s = std::get_if<SegmentMsg>(&w.msgs[near->msg]))
            peers_[sl].node->prefetch_segment(s->segment.header.number);
        }
    }
    handle(w, e);
  }
}

// Waits until `a` differs from `old`: spins first (windows are short), then sleeps.
template <class T>
T wait_change(const std::atomic<T>& a, T old) {
  for (int i = 0; i < 20000; ++i) {
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  for (;;) {
    a.wait(old, std::memory_order_acquire);
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
  }
}

void Simulator::worker(uint32_t t) {
  uint64_t seen = 0;
  for (;;) {
    seen = wait_change(go_, seen);
    if (stop_) return;
    for (uint32_t i = t; i < parts_n_; i += threads_) run_window(parts_[i], until_, parity_);
    done_.fetch_add(1, std::memory_order_acq_rel);
    done_.notify_one();
  }
}

// One window: every partition handles its events before `until`, in parallel.
void Simulator::run_parallel(TimeUs until) {
  serial_ = false;
  until_ = until;
  if (threads_ > 1) {
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_all();
  }
  for (uint32_t i = 0; i < parts_n_; i += threads_) run_window(parts_[i], until, parity_);
  if (threads_ > 1) {
    uint32_t d = done_.load(std::memory_order_acquire);
    while (d != threads_ - 1) d = wait_change(done_, d);
    done_.store(0, std::memory_order_relaxed);
  }
  serial_ = true;
}

// Between windows: what partitions posted for the tracker and the global queue.
void Simulator::end_window() {
  for (Partition& w : parts_) {
    for (const Ev& e : w.to_global) push_global(e);
    w.to_global.clear();
    for (PeerId id : w.now_with_data)
      if (alive_info(id) && !with_data_.contains(ids_[id].slot))
        with_data_.insert(ids_[id].slot, id);
    w.now_with_data.clear();
  }
  parity_ ^= 1u;
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
  parts_ = std::vector<Partition>(parts_n_);
  for (uint32_t i = 0; i < parts_n_; ++i) {
    Partition& w = parts_[i];
    w.index = i;
    w.rng = Rng(cfg_.seed * 0x5851F42D4C957F2Dull + 0x14057B7EF767814Full + i);
    for (auto& by_target : w.mail) by_target.resize(parts_n_);
  }
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
    s.node->use_outbox(&parts_[0].outbox);
    s.node->start(0);
    drain(parts_[0], s, 0);
  }
  // Forgers: evenly spread over the join order.
  for (uint32_t i = 1; i <= cfg_.peers; ++i) {
    const TimeUs t = TimeUs((cfg_.join_start_s + rng_.uniform() * cfg_.join_spread_s) * 1e6);
    const bool forger = cfg_.forgers > 0 &&
                        (i % std::max<uint32_t>(1, cfg_.peers / cfg_.forgers)) == 0 &&
                        i / std::max<uint32_t>(1, cfg_.peers / cfg_.forgers) <= cfg_.forgers;
    // Sybils: the first join slots, all joined within the first half second (the worst case: they
    // meet the source before any honest viewer does).
    const bool sybil = !forger && i <= cfg_.sybils;
    const TimeUs at = sybil ? TimeUs((cfg_.join_start_s + 0.5 * rng_.uniform()) * 1e6) : t;
    const JoinKind kind = forger ? JoinKind::kForger : sybil ? JoinKind::kSybil : JoinKind::kHonest;
    push_global(Ev{at, 0, i, uint32_t(kind), 0, uint8_t(EvType::kJoin)});
  }
  push_local(parts_[0], seg_us_, EvType::kPublish, 0);
  if (cfg_.progress) push_global(Ev{10'000'000, 0, 0, 0, 0, uint8_t(EvType::kProgress)});
  for (uint32_t t = 1; t < threads_; ++t) workers_.emplace_back(&Simulator::worker, this, t);
  // Windows up to the next global event and at most one lookahead long; global events run
  // alone between windows, at their exact time (before partition events of that time).
  for (TimeUs now = 0;;) {
    while (!global_.empty() && global_.front().t <= now && global_.front().t <= end_) {
      std::pop_heap(global_.begin(), global_.end(), Later{});
      const Ev e = global_.back();
      global_.pop_back();
      ++r_.events;
      handle_global(e);
    }
    if (now > end_) break;
    TimeUs until = std::min(end_ + 1, now + window_);
    if (!global_.empty()) until = std::min(until, global_.front().t);
    run_parallel(until);
    end_window();
    now = until;
  }
  stop_ = true;
  go_.fetch_add(1, std::memory_order_release);
  go_.notify_all();
  for (auto& t : workers_) t.join();
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
  for (uint32_t i = 0; i < total_slots; ++i)
    if (peers_[i].node) collect(peers_[i], part_of_slot(i).m, end_);
  Metrics& m = parts_[0].m;
  for (uint32_t i = 1; i < parts_n_; ++i) m.add(parts_[i].m);
  const uint64_t joined = r_.viewers_joined, departures = r_.departures;
  const uint64_t events = r_.events + m.r.events;
  r_ = m.r;
  r_.viewers_joined = joined;
  r_.departures = departures;
  r_.events = events;
  const NodeStats& ss = peers_[0].node->stats();
  r_.source_idle_children_replaced = ss.idle_children_replaced;
  r_.source_silent_children_replaced = ss.silent_children_replaced;
  r_.source_upload_copies =
      ss.published_bytes ? double(ss.media_bytes_sent) / double(ss.published_bytes) : 0;
  r_.control_overhead = m.media_sent ? double(m.ctrl_sent) / double(m.media_sent) : 0;
  r_.retransmitted_ratio = m.media_sent ? double(m.retransmitted_bytes) / double(m.media_sent) : 0;
  r_.duplicate_ratio = m.media_recv ? double(m.dup_recv) / double(m.media_recv) : 0;
  r_.played = m.played;
  r_.missed = m.missed;
  r_.missed_unavailable = m.missed_unavailable;
  r_.stalls = m.stalls;
  r_.continuity = m.played + m.missed ? double(m.played) / double(m.played + m.missed) : 0;
  r_.lag_ms = dist_from_hist(m.lag_hist, 1.0);
  r_.hops = dist_from_hist(m.hop_hist, 1.0);
  r_.startup_ms = dist_from_values(m.startup);
  r_.startup_ms_steady = dist_from_values(m.startup_steady);
  r_.lag_ms_steady = dist_from_hist(m.lag_steady_hist, 1.0);
  r_.arrival_ms = dist_from_hist(m.arrival_hist, 1.0);
  r_.arrivals_pushed =
      r_.arrival_ms.count ? double(m.arrivals_pushed) / double(r_.arrival_ms.count) : 0;
  if (m.media_sends) {
    const double n = double(m.media_sends) * 1000.0;
    r_.send_queue_ms = m.send_queue_us / n;
    r_.send_serialise_ms = m.send_serialise_us / n;
    r_.send_latency_ms = m.send_latency_us / n;
    r_.send_repair_ms = m.send_repair_us / n;
  }
  r_.warmup_s = double(warmup_) / 1e6;
  if (!m.final_delays.empty()) {
    std::sort(m.final_delays.begin(), m.final_delays.end());
    r_.final_playout_delay_ms_p50 = m.final_delays[(m.final_delays.size() - 1) / 2];
  }
  total_ = std::move(m);
  return r_;
}

}  // namespace

SimResult run_simulation(const SimConfig& cfg) {
  Simulator s(cfg);
  SimResult r = s.run();
  r.partitions = s.partitions();
  r.threads = s.threads();
  s.dump_debug();
  return r;
}

}  // namespace meshcast::mesh::sim
