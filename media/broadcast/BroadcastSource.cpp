#include "media/broadcast/BroadcastSource.hpp"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include <algorithm>
#include <sstream>

#include "media/common/gst_util.hpp"

namespace meshcast::media {

namespace {

constexpr int kAudioRate = 48000;

bool element_exists(const char* factory) {
  GstElementFactory* f = gst_element_factory_find(factory);
  if (!f) return false;
  gst_object_unref(f);
  return true;
}

std::string file_uri(const std::string& path, std::string* error) {
  GError* err = nullptr;
  gchar* uri = gst_filename_to_uri(path.c_str(), &err);
  if (!uri) {
    if (error) *error = err ? err->message : "bad file path";
    g_clear_error(&err);
    return {};
  }
  std::string out = uri;
  g_free(uri);
  return out;
}

// gst-launch quoting for property values (paths may contain spaces).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::optional<SourceSpec> parse_source_spec(std::string_view text) {
  if (text == "none") return SourceSpec{SourceSpec::Type::None, {}};
  if (text == "test") return SourceSpec{SourceSpec::Type::Test, {}};
  if (text == "device") return SourceSpec{SourceSpec::Type::Device, {}};
  if (text.starts_with("file:") && text.size() > 5)
    return SourceSpec{SourceSpec::Type::File, std::string(text.substr(5))};
  return std::nullopt;
}

std::string to_string(const SourceSpec& spec) {
  switch (spec.type) {
    case SourceSpec::Type::None:
      return "none";
    case SourceSpec::Type::Test:
      return "test";
    case SourceSpec::Type::Device:
      return "device";
    case SourceSpec::Type::File:
      return "file:" + spec.path;
  }
  return "?";
}

BroadcastSource::BroadcastSource(GMainContext* context, BroadcastConfig config)
    : context_(context), config_(std::move(config)) {
  config_.width = std::clamp(config_.width, 16, 4096);
  config_.height = std::clamp(config_.height, 16, 4096);
  config_.fps = std::clamp(config_.fps, 1, 120);
  config_.audio_channels = std::clamp(config_.audio_channels, 1, 2);
  config_.audio_bitrate_kbps = std::clamp(config_.audio_bitrate_kbps, 6, 510);
  config_.keyframe_interval_ms = std::clamp(config_.keyframe_interval_ms, 40, 60'000);
  config_.encoder_threads = std::clamp(config_.encoder_threads, 1, 16);
  config_.cpu_used = std::clamp(config_.cpu_used, -16, 16);
  // The pattern goes into a pipeline description: only a plain word is allowed.
  if (config_.test_pattern.empty() ||
      !std::all_of(config_.test_pattern.begin(), config_.test_pattern.end(),
                   [](char c) { return g_ascii_isalnum(c) || c == '-'; }))
    config_.test_pattern = "ball";
  if (config_.video.type != SourceSpec::Type::None) {
    header_.video_codec = StreamHeader::VideoCodec::VP8;
    header_.width = static_cast<uint16_t>(config_.width);
    header_.height = static_cast<uint16_t>(config_.height);
    header_.fps_num = static_cast<uint16_t>(config_.fps);
    header_.fps_den = 1;
  }
  if (config_.audio.type != SourceSpec::Type::None) {
    header_.audio_codec = StreamHeader::AudioCodec::Opus;
    header_.audio_rate = kAudioRate;
    header_.audio_channels = static_cast<uint8_t>(config_.audio_channels);
  }
}

BroadcastSource::~BroadcastSource() { stop(); }

std::string BroadcastSource::video_branch(const SourceSpec& in) {
  SourceSpec spec = in;
  if (spec.type == SourceSpec::Type::Device && !device_available("Video/Source")) {
    warnings_.push_back("no video capture device found: using the test pattern instead");
    spec.type = SourceSpec::Type::Test;
  }
  const bool live = spec.type != SourceSpec::Type::File;
  std::ostringstream d;
  switch (spec.type) {
    case SourceSpec::Type::Test:
      d << "videotestsrc is-live=true pattern=" << config_.test_pattern << " ! ";
      if (element_exists("timeoverlay"))
        d << "video/x-raw,width=" << config_.width << ",height=" << config_.height
          << " ! timeoverlay font-desc=\"Sans 24\" ! ";
      break;
    case SourceSpec::Type::Device:
      d << "autovideosrc ! ";
      break;
    case SourceSpec::Type::File:
      d << "vdec. ! ";
      break;
    case SourceSpec::Type::None:
      return {};
  }
  const int audio_kbps = header_.has_audio() ? config_.audio_bitrate_kbps : 0;
  const int video_kbps = std::max(50, config_.bitrate_kbps - audio_kbps);
  const int kf_dist = std::max(1, config_.keyframe_interval_ms * config_.fps / 1000);
  d << "videoconvert ! videoscale ! videorate ! video/x-raw,format=I420,width=" << config_.width
    << ",height=" << config_.height << ",framerate=" << config_.fps
    << "/1,pixel-aspect-ratio=1/1 ! "
    // Live: never let a slow encoder back up capture (drop instead). File: no drops.
    << (live ? "queue max-size-buffers=3 max-size-time=0 max-size-bytes=0 leaky=downstream ! "
             : "queue ! ")
    << "vp8enc name=venc deadline=1 lag-in-frames=0 error-resilient=default cpu-used="
    << config_.cpu_used << " threads="
    << config_.encoder_threads
    // Strict CBR (short rate buffers, frame dropping when over budget): the mesh carries a
    // fixed budget; without this, noisy content overshoots 10x.
    << " end-usage=cbr buffer-size=1000 buffer-initial-size=500 buffer-optimal-size=600"
    << " dropframe-threshold=30 target-bitrate=" << video_kbps * 1000
    << " keyframe-max-dist=" << kf_dist
    << " ! appsink name=vsink async=false max-buffers=0 drop=false sync="
    << (live ? "false" : "true");
  return d.str();
}

std::string BroadcastSource::audio_branch(const SourceSpec& in) {
  SourceSpec spec = in;
  if (spec.type == SourceSpec::Type::Device && !device_available("Audio/Source")) {
    warnings_.push_back("no audio capture device found: using the test tone instead");
    spec.type = SourceSpec::Type::Test;
  }
  const bool live = spec.type != SourceSpec::Type::File;
  std::ostringstream d;
  switch (spec.type) {
    case SourceSpec::Type::Test:
      // 960 samples = 20 ms per buffer, one Opus frame each.
      d << "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 samplesperbuffer=960 ! ";
      break;
    case SourceSpec::Type::Device:
      d << "autoaudiosrc ! ";
      break;
    case SourceSpec::Type::File:
      d << audio_decoder_ << ". ! ";
      break;
    case SourceSpec::Type::None:
      return {};
  }
  d << "audioconvert ! audioresample ! audio/x-raw,rate=" << kAudioRate
    << ",channels=" << config_.audio_channels
    << " ! queue ! opusenc bitrate=" << config_.audio_bitrate_kbps * 1000
    << " frame-size=20 ! appsink name=asink async=false max-buffers=0 drop=false sync="
    << (live ? "false" : "true");
  return d.str();
}

bool BroadcastSource::start(std::string* error) {
  if (pipeline_) return true;
  auto fail = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return false;
  };
  if (!header_.has_video() && !header_.has_audio())
    return fail("nothing to broadcast: both video and audio are 'none'");
  for (const char* f : {"vp8enc", "opusenc", "appsink", "videotestsrc", "audiotestsrc"})
    if (!element_exists(f)) return fail(std::string("GStreamer element missing: ") + f);

  std::ostringstream d;
  // One decoder per distinct file; the branches link to it by name (delayed linking picks
  // the pad whose caps fit: videoconvert only takes video, audioconvert only audio).
  const bool vfile = config_.video.type == SourceSpec::Type::File;
  const bool afile = config_.audio.type == SourceSpec::Type::File;
  if (vfile || afile) {
    std::string uri_error;
    if (vfile) {
      std::string uri = file_uri(config_.video.path, &uri_error);
      if (uri.empty()) return fail("video file: " + uri_error);
      d << "uridecodebin uri=" << quoted(uri) << " name=vdec ";
    }
    if (afile) {
      if (vfile && config_.audio.path == config_.video.path) {
        audio_decoder_ = "vdec";  // same file: one decoder feeds both branches
      } else {
        std::string uri = file_uri(config_.audio.path, &uri_error);
        if (uri.empty()) return fail("audio file: " + uri_error);
        d << "uridecodebin uri=" << quoted(uri) << " name=adec ";
      }
    }
  }
  if (header_.has_video()) d << video_branch(config_.video) << " ";
  if (header_.has_audio()) d << audio_branch(config_.audio);
  description_ = d.str();

  GError* err = nullptr;
  GstElement* pipeline =
      gst_parse_launch_full(description_.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!pipeline) {
    std::string msg = err ? err->message : "unknown error";
    g_clear_error(&err);
    return fail("cannot build capture pipeline: " + msg);
  }
  pipeline_ = pipeline;

  queue_ = std::make_unique<MainContextQueue>(context_);
  GstAppSinkCallbacks callbacks{};
  callbacks.new_sample = [](GstAppSink* sink, gpointer self) {
    return on_new_sample(GST_ELEMENT(sink), self);
  };
  for (const char* name : {"vsink", "asink"}) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline_), name);
    if (!sink) continue;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, this, nullptr);
    if (std::string_view(name) == "vsink")
      video_sink_ = sink;  // keeps the ref; released in stop()
    else
      gst_object_unref(sink);
  }

  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_create_watch(bus);
  g_source_set_callback(bus_watch_, G_SOURCE_FUNC(&BroadcastSource::on_bus_message), this, nullptr);
  g_source_attach(bus_watch_, context_);
  gst_object_unref(bus);

  // The reason (file not found, device busy...) comes from the pipeline when it has one.
  if (std::string reason = "device busy or file unreadable?"; !set_playing(pipeline_, &reason)) {
    stop();
    return fail("capture pipeline failed to start: " + reason);
  }
  return true;
}

