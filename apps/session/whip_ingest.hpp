// WHIP ingest for the broadcaster: the HTTP endpoint plus the one publisher session it
// admits at a time. Chooses the codecs from the publisher's offer (VP8 or H.264, Opus),
// keeps one video codec for the whole broadcast (viewers' decoders are set up once) and one
// timeline across publishers (a publisher that reconnects continues the stream's clock).
#pragma once

#include <glib.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apps/session/webrtc_http.hpp"
#include "media/broadcast/whip_source.hpp"

namespace meshcast::app {

struct WhipIngestOptions {
  WebrtcHttpOptions http;  // path "/whip"
  media::WhipSourceConfig source;
};

class WhipIngest {
 public:
  WhipIngest(GMainContext* context, WhipIngestOptions options);
  ~WhipIngest();

  void set_on_header(std::function<void(const media::StreamHeader&)> fn) {
    on_header_ = std::move(fn);
  }
  void set_on_frame(std::function<void(const media::MediaFrame&)> fn) { on_frame_ = std::move(fn); }
  // A publisher connected (true) or left (false, with the reason).
  void set_on_publisher(std::function<void(bool, const std::string&)> fn) {
    on_publisher_ = std::move(fn);
  }

  Expected<void, std::string> start();
  std::string url() const { return http_.url(opt_.http.path); }
  bool request_keyframe() { return source_ && source_->request_keyframe(); }
  nlohmann::json status_json() const;

 private:
  void on_offer(const std::string& id, const std::string& offer, const signaling::SdpOffer& parsed,
                WebrtcHttpServer::Reply reply);
  void end_session(const std::string& why);
  void end_later(const std::string& why);
  void frame(media::MediaFrame f);

  GMainContext* context_;
  WhipIngestOptions opt_;
  WebrtcHttpServer http_;
  std::unique_ptr<media::WhipSource> source_;
  std::string session_id_;
  std::optional<media::StreamHeader::VideoCodec> locked_codec_;
  int64_t offset_us_ = 0;  // added to this publisher's timestamps
  int64_t end_us_ = 0;     // end of the last frame sent (pts + duration)
  uint64_t publishers_ = 0;
  std::string last_end_reason_;
  std::string pending_end_reason_;
  media::SourceGuard reaper_;  // ends a session outside the callback that reported its end
  std::function<void(const media::StreamHeader&)> on_header_;
  std::function<void(const media::MediaFrame&)> on_frame_;
  std::function<void(bool, const std::string&)> on_publisher_;
};

}  // namespace meshcast::app
