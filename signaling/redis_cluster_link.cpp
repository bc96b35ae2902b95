#include "signaling/redis_cluster_link.hpp"

#include <glib.h>
#include <hiredis/adapters/glib.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <utility>
#include <vector>

namespace meshcast::signaling {

struct RedisClusterLink::Impl {
  RedisUrl url;
  std::string self;
  int64_t ttl_ms;
  Callbacks cb;
  // Keys live in the selected database; channels are server-wide, so they carry its number.
  std::string k_instances = "meshcast:instances";
  // Identity bindings of the whole cluster: field = peer id, value = the binding's event. Not
  // per instance: a binding outlives the instance that made it.
  std::string k_identities = "meshcast:identities";
  std::string ch_events, ch_self;
  redisAsyncContext* cmd = nullptr;
  redisAsyncContext* sub = nullptr;
  GSource* cmd_src = nullptr;
  GSource* sub_src = nullptr;
  bool cmd_ready = false;
  int subscribed = 0;  // channels confirmed
  bool is_up = false;
  bool warned = false;  // "cannot connect" logged since the link was last up
  guint retry = 0;
  uint64_t rejected = 0;
  // Sources of contexts hiredis is freeing: its cleanup still touches them after our
  // callback returns, so they are destroyed later (before the next connect).
  std::vector<GSource*> graveyard;

  Impl(RedisUrl u, std::string id, int64_t ttl, Callbacks c)
      : url(std::move(u)), self(std::move(id)), ttl_ms(ttl), cb(std::move(c)) {
    const std::string prefix = "meshcast:" + std::to_string(url.db) + ":";
    ch_events = prefix + "events";
    ch_self = prefix + "to:" + self;
  }

  ~Impl() {
    if (retry) g_source_remove(retry);
    retry = 0;
    close_all();
    bury();
  }

  void bury() {
    for (GSource* s : graveyard) free_source(s);
    graveyard.clear();
  }

  // `c` is being freed by hiredis: forget it, keep its source until later.
  void forget(const redisAsyncContext* c) {
    if (c == cmd) {
      cmd = nullptr;
      if (cmd_src) graveyard.push_back(std::exchange(cmd_src, nullptr));
    } else if (c == sub) {
      sub = nullptr;
      if (sub_src) graveyard.push_back(std::exchange(sub_src, nullptr));
    }
  }

  static std::string peers_key(const std::string& inst) { return "meshcast:peers:" + inst; }
  static std::string streams_key(const std::string& inst) { return "meshcast:streams:" + inst; }

  void log(const std::string& s) {
    if (cb.log) cb.log(s);
  }

  static void free_source(GSource*& s) {
    if (!s) return;
    g_source_destroy(s);
    g_source_unref(s);
    s = nullptr;
  }

  // Both connections go together: one without the other is not a working link.
  void close_all() {
    is_up = false;
    cmd_ready = false;
    subscribed = 0;
    for (auto* ctx : {&cmd, &sub}) {
      redisAsyncContext* c = *ctx;
      *ctx = nullptr;
      if (c) {
        c->data = nullptr;  // its callbacks now find no owner
        redisAsyncFree(c);
      }
    }
    free_source(cmd_src);
    free_source(sub_src);
  }

  void schedule_retry() {
    if (retry) return;
    retry = g_timeout_add(1000, &Impl::on_retry, this);
  }

  static gboolean on_retry(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    self->retry = 0;
    self->connect();
    return G_SOURCE_REMOVE;
  }

  redisAsyncContext* open(GSource*& src) {
    redisAsyncContext* c = redisAsyncConnect(url.host.c_str(), url.port);
    if (!c) return nullptr;
    if (c->err) {
      log(std::string("redis: ") + c->errstr);
      redisAsyncFree(c);
      return nullptr;
    }
    c->data = this;
    src = redis_source_new(c);
    g_source_attach(src, nullptr);
    redisAsyncSetConnectCallback(c, &Impl::on_connect);
    redisAsyncSetDisconnectCallback(c, &Impl::on_disconnect);
    return c;
  }

  void connect() {
    close_all();
    bury();
    cmd = open(cmd_src);
    sub = cmd ? open(sub_src) : nullptr;
    if (!cmd || !sub) {
      close_all();
      schedule_retry();
      return;
    }
    if (url.db != 0) redisAsyncCommand(cmd, nullptr, nullptr, "SELECT %d", url.db);
    redisAsyncCommand(sub, &Impl::on_sub_message, this, "SUBSCRIBE %b %b", ch_events.data(),
                      ch_events.size(), ch_self.data(), ch_self.size());
  }

