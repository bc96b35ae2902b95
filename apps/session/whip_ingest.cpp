#include "apps/session/whip_ingest.hpp"

#include <algorithm>

namespace meshcast::app {

using media::StreamHeader;

WhipIngest::WhipIngest(GMainContext* context, WhipIngestOptions options)
    : context_(context), opt_(std::move(options)), http_(opt_.http) {}

WhipIngest::~WhipIngest() {
  reaper_.reset();
  source_.reset();
}

Expected<void, std::string> WhipIngest::start() {
  http_.set_on_offer(
      [this](const std::string& id, const std::string& offer, const signaling::SdpOffer& parsed,
             WebrtcHttpServer::Reply reply) { on_offer(id, offer, parsed, std::move(reply)); });
  http_.set_on_delete([this](const std::string& id) {
    if (id == session_id_) end_session("the publisher ended the session (DELETE)");
  });
  return http_.start();
}

void WhipIngest::on_offer(const std::string& id, const std::string& offer,
                          const signaling::SdpOffer& parsed, WebrtcHttpServer::Reply reply) {
  if (source_) return reply(unexpected(HttpError{409, "a publisher is already live"}));
  // Transcoded, any publisher codec becomes the same VP8: nothing to lock.
  auto chosen = signaling::choose_publish_codecs(
      parsed, !locked_codec_ || opt_.source.transcode            ? ""
              : *locked_codec_ == StreamHeader::VideoCodec::H264 ? "H264"
                                                                 : "VP8");
  if (!chosen) return reply(unexpected(HttpError{400, chosen.error()}));
  media::WhipCodecs codecs;
  codecs.video = chosen->video == "H264"  ? StreamHeader::VideoCodec::H264
                 : chosen->video == "VP8" ? StreamHeader::VideoCodec::VP8
                                          : StreamHeader::VideoCodec::None;
  codecs.video_pt = chosen->video_pt;
  codecs.audio_pt = chosen->audio_pt;
  codecs.audio_channels = chosen->audio_channels;
  source_ = std::make_unique<media::WhipSource>(context_, opt_.source, codecs);
  session_id_ = id;
  offset_us_ = publishers_ ? end_us_ + 20'000 : 0;
  source_->set_on_header([this](const StreamHeader& h) {
    if (h.has_video()) locked_codec_ = h.video_codec;
    if (on_header_) on_header_(h);
  });
  source_->set_on_frame([this](const media::MediaFrame& f) { frame(f); });
  // Reported from inside the source: it is destroyed from the loop, not from there.
  source_->set_on_closed([this](const std::string& why) { end_later(why); });
  const std::string what = (chosen->video.empty() ? std::string("no video") : chosen->video) +
                           (chosen->audio_pt >= 0 ? " + Opus" : ", no audio");
  source_->start(offer, [this, id, reply, what](Expected<std::string, std::string> answer) {
    if (!answer) {
      if (id == session_id_) end_later("refused: " + answer.error());
      return reply(unexpected(HttpError{400, answer.error()}));
    }
    ++publishers_;
    g_message("meshcast: WHIP publisher connected (session %s, %s)", id.c_str(), what.c_str());
    if (on_publisher_) on_publisher_(true, "");
    reply(*answer);
  });
}

void WhipIngest::end_later(const std::string& why) {
  pending_end_reason_ = why;
  reaper_ = media::SourceGuard::timeout(
      0,
      +[](gpointer self) -> gboolean {
        auto* in = static_cast<WhipIngest*>(self);
        in->end_session(in->pending_end_reason_);
        return G_SOURCE_REMOVE;
      },
      this, context_);
}

void WhipIngest::frame(media::MediaFrame f) {
  f.pts_us += offset_us_;
  end_us_ = std::max(end_us_, f.pts_us + f.duration_us);
  if (on_frame_) on_frame_(f);
}

void WhipIngest::end_session(const std::string& why) {
  if (!source_) return;
  auto s = std::move(source_);
  s->stop();
  http_.forget(session_id_);
  session_id_.clear();
  last_end_reason_ = why;
  g_message("meshcast: WHIP publisher left: %s", why.c_str());
  if (on_publisher_) on_publisher_(false, why);
}

nlohmann::json WhipIngest::status_json() const {
  nlohmann::json j;
  j["url"] = url();
  j["live"] = source_ != nullptr;
  j["publishers"] = publishers_;
  if (!last_end_reason_.empty()) j["last_end"] = last_end_reason_;
  if (locked_codec_) j["codec"] = *locked_codec_ == StreamHeader::VideoCodec::H264 ? "H264" : "VP8";
  if (source_) {
    auto st = source_->stats();
    j["ice_state"] = source_->ice_state();
    j["video_frames"] = st.video_frames;
    j["audio_frames"] = st.audio_frames;
    j["keyframes"] = st.keyframes;
    j["keyframe_requests"] = st.keyframe_requests;
    if (auto& h = source_->header())
      j["size"] = std::to_string(h->width) + "x" + std::to_string(h->height);
  }
  j["http"] = http_.status_counts();
  return j;
}

}  // namespace meshcast::app
