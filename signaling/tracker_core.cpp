#include "signaling/tracker_core.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "signaling/identity_proof.hpp"
#include "signaling/neighbour_choice.hpp"
#include "signaling/protocol_error.hpp"
#include "signaling/protocol_limits.hpp"
#include "signaling/random_token.hpp"
#include "signaling/turn_credentials.hpp"

namespace meshcast::signaling {

using nlohmann::json;

namespace {

// Requests of one connection: at least one may always be saved up.
TokenBucket request_bucket(double rate_per_s, double burst, TimeUs now) {
  return TokenBucket(rate_per_s, std::max(burst, 1.0), now);
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string get_str(const json& body, const char* name, const std::string& def = "") {
  auto it = body.find(name);
  return (it != body.end() && it->is_string()) ? it->get<std::string>() : def;
}

int64_t get_int(const json& body, const char* name, int64_t def) {
  auto it = body.find(name);
  return (it != body.end() && it->is_number_integer()) ? it->get<int64_t>() : def;
}

}  // namespace

TrackerCore::TrackerCore(TrackerConfig config, std::unique_ptr<IdentityStore> identities)
    : config_(config),
      hello_timeout_(ms_to_us(config_.hello_timeout_ms)),
      resume_grace_(ms_to_us(config_.resume_grace_ms)),
      trust_after_(ms_to_us(config_.trust_after_ms)),
      instance_timeout_(ms_to_us(config_.instance_timeout_ms)),
      cluster_bind_timeout_(ms_to_us(config_.cluster_bind_timeout_ms)),
      identities_(std::move(identities)) {
  if (!identities_) {
    auto store = IdentityStore::open("", config_.max_identities);
    if (!store) throw std::runtime_error(store.error());
    identities_ = *std::move(store);
  }
}

// ---- plumbing -------------------------------------------------------------------------

void TrackerCore::reply(ConnId conn, const Request& req, json body, CoreOutput& out) {
  body["type"] = std::string(msg_type_name(req.type)) + "_ok";
  if (!req.id.is_null()) body["id"] = req.id;
  out.send.emplace_back(conn, dump(body));
}

void TrackerCore::error(ConnId conn, ProtocolError e, CoreOutput& out, TimeUs now) {
  metrics_.count_error(e.code);
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  // A flooding peer gets a bounded number of error replies: the rest are only counted.
  if (!it->second.error_bucket.take(1, now)) return;
  out.send.emplace_back(conn, dump(e.to_json()));
}

void TrackerCore::error(ConnId conn, const char* code, std::string message, const Request* req,
                        CoreOutput& out, TimeUs now) {
  ProtocolError e{code, std::move(message), req ? req->id : json(),
                  req ? msg_type_name(req->type) : ""};
  error(conn, std::move(e), out, now);
}

void TrackerCore::send_to_peer(const std::string& peer_id, const json& msg, CoreOutput& out) {
  // A detached peer misses events while away; on resume it asks again for what it needs.
  if (Peer* p = online_peer(peer_id)) out.send.emplace_back(p->conn, dump(msg));
}

TrackerCore::Peer* TrackerCore::online_peer(const std::string& id) {
  auto it = peers_.find(id);
  return it != peers_.end() && it->second.online() ? &it->second : nullptr;
}

// ---- connection events ------------------------------------------------------------------

void TrackerCore::on_open(ConnId conn, TimeUs now, CoreOutput& out, std::string_view remote_ip) {
  last_now_ = now;
  auto [it, fresh] =
      conns_.try_emplace(conn, Conn{request_bucket(config_.max_rate, config_.burst, now),
                                    request_bucket(config_.error_rate, config_.error_burst, now),
                                    {},
                                    now,
                                    random_token(16),
                                    address_group(remote_ip, config_.group_loopback),
                                    {}});
  if (fresh) out.send.emplace_back(conn, dump({{"type", "welcome"}, {"nonce", it->second.nonce}}));
  if (hello_timeout_ > 0) hello_deadlines_.insert({now + hello_timeout_, conn});
}

void TrackerCore::on_binary(ConnId conn, TimeUs now, CoreOutput& out) {
  last_now_ = now;
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  if (!it->second.bucket.take(1, now)) {
    error(conn, err::kRateLimited, "too many messages", nullptr, out, now);
    return;
  }
  metrics_.count_message("invalid");
  error(conn, err::kNotText, "binary frames are not part of the protocol", nullptr, out, now);
}

void TrackerCore::on_text(ConnId conn, std::string_view text, TimeUs now, CoreOutput& out) {
  last_now_ = now;
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  // Rate check before parsing: a flood costs us as little as possible.
  if (!c.bucket.take(1, now)) {
    error(conn, err::kRateLimited,
          "more than " + std::to_string(static_cast<int>(config_.max_rate)) + " messages/s",
          nullptr, out, now);
    return;
  }
  auto request = validate_message(text);
  if (!request) {
    metrics_.count_message("invalid");
    error(conn, std::move(request).error(), out, now);
    return;
  }
  metrics_.count_message(msg_type_name(request->type));
  const std::size_t first = out.send.size();
  dispatch(c, conn, *request, now, out);
  // Cost accounting: the request paid one token; everything it made us send (its reply, the
  // events and relays it caused) beyond reply_bytes_per_token costs one token per that many
  // bytes more. A 32-byte request can no longer buy 100 KB of output at the price of a ping.
  if (const std::size_t per = config_.reply_bytes_per_token; per > 0) {
    std::size_t bytes = 0;
    for (std::size_t i = first; i < out.send.size(); ++i) bytes += out.send[i].second.size();
    if (bytes > per) {
      if (auto again = conns_.find(conn); again != conns_.end())
        again->second.bucket.spend(static_cast<double>(bytes - per) / static_cast<double>(per),
                                   now);
    }
  }
}

void TrackerCore::on_close(ConnId conn, TimeUs now, CoreOutput& out) {
  last_now_ = now;
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  std::string peer = it->second.peer_id;
  hello_deadlines_.erase({it->second.opened + hello_timeout_, conn});
  // A claim already asked for stands (the key was proved); only the hello is forgotten.
  if (auto pb = pending_binds_.find(it->second.claiming);
      pb != pending_binds_.end() && pb->second.conn == conn) {
    bind_deadlines_.erase({pb->second.deadline, pb->first});
    pending_binds_.erase(pb);
  }
  conns_.erase(it);
  if (peer.empty()) return;
  if (resume_grace_ > 0)
    detach_peer(peers_.at(peer), now, out);
  else
    remove_peer(peer, out);
}

void TrackerCore::detach_peer(Peer& p, TimeUs now, CoreOutput& out) {
  p.detached_until = now + resume_grace_;
  p.conn = 0;
  detach_deadlines_.insert({p.detached_until, p.id});
  publish_peer(p, out);
  // Its partners hear at once that its tracker connection ended: usually a dead process, so
  // they drop their links to it now (a tracker outage sends nothing and cuts no link).
  const json ev = {{"type", "peer_left"}, {"peer_id", p.id}, {"reason", "disconnected"}};
  for (auto& other : p.listed_by) send_to_peer(other, ev, out);
}

void TrackerCore::on_timer(TimeUs now, CoreOutput& out) {
  last_now_ = now;
  while (!hello_deadlines_.empty() && hello_deadlines_.begin()->first <= now) {
    ConnId conn = hello_deadlines_.begin()->second;
    hello_deadlines_.erase(hello_deadlines_.begin());
    auto it = conns_.find(conn);
    // A hello waiting for the cluster is answered by expire_claims at the latest.
    if (it == conns_.end() || !it->second.peer_id.empty() || !it->second.claiming.empty()) continue;
    // Unregistered sockets cost memory and a poll slot each: do not let them linger.
    error(conn, err::kNotRegistered, "no hello in time; closing", nullptr, out, now);
    out.close.push_back(conn);
  }
  expire_claims(now, out);
  while (!detach_deadlines_.empty() && detach_deadlines_.begin()->first <= now) {
    std::string id = detach_deadlines_.begin()->second;
    detach_deadlines_.erase(detach_deadlines_.begin());
    remove_peer(id, out);  // grace over: its streams end, its calls and partners are told
  }
  // Every instance that knows a call times it out itself and tells its own party.
  applying_ = true;
  while (!call_deadlines_.empty() && call_deadlines_.begin()->first <= now) {
    std::string id = call_deadlines_.begin()->second;
    call_deadlines_.erase(call_deadlines_.begin());
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second.accepted) continue;
    Call call = it->second;
    send_to_peer(call.caller, {{"type", "call_timeout"}, {"call_id", id}, {"peer", call.callee}},
                 out);
    send_to_peer(call.callee, {{"type", "call_timeout"}, {"call_id", id}, {"peer", call.caller}},
                 out);
    end_call(id, out);
  }
  applying_ = false;
}

std::optional<TimeUs> TrackerCore::next_deadline() const {
  std::optional<TimeUs> d;
  if (!call_deadlines_.empty()) d = call_deadlines_.begin()->first;
  if (!hello_deadlines_.empty() && (!d || hello_deadlines_.begin()->first < *d))
    d = hello_deadlines_.begin()->first;
  if (!detach_deadlines_.empty() && (!d || detach_deadlines_.begin()->first < *d))
    d = detach_deadlines_.begin()->first;
  if (!bind_deadlines_.empty() && (!d || bind_deadlines_.begin()->first < *d))
    d = bind_deadlines_.begin()->first;
  return d;
}

void TrackerCore::dispatch(Conn& c, ConnId conn, const Request& req, TimeUs now, CoreOutput& out) {
  if (req.type == MsgType::kHello) return on_hello(c, conn, req, now, out);
  if (req.type == MsgType::kPing)
    return reply(conn, req, {{"now_ms", us_to_ms(now)}, {"wall_us", config_.wall_clock_us()}}, out);
  if (c.peer_id.empty()) {
    return error(conn, err::kNotRegistered, "send hello first", &req, out, now);
  }
  Peer& p = peers_.at(c.peer_id);
  switch (req.type) {
    case MsgType::kStreamCreate:
      return on_stream_create(p, req, now, out);
    case MsgType::kStreamList:
      return on_stream_list(p, req, out);
    case MsgType::kStreamDescribe:
      return on_stream_describe(p, req, out);
    case MsgType::kStreamUpdate:
      return on_stream_update(p, req, out);
    case MsgType::kStreamEnd:
      return on_stream_end(p, req, out);
    case MsgType::kJoin:
      return on_join(p, req, now, true, out);
    case MsgType::kNeighbours:
      return on_join(p, req, now, false, out);
    case MsgType::kRelay:
      return on_relay(p, req, out);
    case MsgType::kCallInvite:
      return on_call_invite(p, req, now, out);
    case MsgType::kCallAccept:
    case MsgType::kCallDecline:
    case MsgType::kCallCancel:
    case MsgType::kCallHangup:
      return on_call_answer(p, req, out);
    case MsgType::kReport:
      return on_report(p, req, now, out);
    case MsgType::kLeave: {
      std::string id = c.peer_id;
      reply(conn, req, json::object(), out);
      remove_peer(id, out);
      out.close.push_back(conn);
      return;
    }
    case MsgType::kHello:
    case MsgType::kPing:
      return;
  }
}

// ---- session ----------------------------------------------------------------------------

// TURN credentials for this peer only (its id is in the username), so a relay's use is
// attributable and a leaked pair expires.
json TrackerCore::ice_servers_for(const std::string& peer_id) const {
  json list = json::array();
  if (config_.turn_uris.empty() || config_.turn_secret.empty()) return list;
  const TurnCredential c = make_turn_credential(
      config_.turn_secret, peer_id, config_.wall_clock_us() / 1'000'000, config_.turn_ttl_s);
  list.push_back({{"urls", config_.turn_uris},
                  {"username", c.username},
                  {"credential", c.password},
                  {"expires_s", c.expires_s}});
  return list;
}

json TrackerCore::hello_limits() const {
  return {{"max_frame_bytes", limits::kMaxFrameBytes},
          {"max_payload_bytes", limits::kMaxRelayPayloadBytes},
          {"max_rate", config_.max_rate},
          {"burst", config_.burst}};
}

void TrackerCore::on_hello(Conn& c, ConnId conn, const Request& req, TimeUs now, CoreOutput& out) {
  const json& b = req.body;
  if (!c.peer_id.empty() || !c.claiming.empty())
    return error(conn, err::kAlreadyRegistered,
                 "this connection is already " + (c.peer_id.empty() ? c.claiming : c.peer_id), &req,
                 out, now);
  if (peers_.size() >= config_.max_peers)
    return error(conn, err::kLimitReached, "tracker is full", &req, out, now);
  if (b.contains("resume")) {
    if (resume_peer(c, conn, req, now, out)) return;
  }
  std::string id = get_str(b, "peer_id");
  const bool requested = !id.empty();
  if (requested) {
    if (auto held = peers_.find(id); held != peers_.end()) {
      // A detached session of a key-bound id is ended by a hello proving that key: the same
      // user, back without its token (a restarted process). Anyone else waits for the grace.
      const bool takeover = !held->second.online() && b.contains("identity_key") &&
                            identities_->key_of(id) &&
                            admit_identity(*identities_, c.nonce, id, true, b).has_value();
      if (!takeover)
        return error(conn, err::kDuplicatePeerId, "peer id '" + id + "' is taken", &req, out, now);
      remove_peer(id, out);
    } else if (pending_binds_.count(id)) {
      return error(conn, err::kDuplicatePeerId, "peer id '" + id + "' is taken", &req, out, now);
    }
  } else {
    do id = "p-" + random_token(6);
    while (peers_.count(id));
  }
  // In a cluster a new binding is the cluster's to decide: admit_identity leaves it to us.
  auto admitted = admit_identity(*identities_, c.nonce, id, requested, b, clustered());
  if (!admitted)
    return error(conn, admitted.error().code, std::move(admitted.error().message), &req, out, now);
  if (!admitted->empty()) return claim_identity(c, conn, req, id, *admitted, now, out);
  std::string key;
  if (requested) key = get_str(b, "identity_key");
  finish_hello(c, conn, req, id, key, now, out);
}

void TrackerCore::finish_hello(Conn& c, ConnId conn, const Request& req, const std::string& id,
                               const std::string& identity_key, TimeUs now, CoreOutput& out) {
  const json& b = req.body;
  Peer p;
  p.conn = conn;
  p.id = id;
  p.identity_key = identity_key;
  const std::string token = random_token(16);
  p.token_hash = secret_hash(token);
  p.group = c.group;
  p.role = get_str(b, "role");
  p.upload_kbps = get_int(b, "upload_kbps", 0);
  p.since = now;
  if (auto a = b.find("accept_calls"); a != b.end() && !a->is_null()) {
    if (a->is_string()) {
      p.accept = a->get<std::string>() == "none" ? AcceptCalls::kNone : AcceptCalls::kAll;
    } else {
      p.accept = AcceptCalls::kList;
      for (auto& e : *a) p.allow.insert(e.get<std::string>());
    }
  }
  c.peer_id = id;
  hello_deadlines_.erase({c.opened + hello_timeout_, conn});
  json r = {{"peer_id", id}, {"token", token}, {"limits", hello_limits()}};
  if (auto ice = ice_servers_for(id); !ice.empty()) r["ice_servers"] = std::move(ice);
  if (b.contains("resume")) r["resumed"] = false;  // unknown session: a fresh start
  publish_peer(peers_.emplace(id, std::move(p)).first->second, out);
  reply(conn, req, std::move(r), out);
}

// hello {peer_id, resume: token}: the peer gets its id back with everything it had (streams,
// memberships, calls, partners) if the token is the one we issued to that id. An unknown id
// (grace over, or the tracker restarted) falls through to a fresh hello ("resumed": false);
// a known id with a wrong token is refused, so a token is the only way into a live session.
bool TrackerCore::resume_peer(Conn& c, ConnId conn, const Request& req, TimeUs now,
                              CoreOutput& out) {
  const json& b = req.body;
  auto it = peers_.find(get_str(b, "peer_id"));
  if (it == peers_.end()) return false;
  Peer& p = it->second;
  if (!constant_time_equal(secret_hash(get_str(b, "resume")), p.token_hash)) {
    error(conn, err::kBadResume, "session token does not match '" + p.id + "'", &req, out, now);
    return true;
  }
  if (!is_local(p)) {
    // Its instance died or it moved here: this instance is its home from now on.
    p.instance.clear();
    p.detached_until = -1;
  } else if (p.online()) {
    // The old connection is half-open (the client saw the drop first): it is replaced.
    if (auto old = conns_.find(p.conn); old != conns_.end()) old->second.peer_id.clear();
    out.close.push_back(p.conn);
  } else {
    detach_deadlines_.erase({p.detached_until, p.id});
    p.detached_until = -1;
  }
  p.conn = conn;
  p.group = c.group;
  // The token was issued to the holder of the id's key.
  if (auto k = identities_->key_of(p.id)) p.identity_key = *k;
  const std::string token = random_token(16);
  p.token_hash = secret_hash(token);
  p.role = get_str(b, "role", p.role);
  p.upload_kbps = get_int(b, "upload_kbps", p.upload_kbps);
  c.peer_id = p.id;
  hello_deadlines_.erase({c.opened + hello_timeout_, conn});
  json streams = json::array();
  for (auto& s : p.streams) streams.push_back(s);
  json r = {{"peer_id", p.id},
            {"token", token},
            {"resumed", true},
            {"streams", std::move(streams)},
            {"limits", hello_limits()}};
  if (auto ice = ice_servers_for(p.id); !ice.empty()) r["ice_servers"] = std::move(ice);
  // Its record first (the others then take this instance as its home), then the streams it
  // owns, stored under this instance from now on (a move, or its old home died).
  publish_peer(p, out);
  for (auto& name : p.owned)
    if (auto st = streams_.find(name); st != streams_.end()) publish_stream(st->second, "", out);
  reply(conn, req, std::move(r), out);
  return true;
}

void TrackerCore::remove_peer(const std::string& id, CoreOutput& out) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  // Calls: the other side is told, then the call is forgotten.
  for (auto calls = it->second.calls; auto& cid : calls) {
    auto c = calls_.find(cid);
    if (c == calls_.end()) continue;
    const std::string& other = c->second.caller == id ? c->second.callee : c->second.caller;
    send_to_peer(other,
                 {{"type", "call_ended"}, {"call_id", cid}, {"from", id}, {"reason", "peer_left"}},
                 out);
    end_call(cid, out);
  }
  for (auto owned = it->second.owned; auto& s : owned) end_stream(s, "owner_left", out, id);
  for (auto& s : it->second.streams) {
    auto st = streams_.find(s);
    if (st != streams_.end()) st->second.members.erase(id);
  }
  // No member slot may point at a freed peer. The loop above clears the slots of the streams
  // it is in and end_stream those of the streams it owned; any other link breaks an invariant
  // (a slot is linked only while Peer::streams names its stream), so it is repaired by a
  // walk over all streams and counted.
  if (it->second.member_slots != 0) {
    ++member_link_repairs_;
    for (auto& [_, st] : streams_) st.members.unlink(id);
  }
  // Partners: drop the reverse index both ways and tell those that listed this peer.
  set_partners(it->second, {});
  for (auto listed_by = it->second.listed_by; auto& other_id : listed_by) {
    auto o = peers_.find(other_id);
    if (o == peers_.end()) continue;
    auto& parts = o->second.partners;
    parts.erase(
        std::remove_if(parts.begin(), parts.end(), [&](const Partner& x) { return x.id == id; }),
        parts.end());
    o->second.reported_children = static_cast<int>(
        std::count_if(parts.begin(), parts.end(), [](auto& x) { return x.role == "child"; }));
    send_to_peer(other_id, {{"type", "peer_left"}, {"peer_id", id}}, out);
  }
  const bool local = is_local(it->second);
  if (local && it->second.online()) {
    if (auto c = conns_.find(it->second.conn); c != conns_.end()) c->second.peer_id.clear();
  } else if (local) {
    detach_deadlines_.erase({it->second.detached_until, id});
  }
  peers_.erase(it);
  if (local && clustered()) {
    ClusterEvent e;
    e.type = ClusterEventType::kPeerGone;
    e.name = id;
    publish(std::move(e), out);
  }
  // Another instance's peer of the same name was held back while ours had it (a name race
  // under two keys, tracker_core_cluster.cpp): now it is the only one.
  if (auto r = race_records_.find(id); r != race_records_.end()) {
    const ClusterEvent waiting = std::move(r->second);
    race_records_.erase(r);
    if (identities_->key_of(id).value_or(waiting.peer.identity_key) == waiting.peer.identity_key) {
      const bool was = std::exchange(applying_, true);
      apply_peer(waiting, last_now_, out);
      applying_ = was;
    }
  }
}

