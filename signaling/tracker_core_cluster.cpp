// TrackerCore in cluster mode (docs/protocol.md, "Tracker cluster"). Every instance mirrors the
// whole directory: its own peers and streams, plus records the other instances publish. An
// instance's word counts only for what it owns (its connected peers, the streams their owners
// hold, calls of its peers); events for peers are derived locally by each instance from the
// shared changes, except frames addressed to one peer (relays, call events), which travel to
// that peer's instance.
#include <algorithm>

#include "signaling/protocol_error.hpp"
#include "signaling/random_token.hpp"
#include "signaling/tracker_core.hpp"

namespace meshcast::signaling {

using nlohmann::json;

std::size_t TrackerCore::local_peer_count() const {
  if (!clustered()) return peers_.size();
  return static_cast<std::size_t>(std::count_if(
      peers_.begin(), peers_.end(), [](auto& kv) { return kv.second.instance.empty(); }));
}

bool TrackerCore::owner_local(const Stream& s) const {
  auto o = peers_.find(s.owner);
  return o == peers_.end() || is_local(o->second);
}

// ---- what this instance publishes -------------------------------------------------------

void TrackerCore::publish(ClusterEvent e, CoreOutput& out) {
  e.instance = config_.instance_id;
  out.cluster.push_back(std::move(e));
}

ClusterPeer TrackerCore::peer_record(const Peer& p) const {
  ClusterPeer r;
  r.id = p.id;
  r.role = p.role;
  r.group = p.group;
  r.token_hash = p.token_hash;
  r.identity_key = p.identity_key;
  r.upload_kbps = p.upload_kbps;
  r.away = !p.online();
  r.accept = p.accept == AcceptCalls::kAll    ? "all"
             : p.accept == AcceptCalls::kNone ? "none"
                                              : "list";
  r.allow.assign(p.allow.begin(), p.allow.end());
  for (auto& name : p.streams)
    if (auto st = streams_.find(name); st != streams_.end())
      if (auto* m = st->second.members.find(p.id))
        r.streams.emplace_back(name, us_to_ms(m->joined));
  for (auto& x : p.partners) r.partners.push_back({x.id, x.role, x.rx_kbps});
  return r;
}

ClusterStream TrackerCore::stream_record(const Stream& s, const std::string& by) const {
  ClusterStream r;
  r.name = s.name;
  r.owner = s.owner;
  r.public_key = s.public_key;
  r.key_hash = s.key_hash;
  r.secret_hash = s.secret_hash;
  r.by = by;
  r.codec = s.codec;
  r.bitrate_kbps = s.bitrate_kbps;
  r.is_private = s.is_private;
  r.created_ms = us_to_ms(s.created);
  return r;
}

void TrackerCore::publish_peer(const Peer& p, CoreOutput& out) {
  if (!clustered() || !is_local(p)) return;
  ClusterEvent e;
  e.type = ClusterEventType::kPeer;
  e.peer = peer_record(p);
  publish(std::move(e), out);
}

void TrackerCore::publish_stream(const Stream& s, const std::string& by, CoreOutput& out) {
  if (!clustered() || !owner_local(s)) return;
  ClusterEvent e;
  e.type = ClusterEventType::kStream;
  e.stream = stream_record(s, by);
  publish(std::move(e), out);
}

void TrackerCore::publish_call(const Call& c, CoreOutput& out) {
  if (!clustered() || applying_) return;
  ClusterEvent e;
  e.type = ClusterEventType::kCall;
  e.call = {c.id, c.caller, c.callee, c.accepted,
            us_to_ms(std::max<TimeUs>(0, c.deadline - last_now_))};
  publish(std::move(e), out);
}

void TrackerCore::deliver(const std::string& peer_id, std::string frame, CoreOutput& out) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end() || !it->second.online()) return;
  if (is_local(it->second)) {
    out.send.emplace_back(it->second.conn, std::move(frame));
    return;
  }
  ClusterEvent e;
  e.type = ClusterEventType::kDeliver;
  e.target = it->second.instance;
  e.to = peer_id;
  e.frame = std::move(frame);
  publish(std::move(e), out);
}

