#include "media/broadcast/frame_player.hpp"

#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstdlib>
#include <deque>

#include "media/broadcast/frame_codec.hpp"
#include "media/broadcast/window_title.hpp"
#include "media/common/gst_util.hpp"

namespace meshcast::media {

namespace {

bool display_available() {
  for (const char* var : {"DISPLAY", "WAYLAND_DISPLAY"}) {
    const char* v = std::getenv(var);
    if (v && *v) return true;
  }
  return false;
}

size_t kind_index(MediaFrame::Kind k) { return static_cast<size_t>(k); }

bool has_property(GstElement* e, const char* name) {
  return g_object_class_find_property(G_OBJECT_GET_CLASS(e), name) != nullptr;
}

bool installed(const char* element) { return make_element(element) != nullptr; }

// Same stream, only the picture size differs (a publisher size change).
bool only_size_differs(const StreamHeader& a, const StreamHeader& b) {
  StreamHeader x = a;
  x.width = b.width;
  x.height = b.height;
  return x == b && a != b;
}

const char* mux_element(FileContainer c) {
  switch (c) {
    case FileContainer::WebM:
      return "webmmux";
    case FileContainer::Matroska:
      return "matroskamux";
    case FileContainer::Mp4:
      return "mp4mux";
  }
  return "webmmux";
}

// The lower-case extension of the file name ("" if none).
std::string extension(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return {};
  std::string ext(path.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(g_ascii_tolower(c));
  return ext;
}

}  // namespace

FileContainer file_container(std::string_view path) {
  const std::string ext = extension(path);
  if (ext == "mkv") return FileContainer::Matroska;
  if (ext == "mp4") return FileContainer::Mp4;
  return FileContainer::WebM;  // .webm, and (as before) any other extension
}

bool file_extension_known(std::string_view path) {
  const std::string ext = extension(path);
  return ext == "webm" || ext == "mkv" || ext == "mp4";
}

const char* to_string(FileContainer c) {
  switch (c) {
    case FileContainer::WebM:
      return "WebM";
    case FileContainer::Matroska:
      return "Matroska";
    case FileContainer::Mp4:
      return "MP4";
  }
  return "?";
}

std::string container_codec_error(FileContainer c, const StreamHeader& h) {
  if (c == FileContainer::WebM && h.video_codec == StreamHeader::VideoCodec::H264)
    return "H.264 cannot go into WebM: use .mkv or .mp4";
  if (c == FileContainer::Mp4 && h.video_codec == StreamHeader::VideoCodec::VP8)
    return "VP8 cannot go into MP4 (mp4mux takes no VP8): use .webm or .mkv";
  return {};
}

Expected<std::string, std::string> choose_h264_decoder(std::string* warning) {
  ensure_gst_init();
  if (!installed("h264parse"))
    return unexpected(std::string(
        "no H.264 parser: h264parse missing (gstreamer1.0-plugins-bad); cannot play H.264"));
  if (installed("avdec_h264")) return std::string("h264parse ! avdec_h264 name=vdec");
  if (installed("openh264dec")) {
    if (warning)
      *warning =
          "avdec_h264 missing (install gstreamer1.0-libav): using openh264dec, which decodes "
          "Constrained Baseline only (High/Main profile streams will fail or show garbage)";
    return std::string("h264parse ! openh264dec name=vdec");
  }
  return unexpected(
      std::string("no H.264 decoder: install gstreamer1.0-libav (avdec_h264) or openh264dec "
                  "(gstreamer1.0-plugins-bad)"));
}

Expected<std::string, std::string> choose_video_sink() {
  if (!display_available())
    return unexpected("no display: neither DISPLAY nor WAYLAND_DISPLAY is set");
  ensure_gst_init();
  std::string tried;
  for (const char* name : kWindowVideoSinks) {
    GstElementPtr sink = make_element(name);
    if (!sink) continue;  // not installed
    tried += tried.empty() ? name : std::string(", ") + name;
    // The X sinks open the display (and check XVideo ports) on NULL -> READY.
    const bool ok = gst_element_set_state(sink.get(), GST_STATE_READY) == GST_STATE_CHANGE_SUCCESS;
    gst_element_set_state(sink.get(), GST_STATE_NULL);
    if (ok) return std::string(name);
  }
  const char* d = std::getenv("DISPLAY");
  std::string where = d && *d ? std::string("display ") + d : "the Wayland display";
  if (tried.empty())
    return unexpected(
        "no window video sink installed (glimagesink, xvimagesink or ximagesink: "
        "install gstreamer1.0-gl or gstreamer1.0-x)");
  return unexpected("cannot open a window on " + where + " (tried " + tried + ")");
}

std::optional<OutputSpec> parse_output_spec(std::string_view text) {
  if (text == "auto") return OutputSpec{OutputSpec::Type::Auto, {}};
  if (text == "null") return OutputSpec{OutputSpec::Type::Null, {}};
  if (text == "display") return OutputSpec{OutputSpec::Type::Display, {}};
  if (text.empty()) return std::nullopt;
  return OutputSpec{OutputSpec::Type::File, std::string(text)};
}

std::string to_string(const OutputSpec& spec) {
  switch (spec.type) {
    case OutputSpec::Type::Auto:
      return "auto";
    case OutputSpec::Type::Null:
      return "null";
    case OutputSpec::Type::Display:
      return "display";
    case OutputSpec::Type::File:
      return spec.path;
  }
  return "?";
}

FramePlayer::FramePlayer(GMainContext* context, PlayerConfig config)
    : context_(context), config_(std::move(config)), output_(config_.output) {
  if (output_.type == OutputSpec::Type::Auto) {
    if (config_.video_sink.empty()) config_.video_sink = choose_video_sink().value_or("");
    output_.type = config_.video_sink.empty() ? OutputSpec::Type::Null : OutputSpec::Type::Display;
  }
  switch (config_.gap_mode) {
    case PlayerConfig::GapMode::Collapse:
      collapse_gaps_ = true;
      break;
    case PlayerConfig::GapMode::Keep:
      collapse_gaps_ = false;
      break;
    case PlayerConfig::GapMode::Auto:
      collapse_gaps_ = output_.type == OutputSpec::Type::File;
      break;
  }
}

FramePlayer::~FramePlayer() { stop(2000); }

void FramePlayer::fail(std::string message) {
  if (!error_.empty()) return;
  error_ = std::move(message);
  if (on_error_) on_error_(error_);
}

void FramePlayer::warn(const std::string& message) {
  if (on_warning_)
    on_warning_(message);
  else
    g_warning("meshcast: player: %s", message.c_str());
}

GstCapsPtr FramePlayer::video_caps(const StreamHeader& h) const {
  if (h.video_codec == StreamHeader::VideoCodec::H264)
    return GstCapsPtr(gst_caps_new_simple(
        "video/x-h264", "stream-format", G_TYPE_STRING, "byte-stream", "alignment", G_TYPE_STRING,
        "au", "width", G_TYPE_INT, int{h.width}, "height", G_TYPE_INT, int{h.height}, "framerate",
        GST_TYPE_FRACTION, int{h.fps_num}, int{h.fps_den}, nullptr));
  return GstCapsPtr(gst_caps_new_simple("video/x-vp8", "width", G_TYPE_INT, int{h.width}, "height",
                                        G_TYPE_INT, int{h.height}, "framerate", GST_TYPE_FRACTION,
                                        int{h.fps_num}, int{h.fps_den}, nullptr));
}

bool FramePlayer::build_pipeline() {
  if (output_.type == OutputSpec::Type::Null) return true;
  const StreamHeader& h = *header_;
  const bool h264 = h.video_codec == StreamHeader::VideoCodec::H264;
  std::string d;
  if (output_.type == OutputSpec::Type::File) {
    const FileContainer container = file_container(output_.path);
    if (std::string why = container_codec_error(container, h); !why.empty()) {
      fail("player: " + output_.path + ": " + why);
      return false;
    }
    const char* mux = mux_element(container);
    if (!installed(mux)) {
      fail(std::string("GStreamer element ") + mux + " missing (gst-plugins-good)");
      return false;
    }
    if (h264 && !installed("h264parse")) {
      fail("GStreamer element h264parse missing (gst-plugins-bad): cannot record H.264");
      return false;
    }
    d = std::string(mux) + " name=mux ! filesink name=fsink sync=false ";
    // Explicit mux pads: a bare "mux." would request a pad before caps are known.
    // h264parse turns the byte-stream into what the muxer takes: avc (avc1, codec_data
    // from the SPS/PPS) for MP4, which every MP4 player reads. Matroska gets avc3 (SPS/PPS
    // stay in-band): matroskamux refuses a codec_data change for avc ("Could not multiplex
    // stream"), i.e. any publisher size change.
    std::string parse;
    if (h264)
      parse = container == FileContainer::Matroska
                  ? "h264parse ! video/x-h264,stream-format=avc3,alignment=au ! "
                  : "h264parse ! ";
    if (h.has_video()) d += "appsrc name=vsrc format=time ! " + parse + "queue ! mux.video_0 ";
    if (h.has_audio()) d += "appsrc name=asrc format=time ! queue ! mux.audio_0 ";
  } else {
    if (h.has_video()) {
      std::string sink = config_.video_sink;
      if (sink.empty()) {
        auto chosen = choose_video_sink();
        if (!chosen) {
          fail("player: " + chosen.error());
          return false;
        }
        sink = std::move(*chosen);
      }
      // Only a known window sink (never a framebuffer sink through autovideosink).
      if (std::find_if(std::begin(kWindowVideoSinks), std::end(kWindowVideoSinks),
                       [&](const char* n) { return sink == n; }) == std::end(kWindowVideoSinks)) {
        fail("player: unsupported video sink " + sink);
        return false;
      }
      std::string decoder = "vp8dec name=vdec";
      if (h264) {
        std::string warning;
        auto chosen = choose_h264_decoder(&warning);
        if (!chosen) {
          fail("player: " + chosen.error());
          return false;
        }
        if (!warning.empty()) warn(warning);
        decoder = std::move(*chosen);
      }
      video_sink_name_ = sink;
      d += "appsrc name=vsrc format=time is-live=true ! queue ! " + decoder + " ! videoconvert ! " +
           sink + " name=vout ";
    }
    // A machine with a screen but no sound card still shows the video.
    if (h.has_audio())
      d += std::string(
               "appsrc name=asrc format=time is-live=true ! queue ! opusdec name=adec ! "
               "audioconvert ! audioresample ! ") +
           (device_available("Audio/Sink") ? "autoaudiosink " : "fakesink sync=true ");
  }
  GErrorPtr err;
  auto pipeline = adopt_floating<GstElementPtr>(
      gst_parse_launch_full(d.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, out_ptr(err)));
  if (!pipeline) {
    fail(std::string("cannot build player pipeline: ") + (err ? err->message : "unknown"));
    return false;
  }
  runner_.adopt(std::move(pipeline));
  if (output_.type == OutputSpec::Type::File)
    g_object_set(runner_.element("fsink").get(), "location", output_.path.c_str(), nullptr);
  const bool live = output_.type == OutputSpec::Type::Display;
  if (live) add_display_probes();
  auto setup_src = [&](const char* name, GstCapsPtr caps) -> GstElementPtr {
    GstElementPtr src = runner_.element(name);
    gst_app_src_set_caps(GST_APP_SRC(src.get()), caps.get());
    // Never block the main loop; the queue is bounded by what the caller pushes.
    g_object_set(src.get(), "block", FALSE, "max-bytes", guint64{0}, nullptr);
    if (live)
      g_object_set(src.get(), "min-latency", gint64{config_.display_latency_us * 1000}, nullptr);
    return src;
  };
  if (h.has_video()) video_src_ = setup_src("vsrc", video_caps(h));
  if (h.has_audio())
    audio_src_ = setup_src(
        "asrc", GstCapsPtr(gst_caps_new_simple(
                    "audio/x-opus", "rate", G_TYPE_INT, int(h.audio_rate), "channels", G_TYPE_INT,
                    int{h.audio_channels}, "channel-mapping-family", G_TYPE_INT, 0, nullptr)));

  runner_.set_on_message([this](GstMessage* msg) { return on_bus_message(msg); });
  runner_.watch_bus(context_);
  if (auto played = runner_.play("cannot open output"); !played) {
    fail("player: " + to_string(output_) + ": " + played.error());
    return false;
  }
  return true;
}

size_t FramePlayer::push_batch(const FrameBatch& batch) {
  size_t accepted = 0;
  for (const auto& f : batch.frames) accepted += push(batch.header, f) ? 1 : 0;
  return accepted;
}

void FramePlayer::mark_gap() {
  if (!started_) return;
  // One gap, however many times it is reported (missed-segment event, number jump, pts jump).
  if (!gap_pending_) ++stats_.gaps;
  gap_pending_ = true;
  if (header_->has_video()) video_waiting_ = true;
  std::fill(std::begin(discont_), std::end(discont_), true);
}

bool FramePlayer::push(const StreamHeader& h, const MediaFrame& f) {
  auto drop = [&] {
    ++stats_.frames_dropped;
    return false;
  };
  if (stopped_ || failed()) return drop();
  if (!header_) {
    if (!stream_header_valid(h)) return drop();
    header_ = h;
    if (!build_pipeline()) return drop();
  } else if (h != *header_) {
    // A publisher size change: same codecs, new width/height. appsrc queues the new caps in
    // order with the buffers, so the frames before it keep the old size downstream.
    if (!only_size_differs(h, *header_) || !stream_header_valid(h)) return drop();
    header_ = h;
    ++stats_.size_changes;
    if (video_src_) {
      GstCapsPtr caps = video_caps(h);
      gst_app_src_set_caps(GST_APP_SRC(video_src_.get()), caps.get());
    }
  }
  const bool is_video = f.kind == MediaFrame::Kind::Video;
  if (is_video ? !h.has_video() : !h.has_audio()) return drop();
  if (f.pts_us < 0 || f.duration_us < 0) return drop();

  if (!started_) {
    // Start at a video key frame (any frame for audio-only). Audio is held back briefly:
    // the encoder's audio for the key frame's instant often arrives just before it.
    if (h.has_video() && !f.is_video_keyframe()) {
      if (is_video) {
        if (!video_waiting_) ++stats_.keyframe_waits;
        video_waiting_ = true;
      } else {
        held_audio_.push_back(f);
        if (held_audio_.size() > kMaxHeldAudio) {
          held_audio_.pop_front();
          ++stats_.frames_dropped;
        }
        return true;
      }
      return drop();
    }
    started_ = true;
    video_waiting_ = false;
    base_us_ = f.pts_us;
    input_end_us_ = f.pts_us;
    std::deque<MediaFrame> held;
    held.swap(held_audio_);
    const bool accepted = play(h, f);
    for (const auto& a : held) play(h, a);  // those before the key frame are dropped there
    return accepted;
  }
  return play(h, f);
}

bool FramePlayer::play(const StreamHeader& h, const MediaFrame& f) {
  auto drop = [&] {
    ++stats_.frames_dropped;
    return false;
  };
  const bool is_video = f.kind == MediaFrame::Kind::Video;

  // A jump beyond the expected next frame: data is missing.
  int64_t threshold = config_.gap_threshold_us;
  if (h.has_video()) threshold = std::max<int64_t>(threshold, 2'000'000LL * h.fps_den / h.fps_num);
  // Without audio, the encoder's dropped frames look like gaps: only a long jump counts
  // (the mesh should call mark_gap() for missing segments anyway).
  if (!h.has_audio()) threshold = std::max<int64_t>(threshold, 1'000'000);
  if (f.pts_us > input_end_us_ + threshold) {
    if (!gap_pending_) ++stats_.gaps;
    gap_pending_ = true;
    if (collapse_gaps_) offset_us_ += f.pts_us - input_end_us_;
    if (h.has_video() && !f.is_video_keyframe()) video_waiting_ = true;
    std::fill(std::begin(discont_), std::end(discont_), true);
  }
  input_end_us_ = std::max(input_end_us_, f.pts_us + f.duration_us);

  if (is_video && video_waiting_) {
    if (!f.keyframe) {
      if (!counted_wait_) ++stats_.keyframe_waits;
      counted_wait_ = true;
      return drop();
    }
    video_waiting_ = false;
  }
  if (is_video) counted_wait_ = false;

  int64_t out = f.pts_us - base_us_ - offset_us_;
  if (out < 0) return drop();  // audio from before the start key frame
  const size_t k = kind_index(f.kind);
  if (out <= last_out_us_[k]) out = last_out_us_[k] + 1;  // monotonic per stream
  last_out_us_[k] = out;
  const bool discont = discont_[k];
  discont_[k] = false;

  gap_pending_ = false;
  ++stats_.frames_played;
  ++(is_video ? stats_.video_frames : stats_.audio_frames);
  stats_.bytes += f.data.size();
  stats_.media_duration_us = std::max(stats_.media_duration_us, out + f.duration_us);
  push_to_output(f, out, discont);
  if (on_play_) on_play_(f, out);
  return true;
}

void FramePlayer::push_to_output(const MediaFrame& f, int64_t out_pts_us, bool discont) {
  GstElement* src = (f.kind == MediaFrame::Kind::Video ? video_src_ : audio_src_).get();
  if (!src || window_closed_) return;  // null output, or the viewer closed the window
  GstBuffer* buf = gst_buffer_new_memdup(f.data.data(), f.data.size());
  GST_BUFFER_PTS(buf) = static_cast<GstClockTime>(out_pts_us) * 1000;
  GST_BUFFER_DTS(buf) = GST_BUFFER_PTS(buf);
  GST_BUFFER_DURATION(buf) = static_cast<GstClockTime>(f.duration_us) * 1000;
  if (f.kind == MediaFrame::Kind::Video && !f.keyframe)
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  if (discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  if (gst_app_src_push_buffer(GST_APP_SRC(src), buf) != GST_FLOW_OK)  // takes the buffer
    fail("player pipeline refused data (output closed or failed)");
}

Expected<void, std::string> FramePlayer::stop(int timeout_ms) {
  if (!stopped_) {
    stopped_ = true;
    if (runner_) {
      bool eos_sent = false;
      for (GstElement* src : {video_src_.get(), audio_src_.get()})
        if (src) eos_sent |= gst_app_src_end_of_stream(GST_APP_SRC(src)) == GST_FLOW_OK;
      if (eos_sent && error_.empty() && !window_closed_) {
        // Wait for the muxer to write its index/cues and the sink to see EOS: only then
        // is the file complete. Bounded so a stuck sink cannot hang the caller.
        GstBusPtr bus = element_bus(runner_.pipeline());
        GstMessagePtr msg(gst_bus_timed_pop_filtered(
            bus.get(), static_cast<GstClockTime>(timeout_ms) * GST_MSECOND,
            static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
        if (!msg) {
          fail("timed out finalizing " + to_string(output_));
        } else if (GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_ERROR) {
          GErrorPtr err = message_error(msg.get());
          fail(std::string("player: ") + (err ? err->message : "error"));
        }
      }
      runner_.stop();
      video_src_.reset();
      audio_src_.reset();
      video_sink_.reset();
    }
  }
  if (!error_.empty()) return unexpected(error_);
  return {};
}

bool FramePlayer::on_bus_message(GstMessage* msg) {
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GErrorPtr err = message_error(msg);
    // glimagesink, xvimagesink and ximagesink report a closed window as RESOURCE/NOT_FOUND
    // ("Output window was closed"): the viewer's choice, not a failure.
    GstObject* sink = GST_OBJECT(video_sink_.get());
    const bool from_window =
        sink && GST_MESSAGE_SRC(msg) &&
        (GST_MESSAGE_SRC(msg) == sink || gst_object_has_as_ancestor(GST_MESSAGE_SRC(msg), sink));
    if (from_window && err &&
        g_error_matches(err.get(), GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND)) {
      if (!window_closed_) {
        window_closed_ = true;
        if (on_window_closed_) on_window_closed_();
      }
    } else if (!window_closed_) {
      fail(std::string("player: ") + (err ? err->message : "error"));
    }
  }
  return true;  // nothing else is of interest here
}

void FramePlayer::add_display_probes() {
  video_sink_ = runner_.element("vout");
  if (GstElement* sink = video_sink_.get()) {
    if (has_property(sink, "force-aspect-ratio"))
      g_object_set(sink, "force-aspect-ratio", TRUE, nullptr);
    if (has_property(sink, "handle-events")) g_object_set(sink, "handle-events", TRUE, nullptr);
  }
  add_src_buffer_probe(runner_.pipeline(), "vdec", &FramePlayer::on_video_decoded, this);
  add_src_buffer_probe(runner_.pipeline(), "adec", &FramePlayer::on_audio_decoded, this);
}

std::vector<AvMark> FramePlayer::av_marks() const {
  std::lock_guard<std::mutex> lock(marks_mutex_);
  return marks_;
}

// Streaming thread of vp8dec's source pad: the window title (a tag event ahead of the first
// picture; the X and GL sinks name their window after GST_TAG_TITLE) and flash detection.
GstPadProbeReturn FramePlayer::on_video_decoded(GstPad* pad, GstPadProbeInfo* info, gpointer p) {
  auto* self = static_cast<FramePlayer*>(p);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!self->title_sent_) {
    self->title_sent_ = true;
    if (!self->config_.title.empty()) {
      GstTagList* tags = gst_tag_list_new(GST_TAG_TITLE, self->config_.title.c_str(), nullptr);
      gst_pad_push_event(pad, gst_event_new_tag(tags));
    }
  }
  // glimagesink ignores the tag: name its X11 window directly once it exists.
  if (!self->config_.title.empty() && self->video_sink_name_ == "glimagesink" &&
      !self->gl_title_set_ && self->gl_title_attempts_ < 300) {
    ++self->gl_title_attempts_;
    self->gl_title_set_ = set_gl_window_title(self->video_sink_.get(), self->config_.title);
  }
  if (!self->config_.detect_av_marks || !buf) return GST_PAD_PROBE_OK;
  GstCapsPtr caps(gst_pad_get_current_caps(pad));
  GstVideoInfo vi;
  const bool have_info = caps && gst_video_info_from_caps(&vi, caps.get());
  if (!have_info || !GST_VIDEO_INFO_IS_YUV(&vi)) return GST_PAD_PROBE_OK;
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &vi, buf, GST_MAP_READ)) return GST_PAD_PROBE_OK;
  // Mean luma over a sparse grid: a flash frame is white, the pattern mostly dark.
  const auto* y = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  const int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0);
  const int w = GST_VIDEO_FRAME_WIDTH(&frame), h = GST_VIDEO_FRAME_HEIGHT(&frame);
  uint64_t sum = 0, n = 0;
  for (int r = 0; r < h; r += 4)
    for (int c = 0; c < w; c += 4) {
      sum += y[static_cast<size_t>(r) * stride + static_cast<size_t>(c) * pstride];
      ++n;
    }
  gst_video_frame_unmap(&frame);
  const double mean = n ? double(sum) / double(n) : 0;
  const bool bright = mean > 200;
  if (bright && !self->flash_on_) {
    const int64_t ns = buffer_running_time_ns(pad, buf);
    const int64_t rt = ns < 0 ? -1 : ns / 1000;
    if (rt >= 0) {
      std::lock_guard<std::mutex> lock(self->marks_mutex_);
      if (self->marks_.size() < kMaxAvMarks) self->marks_.push_back({MediaFrame::Kind::Video, rt});
    }
  }
  if (mean < 160) self->flash_on_ = false;
  if (bright) self->flash_on_ = true;
  return GST_PAD_PROBE_OK;
}