// ---- streams ----------------------------------------------------------------------------

json TrackerCore::describe(const Stream& s) const {
  return {{"name", s.name},
          {"owner", s.owner},
          {"public_key", s.public_key},
          {"codec", s.codec},
          {"bitrate_kbps", s.bitrate_kbps},
          {"private", s.is_private},
          {"viewers", s.members.size() > 0 ? s.members.size() - 1 : 0},
          {"created_ms", us_to_ms(s.created)}};
}

bool TrackerCore::is_owner(const Peer& p, const Stream& s, const json& body) const {
  if (p.id == s.owner) return true;
  std::string secret = get_str(body, "secret");
  return !secret.empty() && constant_time_equal(secret_hash(secret), s.secret_hash);
}

bool TrackerCore::may_view(const Peer& p, const Stream& s, const json& body) const {
  if (!s.is_private || p.id == s.owner) return true;
  std::string key = get_str(body, "view_key");
  return !key.empty() && constant_time_equal(secret_hash(key), s.key_hash);
}

void TrackerCore::on_stream_create(Peer& p, const Request& req, TimeUs now, CoreOutput& out) {
  const json& b = req.body;
  std::string name = get_str(b, "name");
  if (auto ex = streams_.find(name); ex != streams_.end()) {
    // Only the owner secret re-claims a stream (an owner back in a new session or process).
    const std::string secret = get_str(b, "secret");
    if (secret.empty() || !constant_time_equal(secret_hash(secret), ex->second.secret_hash))
      return error(p.conn, err::kStreamExists, "stream '" + name + "' exists", &req, out, now);
    return reclaim_stream(p, ex->second, req, now, out);
  }
  if (streams_.size() >= config_.max_streams || p.owned.size() >= config_.max_streams_per_peer)
    return error(p.conn, err::kLimitReached, "too many streams", &req, out, now);
  Stream s;
  s.name = name;
  s.owner = p.id;
  s.public_key = get_str(b, "public_key");
  if (auto c = b.find("codec"); c != b.end() && c->is_object()) s.codec = *c;
  s.bitrate_kbps = get_int(b, "bitrate_kbps", 1000);
  s.is_private = b.value("private", false);
  s.key_hash = s.is_private ? secret_hash(get_str(b, "view_key")) : "";
  const std::string secret = random_token(16);
  s.secret_hash = secret_hash(secret);
  s.created = now;
  s.members.insert(p.id, now, &p);
  const Stream& made = streams_.emplace(name, std::move(s)).first->second;
  p.owned.insert(name);
  p.streams.insert(name);
  publish_stream(made, p.id, out);  // before the peer record, which names it
  publish_peer(p, out);
  reply(p.conn, req, {{"name", name}, {"secret", secret}}, out);
}