std::vector<ClusterEvent> TrackerCore::cluster_share() const {
  std::vector<ClusterEvent> share;
  if (!clustered()) return share;
  auto add = [&](ClusterEvent e) {
    e.instance = config_.instance_id;
    share.push_back(std::move(e));
  };
  // Every binding this instance knows, its own and those heard of: whoever writes a name
  // first after Redis lost them keeps it (HSETNX), and all instances hold the same ones.
  identities_->for_each([&](const std::string& name, const std::string& key) {
    ClusterEvent e;
    e.type = ClusterEventType::kIdentity;
    e.name = name;
    e.key = key;
    add(std::move(e));
  });
  // Streams first: the peer records name them.
  for (auto& [name, s] : streams_)
    if (owner_local(s)) {
      ClusterEvent e;
      e.type = ClusterEventType::kStream;
      e.stream = stream_record(s, "");
      add(std::move(e));
    }
  for (auto& [id, p] : peers_)
    if (is_local(p)) {
      ClusterEvent e;
      e.type = ClusterEventType::kPeer;
      e.peer = peer_record(p);
      add(std::move(e));
    }
  for (auto& [id, c] : calls_) {
    auto a = peers_.find(c.caller);
    if (a == peers_.end() || !is_local(a->second)) continue;  // the caller's instance owns it
    ClusterEvent e;
    e.type = ClusterEventType::kCall;
    e.call = {c.id, c.caller, c.callee, c.accepted,
              us_to_ms(std::max<TimeUs>(0, c.deadline - last_now_))};
    add(std::move(e));
  }
  return share;
}

// ---- what other instances tell us -------------------------------------------------------

void TrackerCore::on_cluster(const ClusterEvent& e, TimeUs now, CoreOutput& out) {
  if (!clustered()) return;
  if (e.type == ClusterEventType::kIdentity) {
    // Not an instance's word but Redis's: ours too (the answer to our own claim), and from
    // instances long gone (bindings outlive them), so it tells nothing about liveness.
    last_now_ = now;
    return apply_identity(e, now, out);
  }
  if (e.instance == config_.instance_id) return;  // our own echo
  last_now_ = now;
  instance_seen_[e.instance] = now;
  applying_ = true;
  switch (e.type) {
    case ClusterEventType::kHeartbeat:
      break;
    case ClusterEventType::kInstanceDown:
      if (e.name == config_.instance_id) {
        // Declared dead while alive (our link was cut): our records are written again.
        for (auto& x : cluster_share()) out.cluster.push_back(std::move(x));
      } else {
        drop_instance(e.name, out);
      }
      break;
    case ClusterEventType::kPeer:
      apply_peer(e, now, out);
      break;
    case ClusterEventType::kPeerGone:
      // A held-back record of a name race: its instance let the peer go (it lost the name).
      if (auto r = race_records_.find(e.name);
          r != race_records_.end() && r->second.instance == e.instance)
        race_records_.erase(r);
      // Only its home removes a peer: a late word of the instance it left counts for nothing.
      if (auto it = peers_.find(e.name); it != peers_.end() && it->second.instance == e.instance)
        remove_peer(e.name, out);
      break;
    case ClusterEventType::kStream:
      apply_stream(e, now, out);
      break;
    case ClusterEventType::kStreamEnd:
      if (auto it = streams_.find(e.name); it != streams_.end()) {
        auto o = peers_.find(it->second.owner);
        if (o == peers_.end() || o->second.instance == e.instance)
          end_stream(e.name, e.reason, out, "");
      }
      break;
    case ClusterEventType::kCall:
      apply_call(e, now);
      break;
    case ClusterEventType::kCallEnd:
      end_call(e.name, out);
      break;
    case ClusterEventType::kDeliver:
      if (auto it = peers_.find(e.to);
          it != peers_.end() && is_local(it->second) && it->second.online())
        out.send.emplace_back(it->second.conn, e.frame);
      break;
    case ClusterEventType::kIdentity:
      break;  // handled above
  }
  applying_ = false;
}

