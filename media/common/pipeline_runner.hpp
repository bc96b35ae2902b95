// The one start/stop skeleton of our GStreamer pipelines: owns the pipeline, its bus watch
// (messages dispatched on a given main context) and its state changes.
//
//   PipelineRunner r;
//   if (auto b = r.build(description); !b) return b;     // or adopt() a pipeline built elsewhere
//   auto sink = r.element("sink");                        // configure elements by name
//   r.set_on_error(...); r.watch_bus(context);
//   if (auto p = r.play("fallback"); !p) ...;              // PLAYING, or the pipeline's reason
//   r.stop(); / r.stop_with_eos(appsrc, 3000);            // watch removed, NULL, released
//
// stop() joins the streaming threads (state NULL) before the pipeline is released, so no
// streaming callback runs after it returns; the destructor stops too.
#pragma once

#include <functional>
#include <string>

#include "media/common/gst_handle.hpp"
#include "media/common/source_guard.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::media {

class PipelineRunner {
 public:
  PipelineRunner() = default;
  ~PipelineRunner() { stop(); }
  PipelineRunner(const PipelineRunner&) = delete;
  PipelineRunner& operator=(const PipelineRunner&) = delete;

  // make_pipeline(): gst-launch description on the shared monotonic system clock; the error
  // is "pipeline: ...". Stops a pipeline held before.
  Expected<void, std::string> build(const std::string& description);
  // Takes a pipeline built by the caller (its own parse flags or clock).
  void adopt(GstElementPtr pipeline);

  // Bus messages go to the callbacks below on `context` (nullptr: the global default).
  void watch_bus(GMainContext* context);
  // First look at every message; return true when handled (the callbacks below are skipped).
  void set_on_message(std::function<bool(GstMessage*)> cb) { on_message_ = std::move(cb); }
  void set_on_error(std::function<void(const std::string&)> cb) {
    on_error_ = std::move(cb);
  }  // "<element>: <message>"
  void set_on_warning(std::function<void(const std::string&)> cb) {
    on_warning_ = std::move(cb);
  }  // the message alone
  void set_on_eos(std::function<void()> cb) { on_eos_ = std::move(cb); }

  // set_playing(): the error is the pipeline's own text if it posted one, else `fallback`.
  Expected<void, std::string> play(std::string fallback);
  // Removes the bus watch, sets NULL, releases the pipeline. Idempotent.
  void stop();
  // The same after sending EOS into eos_into (an appsrc, or the pipeline when nullptr) and
  // waiting up to timeout_ms for it to reach the sinks (muxers and wavenc finalize their
  // files). False if EOS did not arrive in time.
  bool stop_with_eos(GstElement* eos_into, int timeout_ms);

  GstElement* pipeline() const { return pipeline_.get(); }
  explicit operator bool() const { return pipeline_ != nullptr; }
  // The element called `name` in the pipeline (a new reference), or nullptr.
  GstElementPtr element(const char* name) const;

 private:
  std::function<void()> on_eos_;
  std::function<void(const std::string&)> on_warning_;
  std::function<void(const std::string&)> on_error_;
  std::function<bool(GstMessage*)> on_message_;
  static gboolean dispatch(GstBus* bus, GstMessage* msg, gpointer self);
  GstElementPtr pipeline_;
  SourceGuard bus_watch_;
};

}  // namespace meshcast::media
