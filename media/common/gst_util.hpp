// Small GStreamer helpers shared by the call and broadcast media classes.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <string>

#include "media/common/gst_handle.hpp"
#include "mesh/base/expected.hpp"
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
// all our pipelines share one time base. The error is "pipeline: <parser message>".
Expected<GstElementPtr, std::string> make_pipeline(const std::string& description);

// The GError of an ERROR or WARNING message (nullptr for other messages).
GErrorPtr message_error(GstMessage* msg);

// True when GStreamer's device monitor sees at least one device of that class
// ("Video/Source", "Audio/Source", "Audio/Sink"). auto* elements would otherwise silently
// pick a fake device.
bool device_available(const char* device_class);

// Sets the pipeline PLAYING. The error is the pipeline's own message when it posted one
// (file not found, device busy, ...), else `fallback`: a failed state change need not say why.
Expected<void, std::string> set_playing(GstElement* pipeline, std::string fallback);

// Stops a pipeline after letting EOS reach the sinks (so muxers and wavenc finalize their
// files). Blocks at most timeout_ms. Returns false if EOS did not arrive in time.
bool stop_pipeline_with_eos(GstElement* pipeline, GstElement* eos_into, int timeout_ms);

}  // namespace meshcast::media
