#include "media/broadcast/whep_sender.hpp"

#define GST_USE_UNSTABLE_API
#include <gst/app/gstappsrc.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>

#include "media/common/gst_util.hpp"

namespace meshcast::media {
namespace {

// Lead of the output timeline over the first frame's arrival: absorbs the spread of one
// batch's delivery without adding more than a frame or two of delay.
constexpr int64_t kLeadNs = 40'000'000;
// Frames later than this on the output timeline (the mesh fell behind): restart it at the
// next key frame instead of sending a late burst forever.
constexpr int64_t kRebaseLateNs = 500'000'000;
constexpr guint64 kMaxQueuedBuffers = 300;  // ~10 s of video; the oldest go first

std::string appsrc(const char* name, const std::string& caps) {
  return std::string("appsrc name=") + name +
         " is-live=true format=time do-timestamp=false leaky-type=downstream max-buffers=" +
         std::to_string(kMaxQueuedBuffers) + " caps=\"" + caps + "\" ";
}

}  // namespace

WhepSender::WhepSender(GMainContext* context, WebrtcLegConfig config, StreamHeader header,
                       WhepCodecs codecs)
    : context_(context), header_(header), codecs_(codecs), leg_(context, std::move(config)) {}

WhepSender::~WhepSender() { stop(); }

Expected<void, std::string> WhepSender::link_branch(const char* payloader,
                                                    const std::string& caps_text) {
  GstElementPtr pay = leg_.runner().element(payloader);
  GstCapsPtr caps(gst_caps_from_string(caps_text.c_str()));
  GstPadTemplate* templ =
      gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(leg_.webrtcbin()), "sink_%u");
  // Requested with caps, the pad's transceiver knows its kind before the offer arrives, so
  // the browser's audio and video m-lines each find the right one.
  GstPadPtr pad(gst_element_request_pad(leg_.webrtcbin(), templ, nullptr, caps.get()));
  if (!pay || !pad) return unexpected(std::string("webrtcbin refused a send pad"));
  GObject* raw = nullptr;
  g_object_get(pad.get(), "transceiver", &raw, nullptr);
  GObjectPtr<GObject> transceiver(raw);
  if (!transceiver) return unexpected(std::string("no transceiver on webrtcbin's pad"));
  g_object_set(transceiver.get(), "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
               "codec-preferences", caps.get(), nullptr);
  if (gst_pad_link(static_pad(pay.get(), "src").get(), pad.get()) != GST_PAD_LINK_OK)
    return unexpected(std::string("cannot link ") + payloader + " to webrtcbin");
  return {};
}

void WhepSender::start(const std::string& offer, WebrtcLeg::AnswerFn done) {
  ensure_gst_init();
  const bool h264 = header_.video_codec == StreamHeader::VideoCodec::H264;
  const bool video = header_.has_video() && codecs_.video_pt >= 0;
  const bool audio = header_.has_audio() && codecs_.audio_pt >= 0;
  if (!video && !audio)
    return done(unexpected(std::string("the offer takes none of the stream's codecs")));
  std::string desc = "webrtcbin name=webrtc bundle-policy=max-bundle ";
  if (video && h264)
    desc += appsrc("vsrc", "video/x-h264,stream-format=byte-stream,alignment=au") +
            "! h264parse ! clocksync ! rtph264pay name=vpay config-interval=-1 "
            "aggregate-mode=zero-latency mtu=1200 pt=" +
            std::to_string(codecs_.video_pt) + " ";
  else if (video)
    desc += appsrc("vsrc", "video/x-vp8") +
            "! clocksync ! rtpvp8pay name=vpay picture-id-mode=15-bit mtu=1200 pt=" +
            std::to_string(codecs_.video_pt) + " ";
  if (audio)
    desc += appsrc("asrc", "audio/x-opus,channel-mapping-family=0,channels=" +
                               std::to_string(std::max<int>(1, header_.audio_channels)) +
                               ",rate=48000") +
            "! clocksync ! rtpopuspay name=apay pt=" + std::to_string(codecs_.audio_pt) + " ";
  if (auto b = leg_.build(desc); !b) return done(unexpected(b.error()));
  const std::string pt_v = std::to_string(codecs_.video_pt),
                    pt_a = std::to_string(codecs_.audio_pt);
  if (video) {
    auto l =
        link_branch("vpay", std::string("application/x-rtp,media=video,clock-rate=90000,") +
                                "encoding-name=" + (h264 ? "H264" : "VP8") + ",payload=" + pt_v);
    if (!l) return done(unexpected(l.error()));
    video_src_ = leg_.runner().element("vsrc");
  }
  if (audio) {
    auto l = link_branch("apay",
                         "application/x-rtp,media=audio,clock-rate=48000,"
                         "encoding-name=OPUS,payload=" +
                             pt_a);
    if (!l) return done(unexpected(l.error()));
    audio_src_ = leg_.runner().element("asrc");
  }
  // webrtcbin's rtpbin reports every RTCP packet a remote SSRC sends (a liveness signal).
  rtpbin_.reset(gst_bin_get_by_name(GST_BIN(leg_.webrtcbin()), "rtpbin"));
  if (rtpbin_)
    g_signal_connect(rtpbin_.get(), "on-ssrc-active", G_CALLBACK(&WhepSender::on_ssrc_active),
                     this);
  leg_.set_on_state([this](const std::string& s) {
    if ((s == "failed" || s == "closed") && on_closed_ && !stopped_)
      on_closed_("the browser's connection " + s);
  });
  leg_.set_on_error([this](const std::string& e) {
    if (on_closed_ && !stopped_) on_closed_("playback pipeline: " + e);
  });
  leg_.answer(offer, std::move(done));
}

