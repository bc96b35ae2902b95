#include "apps/session/webrtc_http.hpp"

#include <libsoup/soup.h>

#include "media/common/glib_handle.hpp"
#include "signaling/random_token.hpp"

using Page = meshcast::app::WebrtcHttpOptions::Page;

namespace meshcast::app {
namespace {

constexpr const char* kSdp = "application/sdp";
constexpr const char* kTrickle = "application/trickle-ice-sdpfrag";

void cors(SoupServerMessage* msg) {
  SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(h, "Access-Control-Allow-Methods",
                               "GET, POST, PATCH, DELETE, OPTIONS");
  soup_message_headers_replace(h, "Access-Control-Allow-Headers",
                               "Authorization, Content-Type, If-Match");
  soup_message_headers_replace(h, "Access-Control-Expose-Headers",
                               "Location, ETag, Accept-Patch, Link");
}

std::string header(SoupServerMessage* msg, const char* name) {
  const char* v = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), name);
  return v ? v : "";
}

// The request's media type, lower case, without parameters ("" if none).
std::string media_type(SoupServerMessage* msg) {
  const char* t =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (!t) return "";
  gchar* low = g_ascii_strdown(t, -1);
  std::string s = low ? low : "";
  g_free(low);
  return s;
}

}  // namespace

std::optional<std::pair<std::string, uint16_t>> parse_listen_address(std::string_view text) {
  std::string host = "127.0.0.1";
  std::string_view port = text;
  if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    GInetAddress* ia = g_inet_address_new_from_string(host.c_str());
    if (!ia) return std::nullopt;
    g_object_unref(ia);
  }
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned long n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + unsigned(c - '0');
  }
  if (n > 65535) return std::nullopt;
  return std::pair{host, uint16_t(n)};
}

media::WebrtcLegConfig leg_config_from(const link::LinkConfig& link) {
  media::WebrtcLegConfig c;
  c.local_addresses = link.local_addresses;
  if (!link.stun_host.empty())
    c.stun_server = "stun://" + link.stun_host + ":" + std::to_string(link.stun_port);
  for (const auto& t : link.turn_servers) {
    if (t.transport != link::RelayTransport::kUdp) continue;  // webrtcbin: turn:// only here
    media::GCharPtr user(g_uri_escape_string(t.username.c_str(), nullptr, FALSE));
    media::GCharPtr pass(g_uri_escape_string(t.password.c_str(), nullptr, FALSE));
    c.turn_servers.push_back("turn://" + std::string(user.get()) + ":" + pass.get() + "@" + t.host +
                             ":" + std::to_string(t.port));
  }
  return c;
}

struct WebrtcHttpServer::Impl {
  WebrtcHttpServer* owner;
  SoupServer* server = nullptr;
  // Bodies are collected here, chunk by chunk, up to the limit: libsoup would otherwise
  // hold any size a client sends before a handler could refuse it.
  struct Body {
    std::string data;
    bool too_large = false;
  };
  std::map<SoupServerMessage*, Body> bodies;
  // Requests waiting for an answer (paused): the flag turns false once the client went away.
  struct Paused {
    std::shared_ptr<bool> alive;
    std::string id;
  };
  std::map<SoupServerMessage*, Paused> paused;

  explicit Impl(WebrtcHttpServer* o) : owner(o) {}
  ~Impl() {
    if (server) {
      soup_server_disconnect(server);
      g_object_unref(server);
    }
    for (auto& [msg, p] : paused) *p.alive = false;
  }

  static void on_chunk(SoupServerMessage* msg, GBytes* chunk, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    auto it = self->bodies.find(msg);
    if (it == self->bodies.end() || it->second.too_large) return;
    gsize n = 0;
    const char* p = static_cast<const char*>(g_bytes_get_data(chunk, &n));
    if (it->second.data.size() + n > self->owner->opt_.max_body) {
      it->second.too_large = true;
      it->second.data.clear();
      it->second.data.shrink_to_fit();
      return;
    }
    it->second.data.append(p, n);
  }

  static void on_finished(SoupServerMessage* msg, gpointer data) {
    auto* self = static_cast<Impl*>(data);
    self->bodies.erase(msg);
    if (auto it = self->paused.find(msg); it != self->paused.end()) {
      // The client left before its answer: nobody will use the session being set up.
      *it->second.alive = false;
      const std::string id = it->second.id;
      self->paused.erase(it);
      if (self->owner->on_delete_) self->owner->on_delete_(id);
    }
  }

