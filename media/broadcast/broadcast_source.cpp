#include "media/broadcast/broadcast_source.hpp"

#include <gst/app/gstappsink.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>

#include <algorithm>
#include <sstream>

#include "media/common/gst_util.hpp"
#include "mesh/base/time.hpp"

namespace meshcast::media {

namespace {

constexpr int kAudioRate = 48000;

bool element_exists(const char* factory) {
  return GstPtr<GstElementFactory>(gst_element_factory_find(factory)) != nullptr;
}

Expected<std::string, std::string> file_uri(const std::string& path) {
  GErrorPtr err;
  GCharPtr uri(gst_filename_to_uri(path.c_str(), out_ptr(err)));
  if (!uri) return unexpected(std::string(err ? err->message : "bad file path"));
  return std::string(uri.get());
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

int fps_from_fraction(int num, int den) {
  if (num <= 0 || den <= 0) return 0;  // variable rate
  return std::clamp(static_cast<int>((static_cast<int64_t>(num) + den / 2) / den), 1, kMaxFps);
}

// A capture device's preferred format: its caps fixated towards 1280x720 @ 30.
std::optional<VideoFormat> probe_device_video() {
  GstPtr<GstDeviceMonitor> mon(gst_device_monitor_new());
  gst_device_monitor_add_filter(mon.get(), "Video/Source", nullptr);
  std::optional<VideoFormat> out;
  if (gst_device_monitor_start(mon.get())) {
    GList* devices = gst_device_monitor_get_devices(mon.get());
    if (devices) {
      GstCapsPtr caps(gst_device_get_caps(GST_DEVICE(devices->data)));
      if (caps && !gst_caps_is_empty(caps.get()) && !gst_caps_is_any(caps.get())) {
        GstStructurePtr st(gst_structure_copy(gst_caps_get_structure(caps.get(), 0)));
        gst_structure_fixate_field_nearest_int(st.get(), "width", kTestPatternWidth);
        gst_structure_fixate_field_nearest_int(st.get(), "height", kTestPatternHeight);
        gst_structure_fixate_field_nearest_fraction(st.get(), "framerate", kTestPatternFps, 1);
        VideoFormat f;
        int n = 0, d = 1;
        gst_structure_get_int(st.get(), "width", &f.width);
        gst_structure_get_int(st.get(), "height", &f.height);
        if (gst_structure_get_fraction(st.get(), "framerate", &n, &d))
          f.fps = fps_from_fraction(n, d);
        if (f.width > 0 && f.height > 0) out = f;
      }
      g_list_free_full(devices, gst_object_unref);
    }
    gst_device_monitor_stop(mon.get());
  }
  return out;
}

}  // namespace

std::optional<std::pair<int, int>> parse_video_size(std::string_view text) {
  const size_t x = text.find('x');
  if (x == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view t) -> int {
    if (t.empty() || t.size() > 5) return -1;
    int v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  const int w = number(text.substr(0, x)), h = number(text.substr(x + 1));
  if (w < 16 || h < 16 || w > kMaxVideoDimension || h > kMaxVideoDimension) return std::nullopt;
  return std::pair{w, h};
}

std::optional<VideoFormat> probe_file_video(const std::string& path, int timeout_ms) {
  const auto uri = file_uri(path);
  if (!uri) return std::nullopt;
  GErrorPtr err;
  GObjectPtr<GstDiscoverer> disc(
      gst_discoverer_new(static_cast<GstClockTime>(timeout_ms) * GST_MSECOND, out_ptr(err)));
  if (!disc) return std::nullopt;
  std::optional<VideoFormat> out;
  GObjectPtr<GstDiscovererInfo> info(
      gst_discoverer_discover_uri(disc.get(), uri->c_str(), out_ptr(err)));
  if (info) {
    GList* streams = gst_discoverer_info_get_video_streams(info.get());
    if (streams) {
      auto* vi = GST_DISCOVERER_VIDEO_INFO(streams->data);
      VideoFormat f;
      f.width = static_cast<int>(gst_discoverer_video_info_get_width(vi));
      f.height = static_cast<int>(gst_discoverer_video_info_get_height(vi));
      f.fps =
          fps_from_fraction(static_cast<int>(gst_discoverer_video_info_get_framerate_num(vi)),
                            static_cast<int>(gst_discoverer_video_info_get_framerate_denom(vi)));
      if (f.width > 0 && f.height > 0) out = f;
    }
    gst_discoverer_stream_info_list_free(streams);
  }
  return out;
}

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
  if (config_.video.type != SourceSpec::Type::None) resolve_video_format();
  config_.width = std::clamp(config_.width, 16, kMaxVideoDimension);
  config_.height = std::clamp(config_.height, 16, kMaxVideoDimension);
  config_.fps = std::clamp(config_.fps, 1, kMaxFps);
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

// Fills what the config leaves at 0 from the source (file, device) or the test-pattern
// default. A source that cannot be probed gets the test-pattern default (a missing file then
// fails in start() with the pipeline's own message).
void BroadcastSource::resolve_video_format() {
  if (config_.width > 0 && config_.height > 0 && config_.fps > 0) return;
  std::optional<VideoFormat> own;
  if (config_.video.type == SourceSpec::Type::File) {
    own = probe_file_video(config_.video.path);
  } else if (config_.video.type == SourceSpec::Type::Device) {
    if (device_available("Video/Source")) own = probe_device_video();
  }
  if (config_.width <= 0 || config_.height <= 0) {
    config_.width = own ? own->width : kTestPatternWidth;
    config_.height = own ? own->height : kTestPatternHeight;
    // A source larger than the encoder's limit is scaled down keeping its aspect ratio.
    if (config_.width > kMaxVideoDimension || config_.height > kMaxVideoDimension) {
      const double f = std::min(double(kMaxVideoDimension) / config_.width,
                                double(kMaxVideoDimension) / config_.height);
      config_.width = std::max(16, static_cast<int>(config_.width * f));
      config_.height = std::max(16, static_cast<int>(config_.height * f));
    }
  }
  if (config_.fps <= 0) config_.fps = own && own->fps > 0 ? own->fps : kTestPatternFps;
}

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
      d << "videotestsrc name=vtest is-live=true pattern=" << config_.test_pattern << " ! ";
      if (config_.av_marks)  // the flash is drawn into I420 frames of the final size
        d << "video/x-raw,format=I420,width=" << config_.width << ",height=" << config_.height
          << ",framerate=" << config_.fps << "/1,pixel-aspect-ratio=1/1 ! ";
      else if (element_exists("timeoverlay"))
        d << "video/x-raw,width=" << config_.width << ",height=" << config_.height << " ! ";
      if (element_exists("timeoverlay")) d << "timeoverlay font-desc=\"Sans 24\" ! ";
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
      if (config_.av_marks)  // 1 kHz, gated to 100 ms beeps by on_test_audio
        d << "audiotestsrc name=atest is-live=true wave=sine freq=1000 volume=0.5 "
             "samplesperbuffer=960 ! audio/x-raw,format=S16LE,rate="
          << kAudioRate << " ! ";
      else
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

Expected<void, std::string> BroadcastSource::start() {
  if (runner_) return {};
  auto fail = [](std::string msg) -> Expected<void, std::string> {
    return unexpected(std::move(msg));
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
    if (vfile) {
      auto uri = file_uri(config_.video.path);
      if (!uri) return fail("video file: " + uri.error());
      d << "uridecodebin uri=" << quoted(*uri) << " name=vdec ";
    }
    if (afile) {
      if (vfile && config_.audio.path == config_.video.path) {
        audio_decoder_ = "vdec";  // same file: one decoder feeds both branches
      } else {
        auto uri = file_uri(config_.audio.path);
        if (!uri) return fail("audio file: " + uri.error());
        d << "uridecodebin uri=" << quoted(*uri) << " name=adec ";
      }
    }
  }
  if (header_.has_video()) d << video_branch(config_.video) << " ";
  if (header_.has_audio()) d << audio_branch(config_.audio);
  description_ = d.str();

  GErrorPtr err;
  auto pipeline = adopt_floating<GstElementPtr>(gst_parse_launch_full(
      description_.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, out_ptr(err)));
  if (!pipeline)
    return fail("cannot build capture pipeline: " +
                std::string(err ? err->message : "unknown error"));
  runner_.adopt(std::move(pipeline));
  if (config_.av_marks) add_av_mark_probes();

  queue_ = std::make_unique<MainContextQueue>(context_);
  GstAppSinkCallbacks callbacks{};
  callbacks.new_sample = [](GstAppSink* sink, gpointer self) {
    return on_new_sample(GST_ELEMENT(sink), self);
  };
  for (const char* name : {"vsink", "asink"}) {
    GstElementPtr sink = runner_.element(name);
    if (!sink) continue;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink.get()), &callbacks, this, nullptr);
    if (std::string_view(name) == "vsink") video_sink_ = std::move(sink);  // kept until stop()
  }