void TrackerCore::reclaim_stream(Peer& p, Stream& s, const Request& req, TimeUs now,
                                 CoreOutput& out) {
  const json& b = req.body;
  if (s.owner != p.id) {
    if (auto old = peers_.find(s.owner); old != peers_.end()) old->second.owned.erase(s.name);
    s.owner = p.id;
  }
  s.members.insert(p.id, now, &p);
  p.owned.insert(s.name);
  p.streams.insert(s.name);
  s.public_key = get_str(b, "public_key", s.public_key);
  if (auto c = b.find("codec"); c != b.end() && c->is_object()) s.codec = *c;
  s.bitrate_kbps = get_int(b, "bitrate_kbps", s.bitrate_kbps);
  json ev = {{"type", "stream_updated"}, {"name", s.name}, {"stream", describe(s)}};
  for (auto& m : s.members)
    if (m.id() != p.id) send_to_peer(m.id(), ev, out);
  publish_stream(s, p.id, out);
  publish_peer(p, out);
  reply(p.conn, req, {{"name", s.name}, {"secret", get_str(b, "secret")}, {"reclaimed", true}},
        out);
}

void TrackerCore::on_stream_list(Peer& p, const Request& req, CoreOutput& out) {
  const std::string after = get_str(req.body, "after");
  const auto limit = static_cast<std::size_t>(
      get_int(req.body, "limit", static_cast<int64_t>(limits::kDefaultListPage)));
  json list = json::array();
  std::string last;
  bool more = false;
  for (auto it = streams_.upper_bound(after); it != streams_.end(); ++it) {
    // Private streams are listed only to their members (the owner is one): to everyone else
    // they do not exist, not even by name.
    if (it->second.is_private && !p.streams.count(it->first)) continue;
    if (list.size() >= limit) {
      more = true;
      break;
    }
    list.push_back(describe(it->second));
    last = it->first;
  }
  json r = {{"streams", std::move(list)}};
  if (more) r["next"] = last;
  reply(p.conn, req, std::move(r), out);
}