// Streaming thread of opusdec's source pad: tone onsets (first loud sample after >= 100 ms
// of quiet), timed to the sample.
GstPadProbeReturn FramePlayer::on_audio_decoded(GstPad* pad, GstPadProbeInfo* info, gpointer p) {
  auto* self = static_cast<FramePlayer*>(p);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!self->config_.detect_av_marks || !buf) return GST_PAD_PROBE_OK;
  GstCapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) return GST_PAD_PROBE_OK;
  const GstStructure* st = gst_caps_get_structure(caps.get(), 0);
  int rate = 0, channels = 0;
  const char* format = gst_structure_get_string(st, "format");
  const bool s16 = format && std::string_view(format) == "S16LE" &&
                   gst_structure_get_int(st, "rate", &rate) &&
                   gst_structure_get_int(st, "channels", &channels) && rate > 0 && channels > 0;
  caps.reset();
  if (!s16) return GST_PAD_PROBE_OK;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return GST_PAD_PROBE_OK;
  const auto* pcm = reinterpret_cast<const int16_t*>(map.data);
  const size_t frames = map.size / (sizeof(int16_t) * static_cast<size_t>(channels));
  const int64_t quiet_needed = rate / 10;
  for (size_t i = 0; i < frames; ++i) {
    int peak = 0;
    for (int c = 0; c < channels; ++c)
      peak = std::max(peak, std::abs(int{pcm[i * static_cast<size_t>(channels) + c]}));
    if (peak < 3000) {
      ++self->audio_quiet_samples_;
      continue;
    }
    if (self->audio_quiet_samples_ >= quiet_needed) {
      const int64_t ns = buffer_running_time_ns(pad, buf);
      const int64_t rt = ns < 0 ? -1 : ns / 1000;
      if (rt >= 0) {
        std::lock_guard<std::mutex> lock(self->marks_mutex_);
        if (self->marks_.size() < kMaxAvMarks)
          self->marks_.push_back(
              {MediaFrame::Kind::Audio, rt + static_cast<int64_t>(i) * 1'000'000 / rate});
      }
    }
    self->audio_quiet_samples_ = 0;
  }
  gst_buffer_unmap(buf, &map);
  return GST_PAD_PROBE_OK;
}

}  // namespace meshcast::media
