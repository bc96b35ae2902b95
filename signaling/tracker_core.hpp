// The tracker as a sans-IO state machine: connections feed it text frames and time, it returns
// the frames to send and the connections to close. TrackerServer wires it to libsoup; unit
// tests drive it directly.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mesh/base/time.hpp"
#include "mesh/base/token_bucket.hpp"
#include "signaling/cluster_event.hpp"
#include "signaling/identity_store.hpp"
#include "signaling/message_validator.hpp"
#include "signaling/stream_members.hpp"
#include "signaling/tracker_config.hpp"
#include "signaling/tracker_metrics.hpp"

namespace meshcast::signaling {

using ConnId = uint64_t;

struct CoreOutput {
  std::vector<std::pair<ConnId, std::string>> send;  // text frames, in order
  std::vector<ConnId> close;                         // close after sending
  // Cluster mode only (TrackerConfig::instance_id set): records to store and publish, frames
  // for peers on other instances (docs/protocol.md, "Tracker cluster").
  std::vector<ClusterEvent> cluster;
};

class TrackerCore {
 public:
  // `identities`: the name -> key bindings; nullptr = a fresh in-memory store.
  explicit TrackerCore(TrackerConfig config = {},
                       std::unique_ptr<IdentityStore> identities = nullptr);

  // A new WebSocket: answers with the welcome carrying the nonce its hello must sign.
  // `remote_ip`: the client's address as text (empty if unknown), for the per-address-group
  // limit in neighbour lists.
  void on_open(ConnId conn, TimeUs now, CoreOutput& out, std::string_view remote_ip = {});
  void on_text(ConnId conn, std::string_view text, TimeUs now, CoreOutput& out);
  void on_binary(ConnId conn, TimeUs now, CoreOutput& out);
  // The connection is gone: every trace of its peer is removed and partners are told.
  void on_close(ConnId conn, TimeUs now, CoreOutput& out);
  // Fires expired call invitations and closes connections that never said hello.
  void on_timer(TimeUs now, CoreOutput& out);
  // The single wake-up: the earliest deadline, absolute on the clock of `now` (none: idle).
  std::optional<TimeUs> next_deadline() const;

  // ---- cluster mode (tracker_core_cluster.cpp) ----
  // An event another instance published (or a record read back from Redis). Changes the
  // mirror of that instance's share and tells local peers what concerns them.
  void on_cluster(const ClusterEvent& e, TimeUs now, CoreOutput& out);
  // Once a second: our heartbeat, and the instances not heard from for instance_timeout_ms are
  // dropped with all their peers. `link_up`: our own Redis link works (while it does not,
  // nobody is judged: the silence is ours).
  void cluster_tick(TimeUs now, bool link_up, CoreOutput& out);
  // Everything this instance owns, as records: written again after Redis lost them.
  std::vector<ClusterEvent> cluster_share() const;
  bool clustered() const { return !config_.instance_id.empty(); }
  const std::string& instance_id() const { return config_.instance_id; }
  std::size_t local_peer_count() const;
  std::size_t live_instances() const { return instance_seen_.size() + 1; }

  // Read-only views for HTTP (metrics, dashboard API) and tests.
  std::size_t peer_count() const { return peers_.size(); }
  std::size_t connection_count() const { return conns_.size(); }
  std::size_t stream_count() const { return streams_.size(); }
  std::size_t call_count() const { return calls_.size(); }
  bool has_peer(std::string_view id) const { return peers_.count(std::string(id)) > 0; }
  // The identity key `name` is bound to here (base64), if any.
  std::optional<std::string> bound_key(std::string_view name) const {
    return identities_->key_of(name);
  }
  // Peers whose connection dropped and who may still resume (within resume_grace_ms).
  std::size_t detached_count() const { return detach_deadlines_.size(); }
  // Times remove_peer found a member slot still pointing at the peer it erases (repaired by
  // a full walk; an invariant broke, see StreamMembers). Tests expect 0.
  std::size_t member_link_repairs() const { return member_link_repairs_; }
  const TrackerMetrics& metrics() const { return metrics_; }
  TrackerMetrics& metrics() { return metrics_; }
  std::string metrics_text() const;
  // GET /api/streams: one page of at most `limit` streams with names after `after`, plus
  // "next" when more follow. Private streams appear only when `key` is their view key.
  nlohmann::json api_streams(std::string_view key, std::string_view after = {},
                             std::size_t limit = 50) const;
  // GET /api/streams/NAME/overlay: one page of peers (ids after `after`); nullopt when there
  // is no such stream *or* it is private and `key` is not its view key (the same answer, so
  // outsiders cannot tell a private stream from none).
  std::optional<nlohmann::json> api_overlay(std::string_view name, std::string_view key,
                                            std::string_view after = {},
                                            std::size_t limit = 500) const;