void TrackerCore::on_stream_describe(Peer& p, const Request& req, CoreOutput& out) {
  auto it = streams_.find(get_str(req.body, "name"));
  if (it == streams_.end())
    return error(p.conn, err::kNoSuchStream, "no such stream", &req, out, last_now_);
  if (!may_view(p, it->second, req.body))
    return error(p.conn, err::kAccessDenied, "private stream: view_key missing or wrong", &req, out,
                 last_now_);
  reply(p.conn, req, {{"stream", describe(it->second)}}, out);
}

void TrackerCore::on_stream_update(Peer& p, const Request& req, CoreOutput& out) {
  const json& b = req.body;
  auto it = streams_.find(get_str(b, "name"));
  if (it == streams_.end())
    return error(p.conn, err::kNoSuchStream, "no such stream", &req, out, last_now_);
  Stream& s = it->second;
  if (!is_owner(p, s, b))
    return error(p.conn, err::kNotOwner, "only the stream's owner may update it", &req, out,
                 last_now_);
  bool priv = b.value("private", s.is_private);
  const std::string new_key = get_str(b, "view_key");
  const std::string key = new_key.empty() ? s.key_hash : secret_hash(new_key);
  if (priv && key.empty())
    return error(p.conn, err::kMissingField, "a private stream needs 'view_key'", &req, out,
                 last_now_);
  // A new view key (or a public stream made private) is a rotation: the members joined with
  // a key that no longer opens the stream and none of them has shown the new one, so all of
  // them (but the owner and the peer making the change) are removed and must join again.
  const bool rotated = priv && (!s.is_private || key != s.key_hash);
  if (auto c = b.find("codec"); c != b.end() && c->is_object()) s.codec = *c;
  s.bitrate_kbps = get_int(b, "bitrate_kbps", s.bitrate_kbps);
  s.is_private = priv;
  s.key_hash = priv ? key : "";
  std::size_t revoked = rotated ? revoke_members(s, p.id, "view_key_changed", out) : 0;
  publish_stream(s, p.id, out);
  json ev = {{"type", "stream_updated"}, {"name", s.name}, {"stream", describe(s)}};
  for (auto& m : s.members)
    if (m.id() != p.id) send_to_peer(m.id(), ev, out);
  reply(p.conn, req, {{"stream", describe(s)}, {"revoked", revoked}}, out);
}