TrackerCore::Peer& TrackerCore::mirror_peer(const ClusterPeer& r, const std::string& instance,
                                            TimeUs now, CoreOutput& out) {
  auto [it, fresh] = peers_.try_emplace(r.id);
  Peer& p = it->second;
  if (fresh) {
    p.id = r.id;
    p.since = now;
  } else if (is_local(p)) {
    // It resumed on another instance (ours lost it, or it moved): that one is its home now.
    if (p.online()) {
      if (auto c = conns_.find(p.conn); c != conns_.end()) {
        c->second.peer_id.clear();
        out.close.push_back(p.conn);
      }
    } else {
      detach_deadlines_.erase({p.detached_until, p.id});
    }
    p.conn = 0;
    p.instance = instance;
    // What we stored of it is stale now: deleted. The others ignore these two (an instance's
    // word counts only for what it owns, and it is not ours any more).
    for (auto& name : p.owned) {
      ClusterEvent end;
      end.type = ClusterEventType::kStreamEnd;
      end.name = name;
      end.reason = "moved";
      publish(std::move(end), out);
    }
    ClusterEvent gone;
    gone.type = ClusterEventType::kPeerGone;
    gone.name = p.id;
    publish(std::move(gone), out);
  }
  p.instance = instance;
  return p;
}

void TrackerCore::apply_peer(const ClusterEvent& e, TimeUs now, CoreOutput& out) {
  const ClusterPeer& r = e.peer;
  if (auto it = peers_.find(r.id); it != peers_.end() && is_local(it->second) &&
                                   !it->second.identity_key.empty() && !r.identity_key.empty() &&
                                   it->second.identity_key != r.identity_key) {
    // Two instances admitted the name under two keys (bound while Redis was away): not a
    // move. The binding Redis keeps decides (apply_identity); the record waits for it.
    race_records_[r.id] = e;
    return;
  }
  if (auto it = peers_.find(r.id); it == peers_.end() && peers_.size() >= config_.max_peers) return;
  Peer& p = mirror_peer(r, e.instance, now, out);
  p.role = r.role;
  p.group = r.group;
  p.token_hash = r.token_hash;
  p.identity_key = r.identity_key;
  p.upload_kbps = r.upload_kbps;
  p.accept = r.accept == "none"   ? AcceptCalls::kNone
             : r.accept == "list" ? AcceptCalls::kList
                                  : AcceptCalls::kAll;
  p.allow = {r.allow.begin(), r.allow.end()};
  const bool was_online = p.online();
  p.detached_until = r.away ? 0 : -1;
  if (was_online && r.away) {
    const json ev = {{"type", "peer_left"}, {"peer_id", p.id}, {"reason", "disconnected"}};
    for (auto& other : p.listed_by) send_to_peer(other, ev, out);
  }
  // Memberships: the record is the whole list.
  std::set<std::string> now_in;
  for (auto& [name, joined] : r.streams) {
    auto st = streams_.find(name);
    if (st == streams_.end()) continue;  // ended meanwhile
    now_in.insert(name);
    st->second.members.insert(p.id, ms_to_us(joined), &p);
    p.streams.insert(name);
    if (st->second.owner == p.id) p.owned.insert(name);
  }
  for (auto it = p.streams.begin(); it != p.streams.end();) {
    if (now_in.count(*it)) {
      ++it;
      continue;
    }
    // The owner stays a member of its stream; its slot stops pointing at it, since a slot is
    // linked only while Peer::streams names the stream (StreamMembers).
    if (auto st = streams_.find(*it); st != streams_.end()) {
      if (st->second.owner != p.id)
        st->second.members.erase(p.id);
      else
        st->second.members.unlink(p.id);
    }
    it = p.streams.erase(it);
  }
  std::vector<Partner> parts;
  for (auto& x : r.partners)
    if (x.id != p.id && peers_.count(x.id)) parts.push_back({x.id, x.role, x.rx_kbps});
  set_partners(p, std::move(parts));
}

