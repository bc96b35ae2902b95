#pragma once
// Viewer side: MediaFrames (in order, possibly with gaps, possibly starting mid-stream) ->
// a file, a window + speakers, or nowhere (counted only).
//
//   file:    appsrc <video> [! h264parse] ! queue ! <mux> ! filesink
//            (+ appsrc audio/x-opus ! queue ! <mux>); the muxer by the file's extension
//            (file_container()): .webm webmmux (VP8), .mkv matroskamux (VP8 or H.264),
//            .mp4 mp4mux (H.264 only); any other extension is written as WebM, as before.
//            H.264 enters as byte-stream/au; h264parse converts it to what the muxer wants.
//   display: appsrc ! queue ! vp8dec ! videoconvert ! <window sink>
//            appsrc ! queue ! h264parse ! avdec_h264 (fallback openh264dec) ! videoconvert ! ...
//            appsrc ! queue ! opusdec ! audioconvert ! audioresample ! autoaudiosink
//            (window sink: the first of kWindowVideoSinks that opens the display)
//   null:    no pipeline
//
// Timeline: video is dropped until the first key frame (audio before it too, so the output
// starts at a key frame); timestamps are rebased so the output starts at 0. A jump in the
// input timestamps (a missing segment) or mark_gap() makes video wait for the next key
// frame; in GapMode::Collapse the missing time is cut out of the output timeline (files),
// in GapMode::Keep it stays (live display follows the broadcaster's clock). Output
// timestamps are kept monotonic per stream in both modes.
//
// Picture size: a later header that differs from the first only in width/height is a
// publisher size change: it is accepted (Stats::size_changes) and the video caps are updated
// (in order with the buffers). Decoders follow in-band size changes; so do the files (every
// frame decodes at its size) except H.264 in MP4, where the frame before the change decodes
// at the new size (docs/media-broadcast.md): prefer .mkv for publishers that change size.

#include <gst/gst.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "media/broadcast/media_frame.hpp"
#include "media/common/pipeline_runner.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

// "auto" | "null" | "display" | anything else = a file path; its extension picks the
// container (file_container): .webm, .mkv or .mp4; any other extension is written as WebM.
struct OutputSpec {
  enum class Type { Auto, Null, Display, File };
  Type type = Type::Auto;
  std::string path;
};
std::optional<OutputSpec> parse_output_spec(std::string_view text);
std::string to_string(const OutputSpec& spec);

// File container by extension (case-insensitive): ".mkv" Matroska, ".mp4" MP4, ".webm" and
// anything else (no or unknown extension) WebM, which was the only container before.
//   WebM:     VP8 + Opus (webmmux). H.264 is refused: "H.264 cannot go into WebM".
//   Matroska: VP8 or H.264, + Opus (matroskamux).
//   MP4:      H.264 + Opus (mp4mux). VP8 is refused: mp4mux (GStreamer 1.22) takes no VP8.
enum class FileContainer { WebM, Matroska, Mp4 };
FileContainer file_container(std::string_view path);
// True for .webm, .mkv and .mp4 (any case); false when file_container() falls back to WebM.
bool file_extension_known(std::string_view path);
const char* to_string(FileContainer c);
// Why `header`'s codecs cannot go into container c (a message for the user), or "" if they can.
std::string container_codec_error(FileContainer c, const StreamHeader& header);

// The H.264 decoder branch for the display: "h264parse ! avdec_h264" (gstreamer1.0-libav),
// else "h264parse ! openh264dec" (decodes Constrained Baseline only: *warning says so), else
// the reason there is none. The decoder element is named vdec. Calls gst_init if needed.
Expected<std::string, std::string> choose_h264_decoder(std::string* warning = nullptr);

// Video sinks the window may use, best first: OpenGL, XVideo, plain X11. Framebuffer sinks
// (dfbvideosink, fbdevsink, kmssink) are never used: autovideosink falls back to
// dfbvideosink when the X sinks are not installed, and it crashes under X.
inline constexpr const char* kWindowVideoSinks[] = {"glimagesink", "xvimagesink", "ximagesink"};
// The first of kWindowVideoSinks that is installed and opens the display (reaches READY),
// or the reason there is none (no display set, display cannot be opened, none installed).
// Calls gst_init if needed.
Expected<std::string, std::string> choose_video_sink();

// A/V marks (test pattern with --av-marks): a white video frame and the onset of a tone,
// detected where the decoded buffers enter the sinks. running_time_us is the buffer's
// running time; both sinks present at running time + the same pipeline latency, so the
// difference of two marks is the A/V offset the viewer sees and hears.
struct AvMark {
  MediaFrame::Kind kind = MediaFrame::Kind::Video;
  int64_t running_time_us = 0;
};

struct PlayerConfig {
  OutputSpec output;
  enum class GapMode { Auto, Collapse, Keep };
  GapMode gap_mode = GapMode::Auto;  // Auto: Collapse for files, Keep for display/null
  // A timestamp jump larger than this (beyond the expected next frame) is a gap.
  int64_t gap_threshold_us = 150'000;
  // Display only: playout delay; absorbs segment arrival jitter before sinks drop frames as late.
  int64_t display_latency_us = 200'000;
  // Display only: window title (e.g. the stream name); empty = the sink's default.
  std::string title{};
  // Display only: one of kWindowVideoSinks; empty = choose_video_sink().
  std::string video_sink{};
  // Display only: detect A/V marks (flash frames, tone onsets) at the sinks; see av_marks().
  bool detect_av_marks = false;
};