std::size_t TrackerCore::revoke_members(Stream& s, const std::string& keep,
                                        const std::string& reason, CoreOutput& out) {
  std::vector<std::string> gone;
  for (auto& m : s.members)
    if (m.id() != s.owner && m.id() != keep) gone.push_back(m.id());
  const json ev = {{"type", "stream_access_revoked"}, {"name", s.name}, {"reason", reason}};
  for (auto& m : gone) {
    s.members.erase(m);
    auto it = peers_.find(m);
    if (it == peers_.end()) continue;
    it->second.streams.erase(s.name);
    send_to_peer(m, ev, out);
    publish_peer(it->second, out);
  }
  return gone.size();
}

void TrackerCore::on_stream_end(Peer& p, const Request& req, CoreOutput& out) {
  std::string name = get_str(req.body, "name");
  auto it = streams_.find(name);
  if (it == streams_.end())
    return error(p.conn, err::kNoSuchStream, "no such stream", &req, out, last_now_);
  if (!is_owner(p, it->second, req.body))
    return error(p.conn, err::kNotOwner, "only the stream's owner may end it", &req, out,
                 last_now_);
  reply(p.conn, req, {{"name", name}}, out);
  end_stream(name, "ended", out, p.id);
}

void TrackerCore::end_stream(const std::string& name, const std::string& reason, CoreOutput& out,
                             const std::string& ender) {
  auto it = streams_.find(name);
  if (it == streams_.end()) return;
  json ev = {{"type", "stream_ended"}, {"name", name}, {"reason", reason}};
  if (clustered() && owner_local(it->second)) {
    ClusterEvent e;
    e.type = ClusterEventType::kStreamEnd;
    e.name = name;
    e.reason = reason;
    publish(std::move(e), out);
  }
  for (auto& member : it->second.members) {
    const std::string& m = member.id();
    auto p = peers_.find(m);
    if (p == peers_.end()) continue;
    p->second.streams.erase(name);
    if (m != ender) send_to_peer(m, ev, out);
    if (m != it->second.owner) publish_peer(p->second, out);
  }
  if (auto o = peers_.find(it->second.owner); o != peers_.end()) {
    o->second.owned.erase(name);
    publish_peer(o->second, out);
  }
  it->second.members.clear();  // unlinks the peers
  streams_.erase(it);
}

// ---- join / neighbours --------------------------------------------------------------------

const std::string& TrackerCore::group_of(const Peer& p) const { return p.group; }

bool TrackerCore::trusted(const Peer& q, const Stream& s, TimeUs joined) const {
  if (q.id == s.owner) return true;
  // Long in the stream and confirmed by two others: a liar needs accomplices outside its
  // address group who keep vouching for it, and each vouches for at most 2 stream copies.
  return last_now_ - joined >= trust_after_ && q.confirmers >= 2 &&
         q.confirmed_kbps * 4 >= s.bitrate_kbps;
}

