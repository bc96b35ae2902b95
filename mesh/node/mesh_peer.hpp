// MeshPeer: the mesh core (sans-IO) driven over Links (real PeerLinks) on the GLib loop.
// It turns core outputs into link set-up (offer/answer through signaling), SRTP
// media chunks, SRTCP control packets and timers, and link events back into core
// inputs. Signaling is abstract so the tracker client, tests and the swarm share it.
#pragma once
#include <glib.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mesh/base/time.hpp"
#include "mesh/core/chunk_relay.hpp"
#include "mesh/core/node.hpp"
#include "mesh/core/reassembler.hpp"
#include "mesh/link/certificate.hpp"
#include "mesh/link/impairment.hpp"
#include "mesh/link/link_types.hpp"
#include "mesh/node/attack_hooks.hpp"
#include "mesh/node/link.hpp"
#include "mesh/node/nack_tracker.hpp"
#include "mesh/node/peer_ids.hpp"
#include "mesh/node/peer_link_adapter.hpp"
#include "mesh/node/resend_history.hpp"
#include "mesh/node/uplink_estimator.hpp"
#include "mesh/node/uplink_probe.hpp"
#include "mesh/node/upload_pacer.hpp"
#include "mesh/node/wire.hpp"

namespace meshcast::node {

// What a MeshPeer needs from signaling.
class PeerSignaling {
 public:
  virtual ~PeerSignaling() = default;
  virtual void send_relay(const std::string& to, const std::string& kind,
                          const nlohmann::json& payload) = 0;
  // Ask the tracker for more neighbours (it answers through MeshPeer::add_neighbours).
  virtual void request_neighbours(const std::vector<std::string>& exclude) = 0;
  virtual void report_forger(const std::string& peer) = 0;
};

struct MeshPeerConfig {
  std::string self_id;
  // The stream owner's id (the tracker's join answer): the only partner believed to be the
  // source. Empty: nobody is (the source itself, or a test without one).
  std::string source_id;
  mesh::NodeConfig core;  // core.self is set from self_id
  link::LinkConfig link;
  // Microseconds on a clock the broadcaster shares (real time on one machine).
  std::function<int64_t()> clock = [] { return g_get_real_time(); };
  // Microseconds on this process's monotonic clock: the node's own timing (chunk NACKs and
  // resends, pacing, cut-through, uplink samples), apart from the core's shared clock above.
  std::function<int64_t()> monotonic_us = [] { return meshcast::monotonic_us(); };
  // Makes the link to each partner: a real PeerLink unless a test passes in-memory links.
  LinkFactory link_factory = &PeerLinkAdapter::create;
  // Test helper only: misbehaviour for attack tests (AttackHooks). Off: none.
  AttackConfig attack;
  // Pass a segment's verified chunks on to its first child while it still arrives
  // (mesh::ChunkRelay); other children get it whole. Off: store and forward.
  bool cut_through = true;
  // Upload capacity to pace sends to (0: send at once). Set it to the uplink's rate so the
  // queue builds here, where pushes to children and control overtake pull answers.
  uint64_t pace_bps = 0;
  // Estimate the upload the uplink really carries from what the links see (UplinkEstimator:
  // keepalive RTT growth, partners' NACKs, the rate that left) and give the core
  // min(declared budget, estimate); sends are paced to it. Off: the declared budget holds.
  bool estimate_upload = false;
};

// Bytes over the links by the route ICE chose, live and closed links together: how much of
// the traffic a TURN server carried.
struct RouteBytes {
  uint64_t direct_sent = 0, direct_received = 0;
  uint64_t relayed_sent = 0, relayed_received = 0;
};

// The uplink estimate as the last sample saw it.
struct UploadEstimate {
  bool active = false;
  uint64_t budget_bps = 0;      // what the core uses
  int64_t queue_delay_us = -1;  // least RTT rise over the links (-1: no RTT yet)
  double sent_bps = 0;
  double loss = 0;  // NACKed share of the chunks sent
  uint32_t cuts = 0;
  uint64_t probed_bps = 0;  // the uplink as a probe train measured it (0: not measured)
};

struct PartnerInfo {
  std::string id;
  bool connected = false;
  uint16_t parent_mask = 0;  // sub-streams this partner pushes to us
  bool child = false;        // we push at least one sub-stream to it
  double rtt_ms = -1;
  uint64_t media_bytes_received = 0;  // segment messages from this partner, since linked
  std::string route = "none";         // link::LinkRoute::kind(): direct | relayed | none
};

// What a peer's buffers hold now; each has one bound, owned where it is filled.
struct MeshPeerBuffers {
  size_t links = 0;
  size_t resend_bytes_max = 0;    // the fullest link's resend history
  size_t resend_bytes_total = 0;  // summed over links
  size_t partials = 0;            // partly received messages being tracked for NACKs
  size_t cut_through = 0;         // incoming messages being relayed chunk by chunk
  size_t cut_sent = 0;            // segment numbers remembered as passed on by cut-through
  size_t names = 0;               // peer ids known by name
  size_t banned = 0;
  size_t paced_bytes = 0;  // queued in the upload pacer
};

struct MeshPeerCounters {
  uint64_t links_opened = 0;
  uint64_t links_failed = 0;
  uint64_t decode_errors = 0;  // malformed chunks / messages from partners
  uint64_t send_failures = 0;
  uint64_t forgers_reported = 0;
  uint64_t nacks_sent = 0;            // chunk NACKs for partly received messages
  uint64_t chunks_resent = 0;         // chunks sent again on a partner's NACK
  uint64_t nacks_for_queued = 0;      // NACKed chunks not sent again: still queued here
  uint64_t cut_through_segments = 0;  // segments passed on chunk by chunk while arriving
  uint64_t cut_through_chunks = 0;
  uint64_t pull_answers_refused = 0;  // pacing: bulk level full (the puller asks again)
  uint64_t paced_max_queued_bytes = 0;
  uint64_t paced_evicted = 0;  // queued packets dropped by the pacer's bounds (age, bytes)
  uint64_t chunks_sent = 0;    // RTP chunks handed to links or the pacer (not resends)
  uint64_t uplink_probes = 0;  // probe trains sent (UplinkProbe)
  uint64_t probe_replies = 0;  // marks of partners' trains answered
};

class MeshPeer {
 public:
  // A whole segment (joined from its stripes) and the signed stripes it came in.
  using PlayFn = std::function<void(const mesh::Segment& seg,
                                    std::span<const mesh::Segment> stripes, int64_t play_at_us)>;