  static Impl* owner(const redisAsyncContext* c) {
    return c ? static_cast<Impl*>(c->data) : nullptr;
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    Impl* self = owner(c);
    if (!self || status == REDIS_OK) return;
    // hiredis frees a context whose connect failed: forget it, then start over.
    // Once per outage, not once per retry.
    if (!self->warned) self->log(std::string("redis: cannot connect: ") + c->errstr);
    self->warned = true;
    self->forget(c);
    self->close_all();
    self->schedule_retry();
  }

  static void on_disconnect(const redisAsyncContext* c, int) {
    Impl* self = owner(c);
    if (!self) return;
    // hiredis frees this context when we return.
    self->forget(c);
    if (self->is_up) self->log("redis: link lost; reconnecting");
    self->close_all();
    self->schedule_retry();
  }

  static void on_sub_message(redisAsyncContext* c, void* r, void*) {
    Impl* self = owner(c);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    redisReply** el = reply->element;
    if (el[0]->type != REDIS_REPLY_STRING) return;
    const std::string kind(el[0]->str, el[0]->len);
    if (kind == "subscribe") {
      if (++self->subscribed == 2) self->became_up();
      return;
    }
    if (kind != "message" || el[2]->type != REDIS_REPLY_STRING) return;
    self->dispatch(std::string_view(el[2]->str, el[2]->len));
  }

  // `any`: also events written by this instance id (bindings: Redis's word, not an echo).
  void dispatch(std::string_view text, bool any = false) {
    auto e = parse_cluster_event(text);
    if (!e) {
      ++rejected;
      log("redis: ignored a malformed event: " + e.error());
      return;
    }
    if (e->instance == self && !any) return;
    if (cb.on_event) cb.on_event(*e);
  }

  // What a claimed binding's callbacks need (owned by the pending command: freed in the
  // callback, which hiredis also calls with no reply when the connection goes).
  struct Claim {
    std::string name, text;
  };

  // HSETNX answered: 1 = the name was free and is ours (published; our core is told it is
  // settled), 0 = someone bound it first: the stored binding is read and applied instead.
  static void on_claimed(redisAsyncContext* c, void* r, void* data) {
    std::unique_ptr<Claim> claim(static_cast<Claim*>(data));
    Impl* self = owner(c);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || !self->cmd || reply->type != REDIS_REPLY_INTEGER) return;
    if (reply->integer == 1) {
      redisAsyncCommand(self->cmd, nullptr, nullptr, "PUBLISH %b %b", self->ch_events.data(),
                        self->ch_events.size(), claim->text.data(), claim->text.size());
      self->dispatch(claim->text, true);
      return;
    }
    Claim* p = claim.get();
    if (redisAsyncCommand(self->cmd, &Impl::on_binding, p, "HGET %b %b", self->k_identities.data(),
                          self->k_identities.size(), p->name.data(), p->name.size()) == REDIS_OK)
      claim.release();  // the callback owns it now
  }