json TrackerCore::neighbours_for(const Peer& p, Stream& s, const json& body) {
  std::vector<NeighbourCandidate> cands;
  bool have_owner = false;
  std::vector<Peer*> cand_peers;  // cands[i] is cand_peers[i]'s
  auto add = [&](Peer& q, TimeUs joined_at) {
    if (!q.online()) return;  // no relay reaches it now
    const bool owner = q.id == s.owner;
    have_owner = have_owner || owner;
    NeighbourCandidate c;
    c.peer_id = q.id;
    c.is_broadcaster = owner;
    c.upload_kbps = q.upload_kbps;
    c.children = q.reported_children + q.pending_children;
    c.confirmed_kbps = q.confirmed_kbps;
    c.trusted = trusted(q, s, joined_at);
    c.group = group_of(q);
    cands.push_back(c);
    cand_peers.push_back(&q);
  };
  // A slot's peer without a hash lookup: the window reads contiguous slots and each peer's
  // first cache lines, whatever the size of the directory.
  auto add_member = [&](const StreamMembers<Peer>::Member& m) {
    Peer* q = m.peer;
    if (!q) {  // not linked (see StreamMembers): by id
      auto it = peers_.find(m.id());
      if (it == peers_.end()) return;
      q = &it->second;
    }
    add(*q, m.joined);
  };
  const std::size_t scan = config_.neighbour_scan_limit;
  if (scan == 0 || s.members.size() <= scan) {
    cands.reserve(s.members.size());
    cand_peers.reserve(s.members.size());
    for (auto& m : s.members) add_member(m);
  } else {
    // Large audience: look at a window of `scan` members that rotates with every request
    // (in slot order, every member once per round), so a join costs O(scan) and successive
    // joiners are spread over the whole audience.
    cands.reserve(scan + 1);
    cand_peers.reserve(scan + 1);
    window_.clear();
    s.members.visit_window(scan, [&](const auto& m) { window_.push_back(&m); });
    // The slots are contiguous, their peers are not: asking for the peers a few slots ahead
    // lets those cache misses overlap instead of waiting one after the other.
    constexpr std::size_t kAhead = 8;
    auto prefetch = [](const Peer* q) {
      if (!q) return;
      // The lines of Peer's front block (id .. member_slots), whatever their alignment.
      __builtin_prefetch(&q->id);
      __builtin_prefetch(&q->upload_kbps);
      __builtin_prefetch(&q->member_slots);
    };
    for (std::size_t i = 0; i < kAhead && i < window_.size(); ++i) prefetch(window_[i]->peer);
    for (std::size_t i = 0; i < window_.size(); ++i) {
      if (i + kAhead < window_.size()) prefetch(window_[i + kAhead]->peer);
      add_member(*window_[i]);
    }
    if (!have_owner) {
      if (auto o = peers_.find(s.owner); o != peers_.end()) {
        const auto* m = s.members.find(s.owner);
        add(o->second, m ? m->joined : last_now_);
      }
    }
  }
  std::set<std::string, std::less<>> exclude;
  if (auto e = body.find("exclude"); e != body.end() && e->is_array())
    for (auto& x : *e) exclude.insert(x.get<std::string>());
  // Partners the peer already reported are not "fresh" candidates.
  for (auto& x : p.partners) exclude.insert(x.id);
  NeighbourPolicy pol;
  pol.max_neighbours = static_cast<int>(get_int(body, "max", config_.default_max_neighbours));
  pol.bitrate_kbps = s.bitrate_kbps;
  pol.broadcaster_until_viewers = config_.broadcaster_until_viewers;
  pol.max_per_group = config_.max_neighbours_per_group;
  json list = json::array();
  for (std::size_t i : choose_neighbour_indices(p.id, cands, exclude, pol)) {
    Peer& q = *cand_peers[i];
    list.push_back({{"peer_id", q.id},
                    {"role", q.id == s.owner ? "broadcaster" : "viewer"},
                    {"upload_kbps", q.upload_kbps},
                    {"children", q.reported_children + q.pending_children}});
    // Count the suggestion until q reports again, so the next joiners go elsewhere.
    ++q.pending_children;
  }
  return list;
}

void TrackerCore::on_join(Peer& p, const Request& req, TimeUs now, bool joining, CoreOutput& out) {
  const json& b = req.body;
  std::string name = get_str(b, "stream");
  auto it = streams_.find(name);
  if (it == streams_.end())
    return error(p.conn, err::kNoSuchStream, "no such stream", &req, out, now);
  Stream& s = it->second;
  bool member = s.members.contains(p.id);
  if (!joining && !member)
    return error(p.conn, err::kNotMember, "join the stream first", &req, out, now);
  if (!member && !may_view(p, s, b))
    return error(p.conn, err::kAccessDenied, "private stream: view_key missing or wrong", &req, out,
                 now);
  if (!member) {
    s.members.insert(p.id, now, &p);
    p.streams.insert(name);
    publish_peer(p, out);
  }
  json r = {{"stream", name}, {"neighbours", neighbours_for(p, s, b)}};
  if (joining) {
    r["owner"] = s.owner;
    r["public_key"] = s.public_key;
    r["codec"] = s.codec;
    r["bitrate_kbps"] = s.bitrate_kbps;
  }
  reply(p.conn, req, std::move(r), out);
}

// ---- relay ------------------------------------------------------------------------------

bool TrackerCore::related(const Peer& a, const Peer& b) const {
  const Peer& small = a.streams.size() <= b.streams.size() ? a : b;
  const Peer& other = &small == &a ? b : a;
  for (auto& s : small.streams)
    if (other.streams.count(s)) return true;
  for (auto& cid : a.calls) {
    auto c = calls_.find(cid);
    if (c != calls_.end() && c->second.accepted &&
        (c->second.caller == b.id || c->second.callee == b.id))
      return true;
  }
  return false;
}

void TrackerCore::on_relay(Peer& p, const Request& req, CoreOutput& out) {
  const json& b = req.body;
  std::string to = get_str(b, "to");
  if (to == p.id)
    return error(p.conn, err::kBadField, "cannot relay to yourself", &req, out, last_now_);
  auto it = peers_.find(to);
  if (it == peers_.end() || !it->second.online())
    return error(p.conn, err::kPeerOffline, "peer '" + to + "' is not connected", &req, out,
                 last_now_);
  if (!related(p, it->second))
    return error(p.conn, err::kNotRelated,
                 "relay needs a shared stream or an accepted call with '" + to + "'", &req, out,
                 last_now_);
  json fwd = {{"type", "relay"}, {"from", p.id}, {"kind", b["kind"]}};
  fwd["payload"] = b.contains("payload") ? b["payload"] : json();
  deliver(to, dump(fwd), out);
  if (!req.id.is_null()) reply(p.conn, req, json::object(), out);
}