  runner_.set_on_error([this](const std::string& text) {
    if (on_error_) on_error_(text);
  });
  runner_.set_on_warning([this](const std::string& text) { warnings_.push_back(text); });
  runner_.set_on_eos([this] {
    if (on_eos_) on_eos_();
  });
  runner_.watch_bus(context_);

  // The reason (file not found, device busy...) comes from the pipeline when it has one.
  if (auto played = runner_.play("device busy or file unreadable?"); !played) {
    stop();
    return fail("capture pipeline failed to start: " + played.error());
  }
  return {};
}

void BroadcastSource::stop() {
  if (!runner_) return;
  // NULL joins the streaming threads: no new sample callback after this line.
  runner_.stop();
  if (queue_) queue_->close();
  video_sink_.reset();
}

bool BroadcastSource::request_keyframe() {
  if (!video_sink_) return false;
  const int64_t now = meshcast::monotonic_us();
  if (last_forced_keyframe_us_ >= 0 &&
      now - last_forced_keyframe_us_ < int64_t{config_.min_forced_keyframe_gap_ms} * 1000)
    return false;
  last_forced_keyframe_us_ = now;
  // An upstream force-key-unit event sent to the sink travels up to vp8enc.
  gst_element_send_event(video_sink_.get(),
                         gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  return true;
}

void BroadcastSource::add_av_mark_probes() {
  marks_origin_ns_ = -1;
  add_src_buffer_probe(runner_.pipeline(), "vtest", &BroadcastSource::on_test_video, this);
  add_src_buffer_probe(runner_.pipeline(), "atest", &BroadcastSource::on_test_audio, this);
}

// The mark grid: whole seconds after the first test video frame (its running time is the
// origin). The test source stamps frame n at origin + n / fps exactly, so a frame starts on
// every grid instant; the beep starts on the same instant, to the sample.
GstPadProbeReturn BroadcastSource::on_test_video(GstPad* pad, GstPadProbeInfo* info, gpointer p) {
  auto* self = static_cast<BroadcastSource*>(p);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const int64_t rt = buf ? buffer_running_time_ns(pad, buf) : -1;
  if (rt < 0) return GST_PAD_PROBE_OK;
  int64_t origin = self->marks_origin_ns_.load();
  if (origin < 0) {
    self->marks_origin_ns_ = rt;
    origin = rt;
  }
  const int64_t half_frame = 500'000'000LL / self->config_.fps;
  const int64_t phase = (rt - origin + half_frame) % 1'000'000'000LL;
  if (phase >= 2 * half_frame) return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable(buf);
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  GstCapsPtr caps(gst_pad_get_current_caps(pad));
  GstVideoInfo vi;
  if (caps && gst_video_info_from_caps(&vi, caps.get())) {
    GstVideoFrame frame;
    if (gst_video_frame_map(&frame, &vi, buf, GST_MAP_WRITE)) {
      for (guint plane = 0; plane < GST_VIDEO_FRAME_N_PLANES(&frame); ++plane) {
        const int rows = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, plane);
        const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane);
        auto* data = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane));
        std::fill(data, data + static_cast<size_t>(rows) * stride, plane == 0 ? 255 : 128);
      }
      gst_video_frame_unmap(&frame);
    }
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn BroadcastSource::on_test_audio(GstPad* pad, GstPadProbeInfo* info, gpointer p) {
  auto* self = static_cast<BroadcastSource*>(p);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const int64_t rt = buf ? buffer_running_time_ns(pad, buf) : -1;
  if (rt < 0) return GST_PAD_PROBE_OK;
  const int64_t origin = self->marks_origin_ns_.load();
  buf = gst_buffer_make_writable(buf);
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READWRITE)) return GST_PAD_PROBE_OK;
  // audiotestsrc's default is mono; the caps above fix S16LE at 48 kHz.
  int channels = 1;
  if (GstCapsPtr caps{gst_pad_get_current_caps(pad)})
    gst_structure_get_int(gst_caps_get_structure(caps.get(), 0), "channels", &channels);
  channels = std::max(channels, 1);
  auto* pcm = reinterpret_cast<int16_t*>(map.data);
  const size_t frames = map.size / (sizeof(int16_t) * static_cast<size_t>(channels));
  for (size_t i = 0; i < frames; ++i) {
    const int64_t t = rt + static_cast<int64_t>(i) * 1'000'000'000LL / kAudioRate - origin;
    const bool on = origin >= 0 && t >= 0 && t % 1'000'000'000LL < 100'000'000LL;
    if (!on)
      for (int c = 0; c < channels; ++c) pcm[i * static_cast<size_t>(channels) + c] = 0;
  }
  gst_buffer_unmap(buf, &map);
  return GST_PAD_PROBE_OK;
}

GstFlowReturn BroadcastSource::on_new_sample(GstElement* appsink, gpointer user_data) {
  // Streaming thread: copy the frame out and hand it to the main context.
  auto* self = static_cast<BroadcastSource*>(user_data);
  GstSamplePtr sample(gst_app_sink_pull_sample(GST_APP_SINK(appsink)));
  if (!sample) return GST_FLOW_OK;
  GstBuffer* buf = gst_sample_get_buffer(sample.get());
  const GstSegment* segment = gst_sample_get_segment(sample.get());
  const bool video = appsink == self->video_sink_.get();
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

}  // namespace meshcast::media