  MeshPeer(GMainContext* ctx, MeshPeerConfig config, PeerSignaling& signaling,
           std::shared_ptr<link::Certificate> cert);
  ~MeshPeer();
  MeshPeer(const MeshPeer&) = delete;
  MeshPeer& operator=(const MeshPeer&) = delete;

  void start();
  // Sends Bye and closes every link; the peer is inert afterwards.
  void stop();

  // From signaling.
  void on_relay(const std::string& from, const std::string& kind, const nlohmann::json& payload);
  void add_neighbours(const std::vector<std::string>& ids);
  void on_peer_left(const std::string& id);

  // Source only: a segment enters the mesh as K stripes, each signed by `signer`.
  void publish(const mesh::Segment& seg, const mesh::SegmentSigner& signer);

  void set_on_play(PlayFn fn) { on_play_ = std::move(fn); }
  // Once, when the first verified stripe is in (the tracker sends joiners to peers with data).
  void set_on_first_data(std::function<void()> fn) { on_first_data_ = std::move(fn); }
  bool holds_data() const { return core_.holds_data(); }
  // Segment number skipped (incomplete at its deadline).
  void set_on_missed(std::function<void(uint32_t)> fn) { on_missed_ = std::move(fn); }
  // Applied to what every current and future link receives, so a peer with loss P
  // loses P of the packets sent to it, whoever sends them.
  void set_impairment(const link::Impairment& imp);

