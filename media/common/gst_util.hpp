// Small GStreamer helpers shared by the call and broadcast media classes.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <string>

#include "mesh/base/time.hpp"  // monotonic_us(): the system clock GStreamer uses

namespace meshcast::media {

// gst_init once per process (thread-safe, idempotent).
void ensure_gst_init();

// Absolute monotonic time (µs) of a buffer timestamp in a pipeline that uses the system clock.
int64_t running_time_to_monotonic_us(GstElement* pipeline, GstClockTime running_time);

// Running time (ns) of a buffer on a pad, from the pad's sticky segment; -1 if unknown.
int64_t buffer_running_time_ns(GstPad* pad, GstBuffer* buf);

// Adds a buffer probe on the src pad of the element named `name` in `pipeline` (if any).
void add_src_buffer_probe(GstElement* pipeline, const char* name, GstPadProbeCallback cb,
                          gpointer data);

// Builds a pipeline from a gst-launch description, forces the system (monotonic) clock so
// all our pipelines share one time base. Returns nullptr and fills error on failure.
GstElement* make_pipeline(const std::string& description, std::string* error);

// Watches a pipeline's bus on a given main context. Errors, warnings and EOS go to callbacks
// on that context. Destroy with remove().
class BusWatch {
 public:
  BusWatch() = default;
  ~BusWatch() { remove(); }
  BusWatch(const BusWatch&) = delete;
  BusWatch& operator=(const BusWatch&) = delete;
  void attach(GstElement* pipeline, GMainContext* ctx);
  void remove();
  std::function<void(const std::string&)> on_error;
  std::function<void()> on_eos;

 private:
  static gboolean on_message(GstBus* bus, GstMessage* msg, gpointer self);
  GSource* source_ = nullptr;
};

// True when GStreamer's device monitor sees at least one device of that class
// ("Video/Source", "Audio/Source", "Audio/Sink"). auto* elements would otherwise silently
// pick a fake device.
bool device_available(const char* device_class);

// Sets the pipeline PLAYING. On failure returns false and, if the pipeline posted an error
// (file not found, device busy, ...), puts its message in *reason; otherwise *reason keeps
// the caller's fallback text.
bool set_playing(GstElement* pipeline, std::string* reason);

// Stops a pipeline after letting EOS reach the sinks (so muxers and wavenc finalize their
// files). Blocks at most timeout_ms. Returns false if EOS did not arrive in time.
bool stop_pipeline_with_eos(GstElement* pipeline, GstElement* eos_into, int timeout_ms);

}  // namespace meshcast::media