 private:
  struct Partner {
    std::string id;
    std::string role;     // parent | child | pull
    int64_t rx_kbps = 0;  // what the reporter received from it (capped, see on_report)
  };
  struct Conn {
    TokenBucket bucket;
    TokenBucket error_bucket;
    std::string peer_id;  // empty until hello
    TimeUs opened = 0;
    std::string nonce;     // sent in welcome; the hello's identity_sig covers it
    std::string group;     // address group of the client (address_group())
    std::string claiming;  // cluster: the hello waits for the cluster to bind this name
  };
  enum class AcceptCalls { kNone, kAll, kList };
  struct Peer {
    // Read for every candidate of a join's neighbour window: kept together at the front, so
    // a candidate costs two cache lines of its peer, not five.
    std::string id;
    std::string group;  // address group of its connection
    int64_t upload_kbps = 0;
    // Upload confirmed by others: the sum of rx_kbps over the latest reports that name this
    // peer, from reporters outside its address group, and how many such reporters.
    int64_t confirmed_kbps = 0;
    TimeUs detached_until = -1;  // >= 0: connection lost, resumable until then
    int reported_children = 0;
    int pending_children = 0;  // suggestions handed out since the last report
    int confirmers = 0;
    // Stream member slots pointing at this peer (StreamMembers); 0 before it is erased.
    int member_slots = 0;
    ConnId conn = 0;
    std::string token_hash, role;
    std::string identity_key;  // proved in its hello (empty: none)
    std::string instance;      // cluster: the instance it is connected to; empty = this one
    TimeUs since = 0;
    AcceptCalls accept = AcceptCalls::kAll;
    std::set<std::string, std::less<>> allow;
    std::set<std::string> streams;  // member of (owned ones included)
    std::set<std::string> owned;
    std::set<std::string> calls;
    std::vector<Partner> partners;    // latest report
    std::set<std::string> listed_by;  // peers whose latest report names this one
    nlohmann::json stats = nlohmann::json::object();
    TimeUs reported = -1;  // last report; -1: none yet
    bool online() const { return detached_until < 0; }
  };
  struct Stream {
    std::string name, owner, public_key;
    std::string key_hash, secret_hash;  // secret_hash() of the view key and the owner secret
    nlohmann::json codec = nlohmann::json::object();
    int64_t bitrate_kbps = 1000;
    bool is_private = false;
    TimeUs created = 0;
    // peer id -> joined at; a member's slot points at its Peer while the peer is a member
    // (Peer::streams names the stream) or owns it. Large streams' windows rotate over it.
    StreamMembers<Peer> members;
  };
  struct Call {
    std::string id, caller, callee;
    bool accepted = false;
    TimeUs deadline = 0;
  };
  // Cluster: a hello proving a key for a name nobody has bound, waiting for the cluster's
  // verdict (Redis keeps the first binding of a name; tracker_core_cluster.cpp).
  struct PendingBind {
    ConnId conn = 0;
    Request req;
    std::string key;
    TimeUs deadline = 0;
  };
  bool is_local(const Peer& p) const { return p.instance.empty(); }
  bool owner_local(const Stream& s) const;
  ClusterPeer peer_record(const Peer& p) const;
  ClusterStream stream_record(const Stream& s, const std::string& by) const;
  // Records of what this instance owns changed: store and publish them.
  void publish_peer(const Peer& p, CoreOutput& out);
  void publish_stream(const Stream& s, const std::string& by, CoreOutput& out);
  void publish_call(const Call& c, CoreOutput& out);
  void publish(ClusterEvent e, CoreOutput& out);
  // A frame for one peer wherever it is connected (relays and call events): local peers get
  // it now, others through their instance. Frames derived from shared state (peer_left,
  // stream_ended, ...) are not sent this way: each instance derives them for its own peers.
  void deliver(const std::string& peer_id, std::string frame, CoreOutput& out);
  Peer& mirror_peer(const ClusterPeer& r, const std::string& instance, TimeUs now, CoreOutput& out);
  void apply_peer(const ClusterEvent& e, TimeUs now, CoreOutput& out);
  void apply_stream(const ClusterEvent& e, TimeUs now, CoreOutput& out);
  void apply_call(const ClusterEvent& e, TimeUs now);
  // A binding the cluster agreed on (published, read back, or the answer to our own claim):
  // stored here, a waiting hello for the name completed or refused, and a local peer holding
  // the name under another key disconnected (id_taken).
  void apply_identity(const ClusterEvent& e, TimeUs now, CoreOutput& out);
  void kick_unbound(const std::string& name, const std::string& key, TimeUs now, CoreOutput& out);
  // A new binding made by this instance: bound here at once while Redis is unreachable (or
  // when the cluster did not answer in time), otherwise asked for first (the hello waits).
  void claim_identity(Conn& c, ConnId conn, const Request& req, const std::string& id,
                      const std::string& key, TimeUs now, CoreOutput& out);
  void bind_here(ConnId conn, const Request& req, const std::string& id, const std::string& key,
                 TimeUs now, CoreOutput& out);
  void publish_identity(const std::string& name, const std::string& key, CoreOutput& out);
  void expire_claims(TimeUs now, CoreOutput& out);
  void drop_instance(const std::string& instance, CoreOutput& out);