int64_t WhepSender::running_time_ns() const {
  GstElement* p = leg_.webrtcbin() ? GST_ELEMENT(GST_ELEMENT_PARENT(leg_.webrtcbin())) : nullptr;
  GstClock* clock = p ? gst_element_get_clock(p) : nullptr;
  if (!clock) return 0;
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  const GstClockTime base = gst_element_get_base_time(p);
  return now > base ? int64_t(now - base) : 0;
}

void WhepSender::push(const StreamHeader& header, const MediaFrame& f) {
  if (stopped_ || header.video_codec != header_.video_codec) return;
  const bool video = f.kind == MediaFrame::Kind::Video;
  GstElement* src = video ? video_src_.get() : audio_src_.get();
  if (!src) return;
  // Nothing before the browser is connected: caps reaching webrtcbin's pads while it is
  // still applying the offer can leave a stream unconnected for good (seen with H.264), and
  // frames queued before then would go out as a burst.
  if (!started_ && leg_.state() != "connected") {
    ++stats_.dropped_before_keyframe;
    return;
  }
  const int64_t now = running_time_ns();
  if (!started_) {
    if (video_src_ && !f.is_video_keyframe()) {
      ++stats_.dropped_before_keyframe;
      return;
    }
    started_ = true;
    base_in_us_ = f.pts_us;
    base_out_ns_ = now + kLeadNs;
  }
  if (f.pts_us < base_in_us_) return;
  int64_t out = base_out_ns_ + (f.pts_us - base_in_us_) * 1000;
  if (f.is_video_keyframe() && out < now - kRebaseLateNs) {
    base_in_us_ = f.pts_us;
    base_out_ns_ = now + kLeadNs;
    out = base_out_ns_;
    ++stats_.rebases;
  }
  int64_t& last = last_out_ns_[static_cast<int>(f.kind)];
  out = std::max(out, last + 1);
  last = out;
  GstBuffer* buf = gst_buffer_new_memdup(f.data.data(), f.data.size());
  GST_BUFFER_PTS(buf) = GstClockTime(out);
  GST_BUFFER_DURATION(buf) = GstClockTime(std::max<int64_t>(f.duration_us, 0) * 1000);
  if (video && !f.keyframe) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  gst_app_src_push_buffer(GST_APP_SRC(src), buf);  // takes the buffer
  ++(video ? stats_.video_frames : stats_.audio_frames);
}

void WhepSender::on_ssrc_active(GstElement*, guint, guint, gpointer self) {
  static_cast<WhepSender*>(self)->last_feedback_us_ = monotonic_us();
}

void WhepSender::stop() {
  if (stopped_) return;
  stopped_ = true;
  leg_.stop();  // NULL: no signal fires after this
  if (rtpbin_) g_signal_handlers_disconnect_by_data(rtpbin_.get(), this);
  rtpbin_.reset();
  video_src_.reset();
  audio_src_.reset();
}

}  // namespace meshcast::media