class FramePlayer {
 public:
  using MessageCallback = std::function<void(const std::string&)>;
  // Called for every frame handed to the output, with its output timestamp (after
  // rebasing / gap collapsing). For metrics (lag, startup) and tests.
  using PlayCallback = std::function<void(const MediaFrame&, int64_t out_pts_us)>;

  struct Stats {
    uint64_t frames_played = 0;  // handed to the output (or counted, for null)
    uint64_t video_frames = 0;
    uint64_t audio_frames = 0;
    uint64_t frames_dropped = 0;    // before the first key frame, after a gap, or invalid
    uint64_t keyframe_waits = 0;    // times video had to wait for a key frame
    uint64_t gaps = 0;              // timestamp jumps detected or marked
    uint64_t size_changes = 0;      // later headers with a new width/height (accepted)
    uint64_t bytes = 0;             // media bytes played
    int64_t media_duration_us = 0;  // output timeline length
  };

  FramePlayer(GMainContext* context, PlayerConfig config);
  ~FramePlayer();
  FramePlayer(const FramePlayer&) = delete;
  FramePlayer& operator=(const FramePlayer&) = delete;

  void set_on_error(MessageCallback cb) { on_error_ = std::move(cb); }
  // Non-fatal problems (e.g. the H.264 decoder fallback). Default: g_warning.
  void set_on_warning(MessageCallback cb) { on_warning_ = std::move(cb); }
  void set_on_play(PlayCallback cb) { on_play_ = std::move(cb); }
  // Display only: the user closed the window. Not an error: further frames are dropped
  // quietly and stop() succeeds. Runs on the main context.
  void set_on_window_closed(std::function<void()> cb) { on_window_closed_ = std::move(cb); }

  // The first frame fixes the stream header (and builds the pipeline); frames from a batch
  // with a different header are dropped, unless only width/height differ (a publisher size
  // change: the new size is taken over). Returns false if the frame was dropped.
  bool push(const StreamHeader& header, const MediaFrame& frame);
  // Pushes every frame of a batch; returns how many were accepted.
  size_t push_batch(const FrameBatch& batch);
  // The caller knows data is missing (e.g. a segment number was skipped).
  void mark_gap();
  // Finalizes the output: EOS, waits (bounded by timeout_ms) until the file is complete.
  // Idempotent. The error if the pipeline reported one or timed out (as error() says).
  Expected<void, std::string> stop(int timeout_ms = 5000);

  Stats stats() const { return stats_; }
  // What --out auto resolved to (File, Display or Null).
  OutputSpec::Type output_type() const { return output_.type; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool window_closed() const { return window_closed_; }
  // Display: the video sink in use (after the first frame), else "".
  const std::string& video_sink() const { return video_sink_name_; }
  // Marks detected so far (PlayerConfig::detect_av_marks), in detection order.
  std::vector<AvMark> av_marks() const;

 private:
  bool build_pipeline();
  void fail(std::string message);
  void warn(const std::string& message);
  GstCapsPtr video_caps(const StreamHeader& h) const;
  bool play(const StreamHeader& h, const MediaFrame& f);  // after the start key frame
  void push_to_output(const MediaFrame& f, int64_t out_pts_us, bool discont);
  bool on_bus_message(GstMessage* msg);
  void add_display_probes();
  static GstPadProbeReturn on_video_decoded(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  static GstPadProbeReturn on_audio_decoded(GstPad* pad, GstPadProbeInfo* info, gpointer self);

  GMainContext* context_;
  PlayerConfig config_;
  OutputSpec output_;
  bool collapse_gaps_ = true;
  std::optional<StreamHeader> header_;

  PipelineRunner runner_;
  GstElementPtr video_src_;
  GstElementPtr audio_src_;
  GstElementPtr video_sink_;
  std::string video_sink_name_;
  bool window_closed_ = false;
  std::function<void()> on_window_closed_;
  // A/V mark detection (streaming threads).
  mutable std::mutex marks_mutex_;
  std::vector<AvMark> marks_;  // at most kMaxAvMarks (hours of one mark a second)
  static constexpr size_t kMaxAvMarks = 1 << 16;
  bool title_sent_ = false;          // video thread only
  bool gl_title_set_ = false;        // video thread only
  int gl_title_attempts_ = 0;        // video thread only
  bool flash_on_ = false;            // video thread only
  int64_t audio_quiet_samples_ = 0;  // audio thread only
  bool stopped_ = false;
  std::string error_;
  MessageCallback on_error_;
  MessageCallback on_warning_;
  PlayCallback on_play_;

  // Timeline state (input pts in us).
  bool started_ = false;
  bool video_waiting_ = false;  // drop video until a key frame
  int64_t base_us_ = 0;         // input pts that maps to output 0
  int64_t offset_us_ = 0;       // total collapsed gap time
  int64_t input_end_us_ = -1;   // max pts+duration seen (input)
  int64_t last_out_us_[3] = {-1, -1, -1};
  bool discont_[3] = {false, false, false};
  bool counted_wait_ = false;
  bool gap_pending_ = false;                   // a gap was counted and no frame has played since
  static constexpr size_t kMaxHeldAudio = 25;  // 500 ms of Opus before the first key frame
  std::deque<MediaFrame> held_audio_;          // keyframe_waits already counts the current wait
  Stats stats_;
};

}  // namespace meshcast::media