  void dispatch(Conn& c, ConnId conn, const Request& req, TimeUs now, CoreOutput& out);
  void on_hello(Conn& c, ConnId conn, const Request& req, TimeUs now, CoreOutput& out);
  // The admitted hello: the peer is created and told its id and session token.
  void finish_hello(Conn& c, ConnId conn, const Request& req, const std::string& id,
                    const std::string& identity_key, TimeUs now, CoreOutput& out);
  void on_stream_create(Peer& p, const Request& req, TimeUs now, CoreOutput& out);
  void reclaim_stream(Peer& p, Stream& s, const Request& req, TimeUs now, CoreOutput& out);
  void on_stream_list(Peer& p, const Request& req, CoreOutput& out);
  void on_stream_describe(Peer& p, const Request& req, CoreOutput& out);
  void on_stream_update(Peer& p, const Request& req, CoreOutput& out);
  void on_stream_end(Peer& p, const Request& req, CoreOutput& out);
  void on_join(Peer& p, const Request& req, TimeUs now, bool joining, CoreOutput& out);
  void on_relay(Peer& p, const Request& req, CoreOutput& out);
  void on_call_invite(Peer& p, const Request& req, TimeUs now, CoreOutput& out);
  void on_call_answer(Peer& p, const Request& req, CoreOutput& out);
  void on_report(Peer& p, const Request& req, TimeUs now, CoreOutput& out);

  void remove_peer(const std::string& id, CoreOutput& out);
  // The connection is gone but the peer may come back with its token: keep everything, route
  // nothing to it, forget it at the deadline.
  void detach_peer(Peer& p, TimeUs now, CoreOutput& out);
  nlohmann::json hello_limits() const;
  nlohmann::json ice_servers_for(const std::string& peer_id) const;
  bool resume_peer(Conn& c, ConnId conn, const Request& req, TimeUs now, CoreOutput& out);
  // The peer with this id if it is connected now (not detached).
  Peer* online_peer(const std::string& id);
  // Removes every member except the owner (view key rotated: nobody has proved the new key).
  std::size_t revoke_members(Stream& s, const std::string& keep, const std::string& reason,
                             CoreOutput& out);
  void end_stream(const std::string& name, const std::string& reason, CoreOutput& out,
                  const std::string& ender);
  void end_call(const std::string& call_id, CoreOutput& out);
  void set_partners(Peer& p, std::vector<Partner> partners);
  const std::string& group_of(const Peer& p) const;
  bool trusted(const Peer& q, const Stream& s, TimeUs joined) const;
  bool related(const Peer& a, const Peer& b) const;
  bool is_owner(const Peer& p, const Stream& s, const nlohmann::json& body) const;
  bool may_view(const Peer& p, const Stream& s, const nlohmann::json& body) const;
  nlohmann::json describe(const Stream& s) const;
  nlohmann::json neighbours_for(const Peer& p, Stream& s, const nlohmann::json& body);
  void send_to_peer(const std::string& peer_id, const nlohmann::json& msg, CoreOutput& out);
  void reply(ConnId conn, const Request& req, nlohmann::json body, CoreOutput& out);
  void error(ConnId conn, const char* code, std::string message, const Request* req,
             CoreOutput& out, TimeUs now);
  void error(ConnId conn, ProtocolError e, CoreOutput& out, TimeUs now);

  TrackerConfig config_;
  // The config's durations against `now`, converted from their ms once.
  TimeUs hello_timeout_ = 0;
  TimeUs resume_grace_ = 0;
  TimeUs trust_after_ = 0;
  TimeUs instance_timeout_ = 0;
  TimeUs cluster_bind_timeout_ = 0;
  TrackerMetrics metrics_;
  std::unordered_map<ConnId, Conn> conns_;
  std::unordered_map<std::string, Peer> peers_;
  std::map<std::string, Stream> streams_;
  std::unordered_map<std::string, Call> calls_;
  std::set<std::pair<TimeUs, std::string>> call_deadlines_;
  std::set<std::pair<TimeUs, ConnId>> hello_deadlines_;
  std::set<std::pair<TimeUs, std::string>> detach_deadlines_;
  std::map<std::string, PendingBind> pending_binds_;  // name -> the hello waiting for it
  std::set<std::pair<TimeUs, std::string>> bind_deadlines_;
  // Records of remote peers holding the name of a local peer under another key, until the
  // binding is settled (at most one per local peer).
  std::map<std::string, ClusterEvent> race_records_;
  TimeUs last_now_ = 0;
  std::size_t member_link_repairs_ = 0;
  std::vector<const StreamMembers<Peer>::Member*> window_;  // neighbours_for's scratch
  bool applying_ = false;  // inside on_cluster / on_timer: shared changes are not re-published
  std::map<std::string, TimeUs> instance_seen_;  // other live instances -> last heard
  bool link_was_down_ = true;
  bool link_up_ = false;  // as of the last cluster_tick
  std::unique_ptr<IdentityStore> identities_;
};

}  // namespace meshcast::signaling