  static void on_binding(redisAsyncContext* c, void* r, void* data) {
    std::unique_ptr<Claim> claim(static_cast<Claim*>(data));
    Impl* self = owner(c);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || reply->type != REDIS_REPLY_STRING) return;
    self->dispatch_binding(std::string_view(reply->str, reply->len), claim->name);
  }

  // A stored binding: checked like any record, and it must be a binding (of `name` if given).
  void dispatch_binding(std::string_view text, const std::string& name = {}) {
    auto e = parse_cluster_event(text);
    if (e && (e->type != ClusterEventType::kIdentity || (!name.empty() && e->name != name)))
      e = unexpected("not the binding of its field");
    if (!e) {
      ++rejected;
      log("redis: ignored a malformed binding: " + e.error());
      return;
    }
    if (cb.on_event) cb.on_event(*e);
  }

  static void on_identities(redisAsyncContext* c, void* r, void*) {
    Impl* self = owner(c);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < reply->elements; ++i) {
      redisReply* e = reply->element[i];
      if (e->type == REDIS_REPLY_STRING) self->dispatch_binding(std::string_view(e->str, e->len));
    }
  }

  // Subscribed first, then the snapshot: nothing published meanwhile is missed (it may come
  // twice, which applying a record tolerates).
  void became_up() {
    if (!cmd) return;
    is_up = true;
    warned = false;
    log("redis: link up");
    const std::string pk = peers_key(self), sk = streams_key(self);
    // Whatever an earlier run under this id left is stale: our share is written anew.
    redisAsyncCommand(cmd, nullptr, nullptr, "DEL %b %b", pk.data(), pk.size(), sk.data(),
                      sk.size());
    redisAsyncCommand(cmd, nullptr, nullptr, "SADD %b %b", k_instances.data(), k_instances.size(),
                      self.data(), self.size());
    if (cb.on_connected) cb.on_connected();
    // After our own bindings were offered (HSETNX), so what comes back is what Redis kept.
    redisAsyncCommand(cmd, &Impl::on_identities, this, "HVALS %b", k_identities.data(),
                      k_identities.size());
    redisAsyncCommand(cmd, &Impl::on_instances, this, "SMEMBERS %b", k_instances.data(),
                      k_instances.size());
  }

  static void on_instances(redisAsyncContext* c, void* r, void*) {
    Impl* self = owner(c);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || reply->type != REDIS_REPLY_ARRAY) return;
    std::vector<std::string> others;
    for (size_t i = 0; i < reply->elements; ++i) {
      redisReply* e = reply->element[i];
      if (e->type != REDIS_REPLY_STRING) continue;
      std::string id(e->str, e->len);
      if (id != self->self && is_valid_instance_id(id)) others.push_back(std::move(id));
    }
    // All streams before any peer: peer records name the streams they are in.
    for (auto& id : others) {
      const std::string k = streams_key(id);
      redisAsyncCommand(self->cmd, &Impl::on_records, self, "HVALS %b", k.data(), k.size());
    }
    for (auto& id : others) {
      const std::string k = peers_key(id);
      redisAsyncCommand(self->cmd, &Impl::on_records, self, "HVALS %b", k.data(), k.size());
    }
  }

  static void on_records(redisAsyncContext* c, void* r, void*) {
    Impl* self = owner(c);
    auto* reply = static_cast<redisReply*>(r);
    if (!self || !reply || reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < reply->elements; ++i) {
      redisReply* e = reply->element[i];
      if (e->type == REDIS_REPLY_STRING) self->dispatch(std::string_view(e->str, e->len));
    }
  }

  void send(const ClusterEvent& e) {
    if (!is_up || !cmd) return;
    const std::string text = to_text(e);
    auto hset = [&](const std::string& key, const std::string& field) {
      redisAsyncCommand(cmd, nullptr, nullptr, "HSET %b %b %b", key.data(), key.size(),
                        field.data(), field.size(), text.data(), text.size());
    };
    auto hdel = [&](const std::string& key, const std::string& field) {
      redisAsyncCommand(cmd, nullptr, nullptr, "HDEL %b %b", key.data(), key.size(), field.data(),
                        field.size());
    };
    const std::string* channel = &ch_events;
    std::string target;
    switch (e.type) {
      case ClusterEventType::kHeartbeat: {
        const std::string k = "meshcast:hb:" + self;
        redisAsyncCommand(cmd, nullptr, nullptr, "SET %b 1 PX %lld", k.data(), k.size(),
                          static_cast<long long>(ttl_ms));
        break;
      }
      case ClusterEventType::kInstanceDown: {
        const std::string pk = peers_key(e.name), sk = streams_key(e.name);
        redisAsyncCommand(cmd, nullptr, nullptr, "DEL %b %b", pk.data(), pk.size(), sk.data(),
                          sk.size());
        redisAsyncCommand(cmd, nullptr, nullptr, "SREM %b %b", k_instances.data(),
                          k_instances.size(), e.name.data(), e.name.size());
        break;
      }
      case ClusterEventType::kPeer:
        hset(peers_key(self), e.peer.id);
        break;
      case ClusterEventType::kPeerGone:
        hdel(peers_key(self), e.name);
        break;
      case ClusterEventType::kStream:
        hset(streams_key(self), e.stream.name);
        break;
      case ClusterEventType::kStreamEnd:
        hdel(streams_key(self), e.name);
        break;
      case ClusterEventType::kCall:
      case ClusterEventType::kCallEnd:
        break;
      case ClusterEventType::kDeliver:
        target = "meshcast:" + std::to_string(url.db) + ":to:" + e.target;
        channel = &target;
        break;
      case ClusterEventType::kIdentity:
        // Published only by the instance whose HSETNX created the field (on_claimed).
        {
          auto claim = std::make_unique<Claim>(Claim{e.name, text});
          if (redisAsyncCommand(cmd, &Impl::on_claimed, claim.get(), "HSETNX %b %b %b",
                                k_identities.data(), k_identities.size(), e.name.data(),
                                e.name.size(), text.data(), text.size()) == REDIS_OK)
            claim.release();  // the callback owns it now
          return;
        }
    }
    redisAsyncCommand(cmd, nullptr, nullptr, "PUBLISH %b %b", channel->data(), channel->size(),
                      text.data(), text.size());
  }
};

RedisClusterLink::RedisClusterLink(RedisUrl url, std::string instance_id, int64_t ttl_ms,
                                   Callbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(url), std::move(instance_id), ttl_ms,
                                   std::move(callbacks))) {}
RedisClusterLink::~RedisClusterLink() = default;
void RedisClusterLink::start() { impl_->connect(); }
bool RedisClusterLink::up() const { return impl_->is_up; }
void RedisClusterLink::send(const ClusterEvent& e) { impl_->send(e); }
uint64_t RedisClusterLink::rejected() const { return impl_->rejected; }

}  // namespace meshcast::signaling
