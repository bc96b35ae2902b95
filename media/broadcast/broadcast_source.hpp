#pragma once
// Broadcaster side: capture (test pattern, device or media file) -> VP8 + Opus encode ->
// MediaFrames delivered on the caller's GLib main context.
//
// Pipeline (one GStreamer pipeline, built from the config):
//   video: <src> ! videoconvert ! videoscale ! videorate ! I420 WxH@fps ! vp8enc ! appsink
//   audio: <src> ! audioconvert ! audioresample ! 48 kHz ! opusenc (20 ms) ! appsink
// The appsinks' streaming threads post frames through a MainContextQueue (media/common); on_frame
// runs on the main context. Timestamps are pipeline running time (0 = broadcast start).

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "media/broadcast/media_frame.hpp"
#include "media/common/main_context_queue.hpp"
#include "media/common/pipeline_runner.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

// "none" | "test" | "device" | "file:PATH"
struct SourceSpec {
  enum class Type { None, Test, Device, File };
  Type type = Type::Test;
  std::string path;  // File only
};
std::optional<SourceSpec> parse_source_spec(std::string_view text);
std::string to_string(const SourceSpec& spec);

struct BroadcastConfig {
  SourceSpec video{SourceSpec::Type::Test, {}};
  SourceSpec audio{SourceSpec::Type::Test, {}};
  // 0 = the source's own: a file's or a device's size / frame rate; for the test pattern
  // kTestPatternWidth x kTestPatternHeight @ kTestPatternFps. Either may be set alone.
  int width = 0;
  int height = 0;
  int fps = 0;
  int bitrate_kbps = 800;  // total; video gets this minus the audio bitrate
  int audio_bitrate_kbps = 64;
  int audio_channels = 2;  // 1 or 2
  int keyframe_interval_ms = 1000;
  int encoder_threads = 1;  // 1 keeps many processes on 2 cores fair
  int cpu_used = 8;         // vp8enc speed/quality trade-off (higher = faster)
  // videotestsrc pattern for --video test: "ball" (moving, cheap) or e.g. "snow" (noise,
  // the encoder's worst case), "smpte".
  std::string test_pattern = "ball";
  int min_forced_keyframe_gap_ms = 500;
  // Test sources only: a white video frame and a 1 kHz beep (100 ms) at the same instant
  // once a second, for A/V sync measurement (FramePlayer's detect_av_marks).
  bool av_marks = false;
};

inline constexpr int kTestPatternWidth = 1280;
inline constexpr int kTestPatternHeight = 720;
inline constexpr int kTestPatternFps = 30;
inline constexpr int kMaxVideoDimension = 4096;
inline constexpr int kMaxFps = 120;

// "WxH" with 16 <= W, H <= kMaxVideoDimension (digits only, no sign or spaces).
std::optional<std::pair<int, int>> parse_video_size(std::string_view text);

// A media file's video size and frame rate (rounded), from GstDiscoverer; nullopt if it has
// no video or cannot be read. Blocks up to timeout_ms. Needs gst_init.
struct VideoFormat {
  int width = 0, height = 0, fps = 0;
};
std::optional<VideoFormat> probe_file_video(const std::string& path, int timeout_ms = 5000);

class BroadcastSource {
 public:
  using FrameCallback = std::function<void(const MediaFrame&)>;
  using MessageCallback = std::function<void(const std::string&)>;
  using EosCallback = std::function<void()>;

  struct Stats {
    uint64_t video_frames = 0;
    uint64_t audio_frames = 0;
    uint64_t keyframes = 0;
    uint64_t video_bytes = 0;
    uint64_t audio_bytes = 0;
    int64_t last_pts_us = 0;
  };

  // context: the GLib main context callbacks run on (nullptr = the global default).
  BroadcastSource(GMainContext* context, BroadcastConfig config);
  ~BroadcastSource();
  BroadcastSource(const BroadcastSource&) = delete;
  BroadcastSource& operator=(const BroadcastSource&) = delete;

  void set_on_frame(FrameCallback cb) { on_frame_ = std::move(cb); }
  void set_on_error(MessageCallback cb) { on_error_ = std::move(cb); }
  void set_on_eos(EosCallback cb) { on_eos_ = std::move(cb); }

  // Builds and starts the pipeline; the reason if the config is invalid, an element is
  // missing or it fails to start. Warnings (e.g. "no camera, using test pattern") go to
  // warnings().
  Expected<void, std::string> start();
  // Stops capture; no on_frame call happens after stop() returns. Idempotent.
  void stop();
  bool running() const { return static_cast<bool>(runner_); }

  // Asks the encoder for a VP8 key frame as soon as possible (e.g. a viewer joined, so it
  // need not wait for the next periodic one). Key frames cost several times a delta frame,
  // so requests closer than min_forced_keyframe_gap_ms to the previous one are ignored
  // (returns false): callers may call it on every join without blowing the bit rate.
  bool request_keyframe();

  // Codec description of the frames this source produces (valid after construction).
  const StreamHeader& header() const { return header_; }
  const BroadcastConfig& config() const { return config_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  Stats stats() const { return stats_; }
  // The gst-launch style description actually used (for logs and docs).
  const std::string& pipeline_description() const { return description_; }

 private:
  std::string video_branch(const SourceSpec& spec);
  std::string audio_branch(const SourceSpec& spec);
  void resolve_video_format();
  void add_av_mark_probes();
  static GstPadProbeReturn on_test_video(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  static GstPadProbeReturn on_test_audio(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  void deliver(MediaFrame& frame);
  static GstFlowReturn on_new_sample(GstElement* appsink, gpointer self);

  GMainContext* context_;
  BroadcastConfig config_;
  StreamHeader header_;
  std::vector<std::string> warnings_;
  std::string description_;
  std::string audio_decoder_ = "adec";
  PipelineRunner runner_;
  GstElementPtr video_sink_;
  int64_t last_forced_keyframe_us_ = -1;
  std::atomic<int64_t> marks_origin_ns_{-1};  // running time of the first test video frame  //
                                              // g_get_monotonic_time() of the last request
  std::unique_ptr<MainContextQueue> queue_;
  Stats stats_;
  FrameCallback on_frame_;
  MessageCallback on_error_;
  EosCallback on_eos_;
};

}  // namespace meshcast::media