void TrackerCore::apply_stream(const ClusterEvent& e, TimeUs now, CoreOutput& out) {
  const ClusterStream& r = e.stream;
  // An instance speaks for the streams whose owner it holds.
  auto owner = peers_.find(r.owner);
  if (owner != peers_.end() && owner->second.instance != e.instance) return;
  auto it = streams_.find(r.name);
  if (it == streams_.end()) {
    if (streams_.size() >= config_.max_streams) return;
    it = streams_.emplace(r.name, Stream{}).first;
    it->second.name = r.name;
    it->second.created = now;
  }
  Stream& s = it->second;
  if (s.owner != r.owner) {
    if (auto old = peers_.find(s.owner); old != peers_.end()) old->second.owned.erase(s.name);
    s.owner = r.owner;
  }
  if (owner != peers_.end()) {
    owner->second.owned.insert(s.name);
    owner->second.streams.insert(s.name);
    s.members.insert(r.owner, now, &owner->second);
  }
  const bool rotated = r.is_private && (!s.is_private || r.key_hash != s.key_hash);
  const bool fresh = s.secret_hash.empty();
  s.public_key = r.public_key;
  s.key_hash = r.key_hash;
  s.secret_hash = r.secret_hash;
  s.codec = r.codec;
  s.bitrate_kbps = r.bitrate_kbps;
  s.is_private = r.is_private;
  if (rotated && !fresh) revoke_members(s, r.by, "view_key_changed", out);
  if (fresh) return;
  const json ev = {{"type", "stream_updated"}, {"name", s.name}, {"stream", describe(s)}};
  for (auto& m : s.members)
    if (m.id() != r.by) send_to_peer(m.id(), ev, out);
}

void TrackerCore::apply_call(const ClusterEvent& e, TimeUs now) {
  const ClusterCall& r = e.call;
  auto a = peers_.find(r.caller), b = peers_.find(r.callee);
  if (a == peers_.end() || b == peers_.end()) return;
  auto [it, fresh] = calls_.try_emplace(r.id);
  Call& c = it->second;
  if (!fresh) call_deadlines_.erase({c.deadline, c.id});
  c.id = r.id;
  c.caller = r.caller;
  c.callee = r.callee;
  c.accepted = r.accepted;
  c.deadline = now + ms_to_us(r.remaining_ms);
  if (!c.accepted) call_deadlines_.insert({c.deadline, c.id});
  a->second.calls.insert(c.id);
  b->second.calls.insert(c.id);
}

void TrackerCore::drop_instance(const std::string& instance, CoreOutput& out) {
  instance_seen_.erase(instance);
  std::erase_if(race_records_, [&](auto& kv) { return kv.second.instance == instance; });
  std::vector<std::string> gone;
  for (auto& [id, p] : peers_)
    if (p.instance == instance) gone.push_back(id);
  for (auto& id : gone) remove_peer(id, out);
}

void TrackerCore::cluster_tick(TimeUs now, bool link_up, CoreOutput& out) {
  if (!clustered()) return;
  last_now_ = now;
  link_up_ = link_up;
  if (!link_up) {
    link_was_down_ = true;
    return;
  }
  if (link_was_down_) {
    // Nobody could be heard while we could not hear: everyone gets a fresh timeout.
    for (auto& [_, seen] : instance_seen_) seen = now;
    link_was_down_ = false;
  }
  ClusterEvent hb;
  hb.type = ClusterEventType::kHeartbeat;
  publish(std::move(hb), out);
  std::vector<std::string> dead;
  for (auto& [inst, seen] : instance_seen_)
    if (now - seen > instance_timeout_) dead.push_back(inst);
  for (auto& inst : dead) {
    applying_ = true;
    drop_instance(inst, out);
    applying_ = false;
    ClusterEvent down;
    down.type = ClusterEventType::kInstanceDown;
    down.name = inst;
    publish(std::move(down), out);
  }
}

// ---- identity bindings ------------------------------------------------------------------
// A name is bound cluster-wide to the first key Redis stored for it (HSETNX on
// meshcast:identities): the instance whose write created the field publishes the binding,
// one whose write found the field taken reads the stored binding back, so every instance ends
// up with the one Redis kept, whichever order the events arrive in.

void TrackerCore::publish_identity(const std::string& name, const std::string& key,
                                   CoreOutput& out) {
  ClusterEvent e;
  e.type = ClusterEventType::kIdentity;
  e.name = name;
  e.key = key;
  publish(std::move(e), out);
}

void TrackerCore::claim_identity(Conn& c, ConnId conn, const Request& req, const std::string& id,
                                 const std::string& key, TimeUs now, CoreOutput& out) {
  if (identities_->full())
    return error(conn, err::kLimitReached, "the tracker's identity store is full", &req, out, now);
  if (!link_up_) return bind_here(conn, req, id, key, now, out);
  c.claiming = id;
  const TimeUs deadline = now + cluster_bind_timeout_;
  pending_binds_[id] = PendingBind{conn, req, key, deadline};
  bind_deadlines_.insert({deadline, id});
  publish_identity(id, key, out);
}