// ---- calls ------------------------------------------------------------------------------

void TrackerCore::end_call(const std::string& call_id, CoreOutput& out) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  for (auto* who : {&it->second.caller, &it->second.callee}) {
    auto p = peers_.find(*who);
    if (p != peers_.end()) p->second.calls.erase(call_id);
  }
  call_deadlines_.erase({it->second.deadline, call_id});
  calls_.erase(it);
  if (clustered() && !applying_) {
    ClusterEvent e;
    e.type = ClusterEventType::kCallEnd;
    e.name = call_id;
    publish(std::move(e), out);
  }
}

void TrackerCore::on_call_invite(Peer& p, const Request& req, TimeUs now, CoreOutput& out) {
  const json& b = req.body;
  std::string to = get_str(b, "to");
  if (to == p.id) return error(p.conn, err::kBadField, "cannot call yourself", &req, out, now);
  auto it = peers_.find(to);
  if (it == peers_.end() || !it->second.online())
    return error(p.conn, err::kPeerOffline, "peer '" + to + "' is not connected", &req, out, now);
  Peer& callee = it->second;
  bool allowed = callee.accept == AcceptCalls::kAll ||
                 (callee.accept == AcceptCalls::kList && callee.allow.count(p.id));
  if (!allowed)
    return error(p.conn, err::kCallRefused, "'" + to + "' does not accept calls from you", &req,
                 out, now);
  for (auto& cid : p.calls) {
    auto c = calls_.find(cid);
    if (c != calls_.end() && (c->second.caller == to || c->second.callee == to))
      return error(p.conn, err::kCallExists, "a call with '" + to + "' exists", &req, out, now);
  }
  if (p.calls.size() >= config_.max_calls_per_peer ||
      callee.calls.size() >= config_.max_calls_per_peer)
    return error(p.conn, err::kLimitReached, "too many calls", &req, out, now);
  Call c;
  c.id = "c-" + random_token(8);
  c.caller = p.id;
  c.callee = to;
  int64_t timeout = get_int(b, "timeout_ms", config_.default_call_timeout_ms);
  c.deadline = now + ms_to_us(timeout);
  std::string cid = c.id;
  call_deadlines_.insert({c.deadline, cid});
  publish_call(calls_.emplace(cid, std::move(c)).first->second, out);
  p.calls.insert(cid);
  callee.calls.insert(cid);
  deliver(
      to,
      dump({{"type", "call_incoming"}, {"call_id", cid}, {"from", p.id}, {"timeout_ms", timeout}}),
      out);
  reply(p.conn, req, {{"call_id", cid}, {"to", to}}, out);
  out.send.emplace_back(p.conn, dump({{"type", "call_ringing"}, {"call_id", cid}, {"to", to}}));
}

void TrackerCore::on_call_answer(Peer& p, const Request& req, CoreOutput& out) {
  std::string cid = get_str(req.body, "call_id");
  auto it = calls_.find(cid);
  if (it == calls_.end() || (it->second.caller != p.id && it->second.callee != p.id))
    return error(p.conn, err::kNoSuchCall, "no such call", &req, out, last_now_);
  Call& c = it->second;
  bool is_callee = c.callee == p.id;
  const std::string other = is_callee ? c.caller : c.callee;
  auto bad_state = [&](const char* why) {
    error(p.conn, err::kBadCallState, why, &req, out, last_now_);
  };
  switch (req.type) {
    case MsgType::kCallAccept:
      if (!is_callee) return bad_state("only the callee may accept");
      if (c.accepted) return bad_state("call already accepted");
      c.accepted = true;
      call_deadlines_.erase({c.deadline, cid});
      publish_call(c, out);
      reply(p.conn, req, {{"call_id", cid}, {"peer", other}}, out);
      deliver(other, dump({{"type", "call_accepted"}, {"call_id", cid}, {"from", p.id}}), out);
      return;
    case MsgType::kCallDecline:
      if (!is_callee) return bad_state("only the callee may decline");
      if (c.accepted) return bad_state("call already accepted: hang up instead");
      reply(p.conn, req, {{"call_id", cid}}, out);
      deliver(other,
              dump({{"type", "call_declined"},
                    {"call_id", cid},
                    {"from", p.id},
                    {"reason", get_str(req.body, "reason")}}),
              out);
      end_call(cid, out);
      return;
    case MsgType::kCallCancel:
      if (is_callee) return bad_state("only the caller may cancel");
      if (c.accepted) return bad_state("call already accepted: hang up instead");
      reply(p.conn, req, {{"call_id", cid}}, out);
      deliver(other, dump({{"type", "call_cancelled"}, {"call_id", cid}, {"from", p.id}}), out);
      end_call(cid, out);
      return;
    case MsgType::kCallHangup:
      reply(p.conn, req, {{"call_id", cid}}, out);
      deliver(
          other,
          dump({{"type", "call_ended"}, {"call_id", cid}, {"from", p.id}, {"reason", "hangup"}}),
          out);
      end_call(cid, out);
      return;
    default:
      return;
  }
}

// ---- reports ----------------------------------------------------------------------------

void TrackerCore::set_partners(Peer& p, std::vector<Partner> partners) {
  for (auto& old : p.partners) {
    auto o = peers_.find(old.id);
    if (o == peers_.end()) continue;
    o->second.listed_by.erase(p.id);
    if (old.rx_kbps > 0) {  // this reporter's confirmation is withdrawn
      o->second.confirmed_kbps -= old.rx_kbps;
      --o->second.confirmers;
    }
  }
  p.partners = std::move(partners);
  for (auto& n : p.partners) {
    Peer& q = peers_.at(n.id);
    q.listed_by.insert(p.id);
    if (n.rx_kbps > 0) {
      q.confirmed_kbps += n.rx_kbps;
      ++q.confirmers;
    }
  }
  p.reported_children = static_cast<int>(std::count_if(p.partners.begin(), p.partners.end(),
                                                       [](auto& x) { return x.role == "child"; }));
}

