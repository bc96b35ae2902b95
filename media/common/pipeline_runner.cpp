#include "media/common/pipeline_runner.hpp"

#include "media/common/gst_util.hpp"

namespace meshcast::media {

Expected<void, std::string> PipelineRunner::build(const std::string& description) {
  stop();
  auto p = make_pipeline(description);
  if (!p) return unexpected(std::move(p).error());
  pipeline_ = std::move(*p);
  return {};
}

void PipelineRunner::adopt(GstElementPtr pipeline) {
  stop();
  pipeline_ = std::move(pipeline);
}

GstElementPtr PipelineRunner::element(const char* name) const {
  return pipeline_ ? bin_element(pipeline_.get(), name) : nullptr;
}

void PipelineRunner::watch_bus(GMainContext* context) {
  if (!pipeline_) return;
  GstBusPtr bus = element_bus(pipeline_.get());
  bus_watch_ = SourceGuard::with_callback(gst_bus_create_watch(bus.get()),
                                          source_func(&PipelineRunner::dispatch), this, context);
}

gboolean PipelineRunner::dispatch(GstBus*, GstMessage* msg, gpointer data) {
  auto* self = static_cast<PipelineRunner*>(data);
  if (self->on_message_ && self->on_message_(msg)) return G_SOURCE_CONTINUE;
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      GErrorPtr err = message_error(msg);
      std::string text =
          std::string(GST_OBJECT_NAME(msg->src)) + ": " + (err ? err->message : "unknown error");
      if (self->on_error_) self->on_error_(text);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GErrorPtr err = message_error(msg);
      if (self->on_warning_) self->on_warning_(err ? err->message : "warning");
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

Expected<void, std::string> PipelineRunner::play(std::string fallback) {
  if (!pipeline_) return unexpected(std::move(fallback));
  return set_playing(pipeline_.get(), std::move(fallback));
}

void PipelineRunner::stop() {
  bus_watch_.reset();
  if (!pipeline_) return;
  gst_element_set_state(pipeline_.get(), GST_STATE_NULL);  // joins the streaming threads
  pipeline_.reset();
}

bool PipelineRunner::stop_with_eos(GstElement* eos_into, int timeout_ms) {
  bus_watch_.reset();
  if (!pipeline_) return true;
  const bool ok = stop_pipeline_with_eos(pipeline_.get(), eos_into, timeout_ms);  // ends in NULL
  pipeline_.reset();
  return ok;
}

}  // namespace meshcast::media