  static void on_early(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                       gpointer data) {
    auto* self = static_cast<Impl*>(data);
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    self->bodies[msg];
    g_signal_connect(msg, "got-chunk", G_CALLBACK(&Impl::on_chunk), self);
    g_signal_connect(msg, "finished", G_CALLBACK(&Impl::on_finished), self);
    // Refuse a declared oversize body before reading it (the handler will answer 413).
    goffset len =
        soup_message_headers_get_content_length(soup_server_message_get_request_headers(msg));
    if (len > goffset(self->owner->opt_.max_body)) self->bodies[msg].too_large = true;
  }

  static void on_request(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable*,
                         gpointer data) {
    auto* self = static_cast<Impl*>(data);
    Body body;
    if (auto it = self->bodies.find(msg); it != self->bodies.end()) body = std::move(it->second);
    self->owner->handle(msg, path ? path : "/", body.data, body.too_large);
  }
};

WebrtcHttpServer::WebrtcHttpServer(WebrtcHttpOptions options) : opt_(std::move(options)) {}

WebrtcHttpServer::~WebrtcHttpServer() = default;

nlohmann::json WebrtcHttpServer::status_counts() const {
  nlohmann::json by = nlohmann::json::object();
  for (const auto& [status, n] : counters_.by_status) by[std::to_string(status)] = n;
  return by;
}

std::string WebrtcHttpServer::url(const std::string& path) const {
  const bool v6 = opt_.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + opt_.host + "]" : opt_.host) + ":" + std::to_string(bound_port_) +
         path;
}

Expected<void, std::string> WebrtcHttpServer::start() {
  impl_ = std::make_unique<Impl>(this);
  impl_->server = soup_server_new("server-header", "meshcast", nullptr);
  soup_server_add_early_handler(impl_->server, nullptr, &Impl::on_early, impl_.get(), nullptr);
  soup_server_add_handler(impl_->server, nullptr, &Impl::on_request, impl_.get(), nullptr);
  GInetAddress* ia = g_inet_address_new_from_string(opt_.host.c_str());
  if (!ia) return unexpected("not an IP address: " + opt_.host);
  GSocketAddress* sa = g_inet_socket_address_new(ia, opt_.port);
  g_object_unref(ia);
  GError* e = nullptr;
  const bool ok = soup_server_listen(impl_->server, sa, SoupServerListenOptions(0), &e);
  g_object_unref(sa);
  if (!ok) {
    std::string m = "cannot listen on " + opt_.host + ":" + std::to_string(opt_.port) + ": " +
                    (e ? e->message : "?");
    g_clear_error(&e);
    return unexpected(m);
  }
  GSList* uris = soup_server_get_uris(impl_->server);
  if (uris) bound_port_ = uint16_t(g_uri_get_port(static_cast<GUri*>(uris->data)));
  g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  return {};
}

void WebrtcHttpServer::respond(SoupServerMessage* msg, int status, const std::string& type,
                               const std::string& body) {
  ++counters_.requests;
  ++counters_.by_status[status];
  cors(msg);
  soup_server_message_set_status(msg, guint(status), nullptr);
  if (!body.empty() || !type.empty())
    soup_server_message_set_response(msg, type.empty() ? "text/plain" : type.c_str(),
                                     SOUP_MEMORY_COPY, body.data(), body.size());
}

