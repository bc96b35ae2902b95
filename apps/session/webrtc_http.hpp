// The HTTP side of WHIP (RFC 9725) and WHEP: a libsoup server on the process's main context
// that checks every request (token, content type, size, SDP) before a session is touched,
// keeps the resources (/whip/<id>, /whep/<id>) and hands offers, trickled candidates and
// deletions to its owner. It also serves static pages (the WHEP player).
//
//   POST   <path>       application/sdp offer  -> 201 + answer + Location (owner decides)
//   PATCH  <path>/<id>  trickle-ice-sdpfrag    -> 204 (422 for an ICE restart, 412 If-Match)
//   DELETE <path>/<id>                         -> 200 (404 unknown)
//   OPTIONS *                                  -> 204 with CORS (browsers post cross-origin)
//   401 bad/missing bearer token, 413 body over the limit, 415 wrong type, 400 bad SDP,
//   405 other methods.
#pragma once

#include <glib.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "media/common/webrtc_leg.hpp"
#include "mesh/base/expected.hpp"
#include "mesh/link/link_types.hpp"
#include "signaling/sdp_offer.hpp"

typedef struct _SoupServerMessage SoupServerMessage;

namespace meshcast::app {

struct HttpError {
  int status = 400;
  std::string message;
};

struct WebrtcHttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (bound_port() tells)
  std::string path = "/whip";
  std::string token;  // empty: no token asked
  size_t max_body = signaling::kMaxSdpBytes;
  struct Page {
    std::string content_type;
    std::string body;
  };
  std::map<std::string, Page> pages;  // GET path -> page
  // GET path -> a page made at request time (e.g. a status document).
  std::map<std::string, std::function<Page()>> live_pages;
};

// "IP:PORT", "[IPv6]:PORT" or "PORT" (on 127.0.0.1); PORT 0..65535.
std::optional<std::pair<std::string, uint16_t>> parse_listen_address(std::string_view text);

// The same ICE setup as the mesh links: host candidates on the link's local addresses, its
// STUN and TURN (UDP) servers.
media::WebrtcLegConfig leg_config_from(const link::LinkConfig& link);

class WebrtcHttpServer {
 public:
  using Reply = std::function<void(Expected<std::string, HttpError>)>;  // the answer SDP
  // A valid offer for the new resource `id`; reply once (may be later, on the main context).
  using OfferFn = std::function<void(const std::string& id, const std::string& offer,
                                     const signaling::SdpOffer& parsed, Reply reply)>;
  using CandidateFn =
      std::function<void(const std::string& id, unsigned mline, const std::string& candidate)>;
  using DeleteFn = std::function<void(const std::string& id)>;

  explicit WebrtcHttpServer(WebrtcHttpOptions options);
  ~WebrtcHttpServer();
  WebrtcHttpServer(const WebrtcHttpServer&) = delete;
  WebrtcHttpServer& operator=(const WebrtcHttpServer&) = delete;

  void set_on_offer(OfferFn fn) { on_offer_ = std::move(fn); }
  void set_on_candidate(CandidateFn fn) { on_candidate_ = std::move(fn); }
  void set_on_delete(DeleteFn fn) { on_delete_ = std::move(fn); }

  // Listens on the thread-default main context.
  Expected<void, std::string> start();
  uint16_t bound_port() const { return bound_port_; }
  std::string url(const std::string& path) const;
  // The owner ended a session by itself: its resource is gone (DELETE then gets 404).
  void forget(const std::string& id) { resources_.erase(id); }
  size_t resources() const { return resources_.size(); }

  struct Counters {
    uint64_t requests = 0;
    std::map<int, uint64_t> by_status;
  };
  const Counters& counters() const { return counters_; }
  // {"201": n, "400": n, ...}: answers by status, for status documents.
  nlohmann::json status_counts() const;

 private:
  struct Impl;
  void handle(SoupServerMessage* msg, const std::string& path, const std::string& body,
              bool too_large);
  void handle_offer(SoupServerMessage* msg, const std::string& body);
  void respond(SoupServerMessage* msg, int status, const std::string& type,
               const std::string& body);
  struct Resource {
    std::string etag;
    std::string ice_ufrag;
    std::vector<std::string> mids;  // m-line index -> mid
  };
  WebrtcHttpOptions opt_;
  std::unique_ptr<Impl> impl_;
  std::map<std::string, Resource> resources_;
  uint16_t bound_port_ = 0;
  Counters counters_;
  OfferFn on_offer_;
  CandidateFn on_candidate_;
  DeleteFn on_delete_;
};

}  // namespace meshcast::app