  const mesh::NodeStats& stats() const { return core_.stats(); }
  const mesh::Node& core() const { return core_; }
  // The core's id for a partner's name (tests, introspection).
  std::optional<mesh::PeerId> core_id(const std::string& name) const { return ids_.find(name); }
  const MeshPeerCounters& counters() const { return counters_; }
  std::vector<PartnerInfo> partners() const;
  const std::string& id() const { return cfg_.self_id; }
  // Peers caught sending a forged segment: dropped, and their offers refused from then on.
  bool is_banned(const std::string& id) const { return banned_.count(id) > 0; }
  size_t banned_count() const { return banned_.size(); }
  MeshPeerBuffers buffers() const;
  // Bounds of the buffers a MeshPeer owns (the resend history and pacer own theirs).
  static constexpr size_t kMaxPartials = 16;   // per link
  static constexpr size_t kMaxCutThrough = 4;  // per link
  static constexpr size_t kMaxCutSent = 256;
  static constexpr size_t kMaxNames = 4096;
  static constexpr size_t kMaxBanned = 4096;
  static constexpr size_t kMaxPendingAnswers = 8;      // answered offers not yet connected
  static constexpr uint64_t kBelievedUploadRatio = 4;  // = a viewer's default upload budget
  // Bytes on the wire (SRTP/SRTCP incl. keepalives) summed over all links, live and closed.
  uint64_t wire_bytes_sent() const;
  uint64_t pace_rate() const;  // with the uplink estimate on
  RouteBytes route_bytes() const;
  UploadEstimate upload_estimate() const;

 private:
  struct LinkEntry {
    std::string id;
    mesh::PeerId pid = mesh::kNoPeer;
    uint64_t media_rx = 0;      // bytes of segment messages received (reported to the tracker)
    uint64_t rtt_samples = 0;   // the link's RTT sample count when it last moved ...
    int64_t rtt_sample_us = 0;  // ... and when (monotonic)
    std::unique_ptr<Link> link;
    bool offerer = false;
    bool description_sent = false;
    bool connected = false;
    bool told_core = false;
    std::vector<std::string> early_candidates;  // gathered before the description went out
    RtpWriter rtp;
    mesh::Reassembler reassembler;
    uint32_t next_msg_id = 1;
    ResendHistory resend;             // for chunks the partner NACKs
    NackTracker nacks{kMaxPartials};  // partly received messages: chunks to ask again
    // Incoming segment messages being passed on while they arrive (by message id).
    struct CutThrough {
      std::optional<mesh::ChunkRelay> relay;  // freed once it has nothing more to pass on
      bool asked = false;                     // the core was asked for a child
      mesh::PeerId to = mesh::kNoPeer;        // the child being fed
      uint32_t out_id = 0;                    // message id on the child's link
    };
    std::map<uint32_t, CutThrough> cut;
    // A partner's probe train being received, and the answers it got lately (bounded).
    uint32_t probe_train = 0;
    std::vector<bool> probe_seen;
    uint16_t probe_received = 0;
    int64_t probe_window_us = 0;
    uint32_t probe_replies = 0;
  };