void WebrtcHttpServer::handle(SoupServerMessage* msg, const std::string& path,
                              const std::string& body, bool too_large) {
  const std::string method = soup_server_message_get_method(msg);
  if (method == "OPTIONS") return respond(msg, 204, "", "");
  const bool endpoint = path == opt_.path || path.rfind(opt_.path + "/", 0) == 0;
  if ((method == "GET" || method == "HEAD") && !endpoint) {
    if (auto live = opt_.live_pages.find(path); live != opt_.live_pages.end()) {
      const Page p = live->second();
      return respond(msg, 200, p.content_type, p.body);
    }
    auto page = opt_.pages.find(path);
    if (page == opt_.pages.end()) return respond(msg, 404, "text/plain", "not found\n");
    return respond(msg, 200, page->second.content_type, page->second.body);
  }
  const bool collection = path == opt_.path;
  const std::string prefix = opt_.path + "/";
  const bool resource = path.size() > prefix.size() && path.rfind(prefix, 0) == 0;
  if (!collection && !resource) return respond(msg, 404, "text/plain", "not found\n");
  auto allow = [&](const char* methods) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", methods);
    respond(msg, 405, "text/plain", "method not allowed\n");
  };
  if (collection && method != "POST") return allow("POST, OPTIONS");
  if (resource && method != "PATCH" && method != "DELETE") return allow("PATCH, DELETE, OPTIONS");
  if (!opt_.token.empty()) {
    const std::string auth = header(msg, "Authorization");
    const std::string bearer = "Bearer ";
    if (auth.rfind(bearer, 0) != 0 ||
        !signaling::constant_time_equal(auth.substr(bearer.size()), opt_.token)) {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                   "WWW-Authenticate", "Bearer");
      return respond(msg, 401, "text/plain", "a valid bearer token is needed\n");
    }
  }
  if (too_large)
    return respond(msg, 413, "text/plain",
                   "the body is larger than " + std::to_string(opt_.max_body) + " bytes\n");
  if (collection) return handle_offer(msg, body);

  const std::string id = path.substr(prefix.size());
  auto res = resources_.find(id);
  if (res == resources_.end()) return respond(msg, 404, "text/plain", "no such session\n");
  if (method == "DELETE") {
    resources_.erase(res);
    if (on_delete_) on_delete_(id);
    return respond(msg, 200, "", "");
  }
  if (media_type(msg) != kTrickle)
    return respond(msg, 415, "text/plain", std::string("PATCH takes ") + kTrickle + "\n");
  const std::string if_match = header(msg, "If-Match");
  if (!if_match.empty() && if_match != "*" && if_match != res->second.etag)
    return respond(msg, 412, "text/plain", "the ETag does not match\n");
  auto frag = signaling::parse_trickle_fragment(body);
  if (!frag) return respond(msg, 400, "text/plain", frag.error() + "\n");
  if (!frag->ice_ufrag.empty() && frag->ice_ufrag != res->second.ice_ufrag)
    return respond(msg, 422, "text/plain", "ICE restarts are not supported\n");
  for (const auto& c : frag->candidates) {
    unsigned mline = 0;
    for (size_t i = 0; i < res->second.mids.size(); ++i)
      if (res->second.mids[i] == c.mid) mline = unsigned(i);
    if (on_candidate_) on_candidate_(id, mline, c.candidate);
  }
  respond(msg, 204, "", "");
}

void WebrtcHttpServer::handle_offer(SoupServerMessage* msg, const std::string& body) {
  if (media_type(msg) != kSdp)
    return respond(msg, 415, "text/plain", std::string("the offer must be ") + kSdp + "\n");
  auto offer = signaling::parse_sdp_offer(body);
  if (!offer) return respond(msg, 400, "text/plain", "bad SDP offer: " + offer.error() + "\n");
  if (!on_offer_) return respond(msg, 503, "text/plain", "not ready\n");
  const std::string id = signaling::random_token(16);
  Resource r;
  r.etag = "\"" + signaling::random_token(8) + "\"";
  for (const auto& m : offer->media) {
    r.mids.push_back(m.mid);
    if (r.ice_ufrag.empty()) r.ice_ufrag = m.ice_ufrag;
  }
  auto alive = std::make_shared<bool>(true);
  impl_->paused[msg] = {alive, id};
  // Our own reference while paused, released with the reply function whatever happens.
  std::shared_ptr<SoupServerMessage> held(SOUP_SERVER_MESSAGE(g_object_ref(msg)), g_object_unref);
  soup_server_message_pause(msg);
  on_offer_(id, body, *offer, [this, held, alive, id, r](Expected<std::string, HttpError> answer) {
    if (!*alive) return;  // the client or the server is gone
    SoupServerMessage* m = held.get();
    impl_->paused.erase(m);
    if (answer) {
      resources_[id] = r;
      SoupMessageHeaders* h = soup_server_message_get_response_headers(m);
      soup_message_headers_replace(h, "Location", (opt_.path + "/" + id).c_str());
      soup_message_headers_replace(h, "ETag", r.etag.c_str());
      soup_message_headers_replace(h, "Accept-Patch", kTrickle);
      respond(m, 201, kSdp, *answer);
    } else {
      respond(m, answer.error().status, "text/plain", answer.error().message + "\n");
    }
    soup_server_message_unpause(m);
  });
}

}  // namespace meshcast::app