void BroadcastSource::stop() {
  if (!pipeline_) return;
  // NULL joins the streaming threads: no new sample callback after this line.
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  if (queue_) queue_->close();
  if (bus_watch_) {
    g_source_destroy(bus_watch_);
    g_source_unref(bus_watch_);
    bus_watch_ = nullptr;
  }
  if (video_sink_) {
    gst_object_unref(video_sink_);
    video_sink_ = nullptr;
  }
  gst_object_unref(pipeline_);
  pipeline_ = nullptr;
}

bool BroadcastSource::request_keyframe() {
  if (!video_sink_) return false;
  const int64_t now = g_get_monotonic_time();
  if (last_forced_keyframe_us_ >= 0 &&
      now - last_forced_keyframe_us_ < int64_t{config_.min_forced_keyframe_gap_ms} * 1000)
    return false;
  last_forced_keyframe_us_ = now;
  // An upstream force-key-unit event sent to the sink travels up to vp8enc.
  gst_element_send_event(video_sink_,
                         gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  return true;
}

GstFlowReturn BroadcastSource::on_new_sample(GstElement* appsink, gpointer user_data) {
  // Streaming thread: copy the frame out and hand it to the main context.
  auto* self = static_cast<BroadcastSource*>(user_data);
  GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(appsink));
  if (!sample) return GST_FLOW_OK;
  GstBuffer* buf = gst_sample_get_buffer(sample);
  const GstSegment* segment = gst_sample_get_segment(sample);
  const bool video = appsink == self->video_sink_;
  GstClockTime pts = buf ? GST_BUFFER_PTS(buf) : GST_CLOCK_TIME_NONE;
  if (buf && !GST_CLOCK_TIME_IS_VALID(pts)) pts = GST_BUFFER_DTS(buf);
  guint64 rt = GST_CLOCK_TIME_NONE;
  if (buf && segment && GST_CLOCK_TIME_IS_VALID(pts))
    rt = gst_segment_to_running_time(segment, GST_FORMAT_TIME, pts);
  if (GST_CLOCK_TIME_IS_VALID(rt)) {
    MediaFrame f;
    f.kind = video ? MediaFrame::Kind::Video : MediaFrame::Kind::Audio;
    f.pts_us = static_cast<int64_t>(rt / 1000);
    if (GST_BUFFER_DURATION_IS_VALID(buf))
      f.duration_us = static_cast<int64_t>(GST_BUFFER_DURATION(buf) / 1000);
    else
      f.duration_us = video ? 1'000'000 / self->config_.fps : 20'000;
    f.keyframe = !video || !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    GstMapInfo map;
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      f.data.assign(map.data, map.data + map.size);
      gst_buffer_unmap(buf, &map);
      self->queue_->post([self, frame = std::move(f)]() mutable { self->deliver(frame); });
    }
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

void BroadcastSource::deliver(MediaFrame& f) {
  if (f.kind == MediaFrame::Kind::Video) {
    ++stats_.video_frames;
    stats_.video_bytes += f.data.size();
    if (f.keyframe) ++stats_.keyframes;
  } else {
    ++stats_.audio_frames;
    stats_.audio_bytes += f.data.size();
  }
  stats_.last_pts_us = std::max(stats_.last_pts_us, f.pts_us);
  if (on_frame_) on_frame_(f);
}

gboolean BroadcastSource::on_bus_message(GstBus*, GstMessage* msg, gpointer user_data) {
  auto* self = static_cast<BroadcastSource*>(user_data);
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      std::string text =
          std::string(GST_OBJECT_NAME(msg->src)) + ": " + (err ? err->message : "unknown error");
      g_clear_error(&err);
      g_free(dbg);
      if (self->on_error_) self->on_error_(text);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError* err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      self->warnings_.push_back(err ? err->message : "warning");
      g_clear_error(&err);
      break;
    }
    case GST_MESSAGE_EOS:
      if (self->on_eos_) self->on_eos_();
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace meshcast::media