  // The core's id for a name (kNoPeer if the name table is full of names in use).
  mesh::PeerId pid_for(const std::string& id);
  const std::string* name_of(mesh::PeerId pid) const;
  // An incoming message as far as it is believed (false: as it came): redirects and a
  // subscribe's complaint, which carry peers as hashes of their names, translated to our
  // ids; a Hello doubted.
  bool believed(mesh::PeerId from, std::span<const uint8_t> msg,
                std::vector<uint8_t>& rewritten) const;
  // Peer ids in a Reject's redirects or a Subscribe's complaint, as the wire names them.
  void ids_to_wire(mesh::Message& m) const;
  // The reverse, as our ids (false: nothing to translate).
  bool ids_from_wire(mesh::Message& m) const;
  // is_source only from source_id, upload clamped to kBelievedUploadRatio x the stream rate.
  bool doubt_hello(mesh::PeerId from, mesh::Hello& h) const;
  LinkEntry* entry(mesh::PeerId pid);
  LinkEntry* create_link(const std::string& id, bool offerer);
  void send_description(LinkEntry& e, const char* kind);
  void on_link_state(mesh::PeerId pid, link::LinkState st, const std::string& reason);
  void on_link_rtp(mesh::PeerId pid, const uint8_t* data, size_t len);
  void on_link_rtcp(mesh::PeerId pid, const uint8_t* data, size_t len);
  void drop_link(mesh::PeerId pid, bool tell_peer);
  void deliver(mesh::PeerId from, std::span<const uint8_t> msg);
  void send_message(mesh::PeerId to, const mesh::Message& m, uint8_t priority = 0);
  // Every packet leaves through here: at once, or through the pacer when pacing.
  // False if nothing left or was queued (no link, or the pacer's bulk level was full).
  bool transmit(LinkEntry& e, UploadPacer::Kind kind, uint32_t ts, std::span<const uint8_t> bytes,
                uint8_t priority);
  bool send_now(LinkEntry& e, UploadPacer::Kind kind, uint32_t ts, std::span<const uint8_t> bytes);
  // Sends what the pacer released into paced_out_ (links closed meanwhile take nothing).
  void send_released();
  void flush_paced();
  static gboolean on_pace_timer(gpointer self);
  void drain();
  // The message as it goes on the wire (peer ids as the wire names them).
  void encode_for_wire(const mesh::Message& m, std::vector<uint8_t>& out) const;
  void arm_timer(int64_t at_us);
  static gboolean on_timer_cb(gpointer self);
  void arm_nack_timer();
  static gboolean on_nack_timer(gpointer self);
  void handle_nack(LinkEntry& e, const ChunkNack& nack);
  void cut_through(LinkEntry& e, uint32_t msg_id, std::span<const uint8_t> chunk);
  void retire(std::unique_ptr<Link> link);
  static gboolean on_estimate_timer(gpointer self);
  void sample_uplink();
  // Uplink probe (UplinkProbe): one train at a time to a connected partner, a few tries.
  void maybe_probe_uplink();
  void finish_probe();
  void give_up_probe();  // start from the estimator's guess
  // The pacer's rate and the core's budget follow the estimator.
  void apply_estimate();
  void on_probe(LinkEntry& e, const ProbePacket& p);
  void on_probe_reply(mesh::PeerId from, const ProbeReply& r);

  GMainContext* ctx_;
  MeshPeerConfig cfg_;
  PeerSignaling& sig_;
  std::shared_ptr<link::Certificate> cert_;
  PeerIds ids_;  // before core_: the core is built with our own id
  mesh::Node core_;
  PlayFn on_play_;
  std::vector<mesh::Segment> playing_stripes_;  // of the segment being handed to on_play_
  std::function<void(uint32_t)> on_missed_;
  std::function<void()> on_first_data_;
  bool had_data_ = false;
  link::Impairment impairment_;
  bool started_ = false;
  bool stopped_ = false;
  bool draining_ = false;

  void ban(mesh::PeerId pid);

  std::unordered_set<std::string> banned_;  // sent a forged segment: never again
  std::deque<std::string> banned_order_;    // oldest ban first, forgotten beyond kMaxBanned
  std::map<mesh::PeerId, LinkEntry> links_;
  std::vector<std::unique_ptr<Link>> retired_;  // destroyed from an idle source
  guint retire_source_ = 0;
  GSource* timer_ = nullptr;
  guint nack_timer_ = 0;
  UploadPacer pacer_;
  GSource* pace_timer_ = nullptr;
  std::vector<UploadPacer::Packet> paced_out_;
  int64_t timer_at_ = -1;
  MeshPeerCounters counters_;
  uint64_t closed_wire_bytes_ = 0;
  RouteBytes closed_route_bytes_;
  std::optional<UplinkEstimator> estimator_;
  UplinkProbe probe_;
  mesh::PeerId probe_to_ = mesh::kNoPeer;  // the partner the train in flight went to
  uint32_t probe_train_ = 0;
  std::vector<mesh::PeerId> probed_;     // partners tried (each once)
  int64_t first_probe_us_ = 0;           // when the first train left
  bool probe_done_ = true;               // until an estimator waits for one
  std::unique_ptr<AttackHooks> attack_;  // test-only misbehaviour; null in production
  GSource* estimate_timer_ = nullptr;    // repeating: one sample per kEstimateIntervalMs
  uint32_t ssrc_;
  std::vector<uint8_t> encode_buf_, msg_buf_;
  std::vector<std::vector<uint8_t>> chunks_;
  // Segment number -> the child it is passed to chunk by chunk; once every chunk went, the
  // core's push of the whole segment to that child is skipped.
  struct CutSent {
    mesh::PeerId to = mesh::kNoPeer;
    bool complete = false;
  };
  std::map<uint32_t, CutSent> cut_sent_;
};

}  // namespace meshcast::node
