// WHEP playback on a viewer node: the HTTP endpoint, the player page and one WhepSender per
// browser leg, all fed with the frames this viewer plays. Legs are bounded (503 when full),
// one that does not connect in time is dropped, and a failing leg only ends itself: the
// viewer's place in the mesh never depends on a browser.
#pragma once

#include <glib.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apps/session/webrtc_http.hpp"
#include "media/broadcast/whep_sender.hpp"
#include "media/common/source_guard.hpp"

namespace meshcast::app {

struct WhepHubOptions {
  WebrtcHttpOptions http;  // path "/whep"
  media::WebrtcLegConfig leg;
  size_t max_legs = 8;
  int connect_timeout_ms = 15000;
  // A connected leg whose browser sent no RTCP for this long is dropped (a killed browser
  // closes nothing, and ICE alone notices late or never).
  int silence_timeout_ms = 10000;
};

// The player page and script served at "/" and "/player.js".
const std::string& whep_player_html();
const std::string& whep_player_js();

class WhepHub {
 public:
  WhepHub(GMainContext* context, WhepHubOptions options);
  ~WhepHub();

  // Extra status for the player page's status line (lag, continuity, partners...).
  void set_status(std::function<nlohmann::json()> fn) { status_ = std::move(fn); }
  Expected<void, std::string> start();
  std::string url() const { return http_.url("/"); }
  // A batch this viewer plays (in order).
  void push_batch(const media::FrameBatch& batch);
  nlohmann::json status_json() const;
  size_t legs() const { return legs_.size(); }

 private:
  struct Leg {
    std::unique_ptr<media::WhepSender> sender;
    int64_t created_us = 0;
    int64_t connected_us = -1;
  };
  void on_offer(const std::string& id, const std::string& offer, const signaling::SdpOffer& parsed,
                WebrtcHttpServer::Reply reply);
  void end_later(const std::string& id, const std::string& why);
  static gboolean on_sweep(gpointer self);

  GMainContext* context_;
  WhepHubOptions opt_;
  WebrtcHttpServer http_;
  std::optional<media::StreamHeader> header_;
  std::map<std::string, Leg> legs_;
  std::map<std::string, std::string> ending_;  // id -> why, reaped by the sweep
  uint64_t legs_opened_ = 0, legs_closed_ = 0;
  media::SourceGuard sweep_;
  std::function<nlohmann::json()> status_;
};

}  // namespace meshcast::app