void TrackerCore::on_report(Peer& p, const Request& req, TimeUs now, CoreOutput& out) {
  const json& b = req.body;
  if (auto it = b.find("partners"); it != b.end() && it->is_array()) {
    // A reporter vouches for at most what one viewer can take in: two copies of the stream
    // (of the stream it names, else the largest it is a member of), spread over its partners.
    int64_t bitrate = 0;
    const std::string stream = get_str(b, "stream");
    for (auto& name : p.streams)
      if (auto st = streams_.find(name); st != streams_.end() && (stream.empty() || name == stream))
        bitrate = std::max(bitrate, st->second.bitrate_kbps);
    // Bytes since the previous report; a first report covers the time since hello. At least
    // a second, so an early report cannot turn a few bytes into a high rate.
    const int64_t interval_ms =
        std::max<int64_t>(1000, us_to_ms(now - (p.reported >= 0 ? p.reported : p.since)));
    const std::string& own_group = group_of(p);
    std::vector<Partner> parts;
    std::set<std::string> seen;
    int64_t total_kbps = 0;
    for (auto& e : *it) {
      std::string id = e["id"].get<std::string>();
      // Unknown (already gone) peers are dropped: we never hold state of a closed peer.
      if (id == p.id || !peers_.count(id) || !seen.insert(id).second) continue;
      int64_t rx_kbps = 0;
      const auto rx = e.find("rx_bytes");
      // Peers of one address group do not confirm each other (one host, many ids).
      const std::string& g = group_of(peers_.at(id));
      if (bitrate > 0 && rx != e.end() && rx->is_number_integer() &&
          (own_group.empty() || g != own_group))
        rx_kbps = rx->get<int64_t>() * 8 / interval_ms;  // bits per ms = kbit/s
      total_kbps += rx_kbps;
      parts.push_back({id, e["role"].get<std::string>(), rx_kbps});
    }
    if (const int64_t cap = 2 * bitrate; total_kbps > cap)
      for (auto& x : parts) x.rx_kbps = x.rx_kbps * cap / total_kbps;
    set_partners(p, std::move(parts));
  }
  // Stats are the peer's own claims: shown by the overlay API, never used to rank it.
  if (auto it = b.find("stats"); it != b.end() && it->is_object()) p.stats = *it;
  p.reported = now;
  p.pending_children = 0;
  publish_peer(p, out);
  if (!req.id.is_null()) reply(p.conn, req, json::object(), out);
}

// ---- HTTP views -------------------------------------------------------------------------

std::string TrackerCore::metrics_text() const {
  std::string text =
      metrics_.render(local_peer_count() - detach_deadlines_.size(), detach_deadlines_.size(),
                      conns_.size(), streams_.size(), calls_.size());
  if (clustered()) {
    // Every instance mirrors the whole directory: these are the cluster's figures.
    text +=
        "# HELP meshcast_cluster_instances Live tracker instances (this one included).\n"
        "# TYPE meshcast_cluster_instances gauge\nmeshcast_cluster_instances " +
        std::to_string(live_instances()) +
        "\n# HELP meshcast_cluster_peers Peers on all instances.\n"
        "# TYPE meshcast_cluster_peers gauge\nmeshcast_cluster_peers " +
        std::to_string(peers_.size()) +
        "\n# HELP meshcast_cluster_streams Streams on all instances.\n"
        "# TYPE meshcast_cluster_streams gauge\nmeshcast_cluster_streams " +
        std::to_string(streams_.size()) +
        "\n# HELP meshcast_cluster_link_up 1 while this instance reaches Redis.\n"
        "# TYPE meshcast_cluster_link_up gauge\nmeshcast_cluster_link_up " +
        std::to_string(link_up_ ? 1 : 0) +
        "\n# HELP meshcast_identities Peer ids bound to identity keys in this instance's "
        "store (the cluster's bindings as far as they fit).\n"
        "# TYPE meshcast_identities gauge\nmeshcast_identities " +
        std::to_string(identities_->size()) + "\n";
  }
  return text;
}

json TrackerCore::api_streams(std::string_view key, std::string_view after,
                              std::size_t limit) const {
  json list = json::array();
  std::string last;
  bool more = false;
  const std::string key_hash = key.empty() ? "" : secret_hash(key);
  for (auto it = streams_.upper_bound(std::string(after)); it != streams_.end(); ++it) {
    const Stream& s = it->second;
    // A private stream is listed only to a caller holding its view key.
    if (s.is_private && (key.empty() || !constant_time_equal(key_hash, s.key_hash))) continue;
    if (list.size() >= limit) {
      more = true;
      break;
    }
    list.push_back(describe(s));
    last = it->first;
  }
  json r = {{"streams", std::move(list)}};
  if (more) r["next"] = last;
  return r;
}

std::optional<json> TrackerCore::api_overlay(std::string_view name, std::string_view key,
                                             std::string_view after, std::size_t limit) const {
  auto it = streams_.find(std::string(name));
  if (it == streams_.end()) return std::nullopt;
  const Stream& s = it->second;
  if (s.is_private && (key.empty() || !constant_time_equal(secret_hash(key), s.key_hash)))
    return std::nullopt;
  json peers = json::array();
  std::string last;
  bool more = false;
  // Pages are in id order; the members are not kept sorted, so the ones after `after` are
  // (an HTTP view: O(M log M) per page, never on a peer's path).
  std::vector<const StreamMembers<Peer>::Member*> sorted;
  for (auto& m : s.members)
    if (m.id() > after) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->id() < b->id(); });
  for (const auto* mi : sorted) {
    if (peers.size() >= limit) {
      more = true;
      break;
    }
    const std::string& m = mi->id();
    const int64_t joined_ms = us_to_ms(mi->joined);
    last = m;
    auto p = peers_.find(m);
    if (p == peers_.end()) continue;
    const Peer& q = p->second;
    json partners = json::array();
    for (auto& x : q.partners) partners.push_back({{"id", x.id}, {"role", x.role}});
    peers.push_back(
        {{"peer_id", q.id},
         {"role", q.id == s.owner ? "broadcaster" : "viewer"},
         {"upload_kbps", q.upload_kbps},
         {"children", q.reported_children},
         {"confirmed_kbps", q.confirmed_kbps},
         {"partners", std::move(partners)},
         {"stats", q.stats},
         {"joined_ms", joined_ms},
         {"report_age_ms", q.reported < 0 ? json() : json(us_to_ms(last_now_ - q.reported))}});
  }
  json r = describe(s);
  r["peers"] = std::move(peers);
  if (more) r["next"] = last;
  return r;
}

}  // namespace meshcast::signaling
