// A standard WHIP client for tests: GStreamer's webrtcbin sending a test pattern (x264enc or
// vp8enc) and a tone (opusenc), offering like OBS does (sendonly, every candidate in the
// offer, no trickle), POSTing over HTTP with libsoup and applying the 201 answer.
#pragma once

#define GST_USE_UNSTABLE_API
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <libsoup/soup.h>

#include <chrono>
#include <string>

#include "media/common/pipeline_runner.hpp"
#include "media/common/webrtc_leg.hpp"

namespace meshcast::test {

struct HttpResult {
  int status = 0;
  std::string body;
  std::string location;
};

// One synchronous HTTP request (libsoup runs its own context for sync calls).
inline HttpResult http_request(const std::string& method, const std::string& url,
                               const std::string& content_type, const std::string& body,
                               const std::string& token = {}) {
  HttpResult r;
  SoupSession* session = soup_session_new();
  SoupMessage* msg = soup_message_new(method.c_str(), url.c_str());
  if (!msg) {
    g_object_unref(session);
    return r;
  }
  if (!token.empty())
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                 ("Bearer " + token).c_str());
  if (!content_type.empty() || !body.empty()) {
    GBytes* b = g_bytes_new(body.data(), body.size());
    soup_message_set_request_body_from_bytes(msg, content_type.c_str(), b);
    g_bytes_unref(b);
  }
  GError* e = nullptr;
  GBytes* out = soup_session_send_and_read(session, msg, nullptr, &e);
  if (out) {
    gsize n = 0;
    const char* p = static_cast<const char*>(g_bytes_get_data(out, &n));
    r.body.assign(p ? p : "", n);
    g_bytes_unref(out);
  }
  g_clear_error(&e);
  r.status = int(soup_message_get_status(msg));
  if (const char* loc =
          soup_message_headers_get_one(soup_message_get_response_headers(msg), "Location"))
    r.location = loc;
  g_object_unref(msg);
  g_object_unref(session);
  return r;
}

class WhipPublisher {
 public:
  enum class Video { H264, VP8 };
  ~WhipPublisher() { runner_.stop(); }

  // Builds, offers, POSTs, applies the answer. Empty string on success, else why not.
  std::string start(const std::string& whip_url, const std::string& token, Video video,
                    int width = 320, int height = 240, int fps = 15) {
    const std::string venc =
        video == Video::H264
            ? "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max=600 "
              "! video/x-h264,profile=constrained-baseline ! rtph264pay pt=96 "
              "config-interval=-1 aggregate-mode=zero-latency ! "
              "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000"
            : "vp8enc deadline=1 keyframe-max-dist=600 ! rtpvp8pay pt=96 ! "
              "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000";
    const std::string desc =
        "webrtcbin name=webrtc bundle-policy=max-bundle "
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=" +
        std::to_string(width) + ",height=" + std::to_string(height) +
        ",framerate=" + std::to_string(fps) + "/1 ! " + venc +
        " ! webrtc. audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample "
        "! opusenc ! rtpopuspay pt=111 ! "
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! webrtc.";
    if (auto b = runner_.build(desc); !b) return b.error();
    webrtc_ = runner_.element("webrtc");
    if (!media::restrict_ice(webrtc_.get(), {"127.0.0.1"})) return "cannot restrict ICE";
    for (const char* pad : {"sink_0", "sink_1"})
      if (media::GstPadPtr p = media::static_pad(webrtc_.get(), pad)) {
        GObject* t = nullptr;
        g_object_get(p.get(), "transceiver", &t, nullptr);
        if (t) {
          g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, nullptr);
          g_object_unref(t);
        }
      }
    if (gst_element_set_state(runner_.pipeline(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      return "publisher pipeline does not start";
    GstPromise* p = gst_promise_new();
    g_signal_emit_by_name(webrtc_.get(), "create-offer", nullptr, p);
    gst_promise_wait(p);
    GstWebRTCSessionDescription* offer = nullptr;
    if (const GstStructure* s = gst_promise_get_reply(p))
      gst_structure_get(s, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
    gst_promise_unref(p);
    if (!offer) return "no offer";
    g_signal_emit_by_name(webrtc_.get(), "set-local-description", offer, nullptr);
    gst_webrtc_session_description_free(offer);
    // Like OBS: every candidate in the one offer.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      GstWebRTCICEGatheringState gs{};
      g_object_get(webrtc_.get(), "ice-gathering-state", &gs, nullptr);
      if (gs == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) break;
      if (std::chrono::steady_clock::now() > until) return "ICE gathering did not complete";
      g_usleep(20'000);
    }
    GstWebRTCSessionDescription* local = nullptr;
    g_object_get(webrtc_.get(), "local-description", &local, nullptr);
    if (!local) return "no local description";
    gchar* text = gst_sdp_message_as_text(local->sdp);
    offer_sdp_ = text;
    g_free(text);
    gst_webrtc_session_description_free(local);
    auto r = http_request("POST", whip_url, "application/sdp", offer_sdp_, token);
    status_ = r.status;
    if (r.status != 201) return "WHIP POST answered " + std::to_string(r.status) + ": " + r.body;
    resource_ = r.location;
    GstSDPMessage* sdp = nullptr;
    if (gst_sdp_message_new_from_text(r.body.c_str(), &sdp) != GST_SDP_OK)
      return "the answer is not SDP";
    GstWebRTCSessionDescription* answer =
        gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
    answer_sdp_ = r.body;
    GstPromise* ap = gst_promise_new();
    g_signal_emit_by_name(webrtc_.get(), "set-remote-description", answer, ap);
    gst_promise_wait(ap);
    gst_promise_unref(ap);
    gst_webrtc_session_description_free(answer);
    return "";
  }
  void stop() { runner_.stop(); }
  const std::string& resource() const { return resource_; }
  const std::string& offer() const { return offer_sdp_; }
  const std::string& answer() const { return answer_sdp_; }
  int status() const { return status_; }

 private:
  media::PipelineRunner runner_;
  media::GstElementPtr webrtc_;
  std::string offer_sdp_, answer_sdp_, resource_;
  int status_ = 0;
};

}  // namespace meshcast::test
