#include "media/broadcast/whip_source.hpp"

#define GST_USE_UNSTABLE_API
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>

#include "media/common/gst_util.hpp"

namespace meshcast::media {
namespace {

constexpr int64_t kNoMediaTimeoutUs = 10'000'000;
constexpr unsigned kCheckIntervalMs = 250;

std::string video_chain(StreamHeader::VideoCodec codec,
                        const std::optional<WhipSourceConfig::Transcode>& t) {
  const char* sink = "appsink name=vsink sync=false ";
  std::string depay;
  switch (codec) {
    case StreamHeader::VideoCodec::VP8:
      depay = "rtpvp8depay name=vdepay request-keyframe=true wait-for-keyframe=true ! ";
      if (!t) return depay + sink;
      depay += "vp8dec ! ";
      break;
    case StreamHeader::VideoCodec::H264:
      // config-interval=-1: SPS/PPS before every IDR, so any key frame stands alone.
      depay =
          "rtph264depay name=vdepay request-keyframe=true wait-for-keyframe=true ! "
          "h264parse config-interval=-1 ! ";
      if (!t) return depay + "video/x-h264,stream-format=byte-stream,alignment=au ! " + sink;
      depay += gst_element_factory_find("avdec_h264") ? "avdec_h264 ! " : "openh264dec ! ";
      break;
    default:
      return "";
  }
  // Same encoder settings as capture (BroadcastSource): strict CBR, a key frame a second.
  return depay + "videoconvert ! videoscale ! videorate ! video/x-raw,format=I420,width=" +
         std::to_string(t->width) + ",height=" + std::to_string(t->height) +
         ",pixel-aspect-ratio=1/1,framerate=" + std::to_string(t->fps) +
         "/1 ! queue max-size-buffers=3 max-size-time=0 max-size-bytes=0 leaky=downstream ! "
         "vp8enc deadline=1 lag-in-frames=0 error-resilient=default threads=1 cpu-used=" +
         std::to_string(t->cpu_used) +
         " end-usage=cbr buffer-size=1000 buffer-initial-size=500 buffer-optimal-size=600 "
         "dropframe-threshold=30 target-bitrate=" +
         std::to_string(t->video_kbps * 1000) + " keyframe-max-dist=" + std::to_string(t->fps) +
         " ! " + sink;
}

const char* encoding_name(StreamHeader::VideoCodec codec) {
  return codec == StreamHeader::VideoCodec::H264 ? "H264" : "VP8";
}

}  // namespace

std::optional<std::pair<int, int>> vp8_keyframe_size(const std::vector<uint8_t>& f) {
  // frame tag (3 bytes, bit 0 of byte 0 clear = key frame), start code 9d 01 2a, then
  // 14-bit width and height (2 bits of scaling each).
  if (f.size() < 10 || (f[0] & 1) != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a)
    return std::nullopt;
  const int w = (f[6] | (f[7] << 8)) & 0x3fff, h = (f[8] | (f[9] << 8)) & 0x3fff;
  if (w == 0 || h == 0) return std::nullopt;
  return std::pair{w, h};
}

WhipSource::WhipSource(GMainContext* context, WhipSourceConfig config, WhipCodecs codecs)
    : context_(context),
      config_(std::move(config)),
      codecs_(codecs),
      output_codec_(config_.transcode && codecs.video != StreamHeader::VideoCodec::None
                        ? StreamHeader::VideoCodec::VP8
                        : codecs.video),
      leg_(context, config_.leg) {}

WhipSource::~WhipSource() { stop(); }

void WhipSource::start(const std::string& offer, WebrtcLeg::AnswerFn done) {
  const bool video = codecs_.video != StreamHeader::VideoCodec::None;
  const bool audio = codecs_.audio_pt >= 0;
  if (!video && !audio) return done(unexpected(std::string("the offer has no VP8, H.264 or Opus")));
  ensure_gst_init();
  std::string desc = "webrtcbin name=webrtc bundle-policy=max-bundle latency=" +
                     std::to_string(config_.latency_ms) + " ";
  if (video) desc += video_chain(codecs_.video, config_.transcode);
  if (audio) desc += "rtpopusdepay name=adepay ! appsink name=asink sync=false ";
  if (auto b = leg_.build(desc); !b) return done(unexpected(b.error()));
  GstAppSinkCallbacks callbacks{};
  callbacks.new_sample =
      +[](GstAppSink* sink, gpointer self) { return on_sample(GST_ELEMENT(sink), self); };
  for (const char* name : {"vsink", "asink"})
    if (GstElementPtr sink = leg_.runner().element(name)) {
      gst_app_sink_set_callbacks(GST_APP_SINK(sink.get()), &callbacks, this, nullptr);
      if (name[0] == 'v') video_sink_ = std::move(sink);
    }
  g_signal_connect(leg_.webrtcbin(), "pad-added", G_CALLBACK(&WhipSource::on_pad_added), this);
  leg_.set_on_state([this](const std::string& s) {
    if (s == "failed" || s == "closed") closed("the publisher's connection " + s);
  });
  leg_.set_on_error([this](const std::string& e) { closed("ingest pipeline: " + e); });
  add_transceivers();
  started_at_us_ = monotonic_us();
  keyframe_timer_ =
      SourceGuard::timeout(kCheckIntervalMs, &WhipSource::on_keyframe_check, this, context_);
  leg_.answer(offer, std::move(done));
}

// A WHIP offer is sendonly: without a recvonly transceiver of its kind already there,
// webrtcbin would answer with the offer's own direction, which intersects to inactive.
void WhipSource::add_transceivers() {
  auto add = [&](const std::string& caps_text) {
    GstCapsPtr caps(gst_caps_from_string(caps_text.c_str()));
    GstWebRTCRTPTransceiver* t = nullptr;
    g_signal_emit_by_name(leg_.webrtcbin(), "add-transceiver",
                          GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps.get(), &t);
    if (t) gst_object_unref(t);
  };
  if (codecs_.video != StreamHeader::VideoCodec::None)
    add(std::string("application/x-rtp,media=video,clock-rate=90000,encoding-name=") +
        encoding_name(codecs_.video) + ",payload=" + std::to_string(codecs_.video_pt));
  if (codecs_.audio_pt >= 0)
    add("application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=" +
        std::to_string(codecs_.audio_pt));
}

void WhipSource::on_pad_added(GstElement*, GstPad* pad, gpointer p) {
  auto* self = static_cast<WhipSource*>(p);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  GstCapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const GstStructure* s =
      caps && gst_caps_get_size(caps.get()) ? gst_caps_get_structure(caps.get(), 0) : nullptr;
  const char* media = s ? gst_structure_get_string(s, "media") : nullptr;
  const char* target = g_strcmp0(media, "video") == 0   ? "vdepay"
                       : g_strcmp0(media, "audio") == 0 ? "adepay"
                                                        : nullptr;
  GstElementPtr depay = target ? self->leg_.runner().element(target) : nullptr;
  GstPadPtr sink = depay ? static_pad(depay.get(), "sink") : nullptr;
  if (!sink || gst_pad_is_linked(sink.get()) || gst_pad_link(pad, sink.get()) != GST_PAD_LINK_OK) {
    // Not ours (a second video, an unknown kind): drain it so webrtcbin does not stall.
    GstElementPtr drain = make_element("fakesink");
    if (!drain) return;
    g_object_set(drain.get(), "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add(GST_BIN(self->leg_.runner().pipeline()), drain.get());
    gst_element_sync_state_with_parent(drain.get());
    gst_pad_link(pad, static_pad(drain.get(), "sink").get());
    return;
  }
  if (g_strcmp0(media, "video") == 0)
    self->leg_.queue().post([self] {
      self->last_request_at_us_ = -1;
      self->request_keyframe();
    });
}

GstFlowReturn WhipSource::on_sample(GstElement* appsink, gpointer p) {
  // Streaming thread: copy the unit out and hand it to the main context.
  auto* self = static_cast<WhipSource*>(p);
  GstSamplePtr sample(gst_app_sink_pull_sample(GST_APP_SINK(appsink)));
  GstBuffer* buf = sample ? gst_sample_get_buffer(sample.get()) : nullptr;
  if (!buf) return GST_FLOW_OK;
  Raw raw;
  raw.video = appsink == self->video_sink_.get();
  GstClockTime pts = GST_BUFFER_PTS_IS_VALID(buf) ? GST_BUFFER_PTS(buf) : GST_BUFFER_DTS(buf);
  const GstSegment* seg = gst_sample_get_segment(sample.get());
  if (!GST_CLOCK_TIME_IS_VALID(pts) || !seg) return GST_FLOW_OK;
  const guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID(rt)) return GST_FLOW_OK;
  raw.pts_ns = int64_t(rt);
  if (GST_BUFFER_DURATION_IS_VALID(buf)) raw.duration_ns = int64_t(GST_BUFFER_DURATION(buf));
  raw.delta = GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  if (GstCaps* caps = gst_sample_get_caps(sample.get()); caps && gst_caps_get_size(caps)) {
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    gst_structure_get_int(s, "width", &raw.width);
    gst_structure_get_int(s, "height", &raw.height);
  }
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return GST_FLOW_OK;
  raw.data.assign(map.data, map.data + map.size);
  gst_buffer_unmap(buf, &map);
  self->leg_.queue().post([self, r = std::move(raw)]() mutable { self->deliver(r); });
  return GST_FLOW_OK;
}

void WhipSource::deliver(Raw& raw) {
  if (stopped_ || raw.data.empty()) return;
  last_media_at_us_ = monotonic_us();
  const bool has_video = codecs_.video != StreamHeader::VideoCodec::None;
  const bool key = raw.video && !raw.delta;
  if (raw.video && output_codec_ == StreamHeader::VideoCodec::VP8) {
    // The frame itself is the authority on its size (the depayloader's caps may lag).
    if (auto size = vp8_keyframe_size(raw.data)) std::tie(raw.width, raw.height) = *size;
  }
  if (key) {
    ++stats_.keyframes;
    last_keyframe_at_us_ = last_media_at_us_;
  }
  // Nothing goes out before the first video key frame: the first segment must open on one.
  if (base_ns_ < 0) {
    if (has_video && !key) {
      ++stats_.dropped_before_keyframe;
      return;
    }
    base_ns_ = raw.pts_ns;
  }
  if (raw.pts_ns < base_ns_) {  // audio captured just before the opening key frame
    ++stats_.dropped_before_keyframe;
    return;
  }
  StreamHeader h = header_.value_or(StreamHeader{});
  if (!header_) {
    h.video_codec = output_codec_;
    // RTP carries no frame rate: nominal unless transcoded, players follow the timestamps.
    h.fps_num = uint16_t(config_.transcode ? config_.transcode->fps : 30);
    h.fps_den = 1;
    if (codecs_.audio_pt >= 0) {
      h.audio_codec = StreamHeader::AudioCodec::Opus;
      h.audio_rate = 48000;
      h.audio_channels = uint8_t(std::clamp(codecs_.audio_channels, 1, 2));
    }
  }
  if (key && raw.width > 0 && raw.height > 0) {
    h.width = uint16_t(std::min(raw.width, 65535));
    h.height = uint16_t(std::min(raw.height, 65535));
  }
  if (!header_ || !(h == *header_)) {
    if (has_video && (h.width == 0 || h.height == 0)) {
      ++stats_.dropped_before_keyframe;  // a key frame without a known size: wait for the next
      base_ns_ = header_ ? base_ns_ : -1;
      return;
    }
    header_ = h;
    if (on_header_) on_header_(*header_);
  }
  MediaFrame f;
  f.kind = raw.video ? MediaFrame::Kind::Video : MediaFrame::Kind::Audio;
  f.keyframe = !raw.video || key;
  int64_t pts_us = (raw.pts_ns - base_ns_) / 1000;
  auto& last = last_pts_us_[static_cast<int>(f.kind)];
  pts_us = std::max(pts_us, last < 0 ? 0 : last + (raw.video ? 1 : 0));
  last = pts_us;
  f.pts_us = pts_us;
  if (raw.video) {
    if (last_video_ns_ >= 0 && raw.pts_ns > last_video_ns_) {
      // Frame spacing, smoothed: RTP gives no durations and the rate may vary.
      const int64_t d = std::min<int64_t>(raw.pts_ns - last_video_ns_, 200'000'000);
      video_spacing_ns_ = (video_spacing_ns_ * 7 + d) / 8;
    }
    last_video_ns_ = raw.pts_ns;
    f.duration_us = video_spacing_ns_ / 1000;
    ++stats_.video_frames;
    stats_.video_bytes += raw.data.size();
  } else {
    f.duration_us = raw.duration_ns > 0 ? raw.duration_ns / 1000 : 20'000;
    ++stats_.audio_frames;
    stats_.audio_bytes += raw.data.size();
  }
  f.data = std::move(raw.data);
  if (on_frame_) on_frame_(f);
}

bool WhipSource::request_keyframe() {
  if (!video_sink_ || stopped_) return false;
  const int64_t now = monotonic_us();
  if (last_request_at_us_ >= 0 &&
      now - last_request_at_us_ < int64_t{config_.min_forced_keyframe_gap_ms} * 1000)
    return false;
  last_request_at_us_ = now;
  ++stats_.keyframe_requests;
  // Travels up through the depayloader to webrtcbin's RTP session, which sends a PLI
  // (all-headers=FALSE: FIR only if the publisher offered ccm fir, OBS does not).
  gst_element_send_event(video_sink_.get(), gst_video_event_new_upstream_force_key_unit(
                                                GST_CLOCK_TIME_NONE, FALSE, 0));
  return true;
}

gboolean WhipSource::on_keyframe_check(gpointer p) {
  auto* self = static_cast<WhipSource*>(p);
  const int64_t now = monotonic_us();
  const int64_t quiet_since =
      self->last_media_at_us_ >= 0 ? self->last_media_at_us_ : self->started_at_us_;
  if (now - quiet_since > kNoMediaTimeoutUs) {
    self->closed("no media from the publisher for 10 s");
    return G_SOURCE_CONTINUE;
  }
  if (self->video_sink_ && self->last_media_at_us_ >= 0) {
    const int64_t since_key = self->last_keyframe_at_us_ >= 0 ? now - self->last_keyframe_at_us_
                                                              : now - self->started_at_us_;
    if (since_key > int64_t{self->config_.keyframe_interval_ms} * 1000) self->request_keyframe();
  }
  return G_SOURCE_CONTINUE;
}

void WhipSource::closed(const std::string& why) {
  if (stopped_) return;
  keyframe_timer_.reset();
  if (on_closed_) on_closed_(why);  // may destroy this
}

void WhipSource::stop() {
  if (stopped_) return;
  stopped_ = true;
  keyframe_timer_.reset();
  leg_.stop();
  video_sink_.reset();
}

}  // namespace meshcast::media