void TrackerCore::bind_here(ConnId conn, const Request& req, const std::string& id,
                            const std::string& key, TimeUs now, CoreOutput& out) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  c->second.claiming.clear();
  if (auto bound = identities_->key_of(id); bound && *bound != key)
    return error(conn, err::kIdTaken, "peer id '" + id + "' belongs to another identity key", &req,
                 out, now);
  if (!identities_->key_of(id) && identities_->bind(id, key) != IdentityStore::Bind::kBound)
    return error(conn, err::kLimitReached, "the tracker could not store the binding", &req, out,
                 now);
  if (peers_.count(id))  // someone took the id (without a key) while we waited
    return error(conn, err::kDuplicatePeerId, "peer id '" + id + "' is taken", &req, out, now);
  // Offered to the cluster again: Redis may still keep another key; then apply_identity
  // disconnects this peer.
  publish_identity(id, key, out);
  finish_hello(c->second, conn, req, id, key, now, out);
}

void TrackerCore::expire_claims(TimeUs now, CoreOutput& out) {
  while (!bind_deadlines_.empty() && bind_deadlines_.begin()->first <= now) {
    const std::string id = bind_deadlines_.begin()->second;
    bind_deadlines_.erase(bind_deadlines_.begin());
    auto it = pending_binds_.find(id);
    if (it == pending_binds_.end()) continue;
    PendingBind pb = std::move(it->second);
    pending_binds_.erase(it);
    // No verdict in time (the link went down meanwhile): served from here, like everything
    // else while Redis is away.
    bind_here(pb.conn, pb.req, id, pb.key, now, out);
  }
}

void TrackerCore::apply_identity(const ClusterEvent& e, TimeUs now, CoreOutput& out) {
  const auto prior = identities_->key_of(e.name);
  const bool changed = !prior || *prior != e.key;
  // Beyond the store's bound a binding heard of is not kept (a new name with a key is refused
  // here anyway: limit_reached).
  const bool stored = !changed || identities_->rebind(e.name, e.key) == IdentityStore::Bind::kBound;
  if (auto it = pending_binds_.find(e.name); it != pending_binds_.end()) {
    PendingBind pb = std::move(it->second);
    bind_deadlines_.erase({pb.deadline, e.name});
    pending_binds_.erase(it);
    auto c = conns_.find(pb.conn);
    if (c != conns_.end()) {
      c->second.claiming.clear();
      if (pb.key != e.key)
        error(pb.conn, err::kIdTaken,
              "peer id '" + e.name + "' belongs to another identity key (bound first elsewhere)",
              &pb.req, out, now);
      else if (!stored)
        error(pb.conn, err::kLimitReached, "the tracker's identity store is full", &pb.req, out,
              now);
      else if (peers_.count(e.name))
        error(pb.conn, err::kDuplicatePeerId, "peer id '" + e.name + "' is taken", &pb.req, out,
              now);
      else
        finish_hello(c->second, pb.conn, pb.req, e.name, e.key, now, out);
    }
  }
  // A held-back record of the loser: its own instance disconnects it.
  if (auto r = race_records_.find(e.name);
      r != race_records_.end() && r->second.peer.identity_key != e.key)
    race_records_.erase(r);
  // Ours lost: once it is removed, the winner's held-back record is mirrored (remove_peer).
  if (changed) kick_unbound(e.name, e.key, now, out);
}

void TrackerCore::kick_unbound(const std::string& name, const std::string& key, TimeUs now,
                               CoreOutput& out) {
  // A local peer admitted under another key (or none) lost the name: two instances bound it
  // at the same moment, or while Redis was away. It is told why and disconnected.
  auto p = peers_.find(name);
  if (p == peers_.end() || !is_local(p->second) || p->second.identity_key == key) return;
  if (p->second.online()) {
    const ConnId conn = p->second.conn;
    error(conn, err::kIdTaken,
          "peer id '" + name + "' belongs to another identity key (bound first elsewhere)", nullptr,
          out, now);
    out.close.push_back(conn);
  }
  remove_peer(name, out);
}

}  // namespace meshcast::signaling
