#include "media/common/gst_util.hpp"

#include <gst/app/gstappsrc.h>

#include <mutex>

namespace meshcast::media {

void ensure_gst_init() {
  static std::once_flag once;
  std::call_once(once, [] { gst_init(nullptr, nullptr); });
}

int64_t running_time_to_monotonic_us(GstElement* pipeline, GstClockTime running_time) {
  return static_cast<int64_t>((gst_element_get_base_time(pipeline) + running_time) / 1000);
}

int64_t buffer_running_time_ns(GstPad* pad, GstBuffer* buf) {
  if (!GST_BUFFER_PTS_IS_VALID(buf)) return -1;
  GstEvent* ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (!ev) return -1;
  const GstSegment* seg = nullptr;
  gst_event_parse_segment(ev, &seg);
  guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  gst_event_unref(ev);
  return GST_CLOCK_TIME_IS_VALID(rt) ? static_cast<int64_t>(rt) : -1;
}

void add_src_buffer_probe(GstElement* pipeline, const char* name, GstPadProbeCallback cb,
                          gpointer data) {
  GstElement* e = gst_bin_get_by_name(GST_BIN(pipeline), name);
  if (!e) return;
  GstPad* pad = gst_element_get_static_pad(e, "src");
  if (pad) {
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, cb, data, nullptr);
    gst_object_unref(pad);
  }
  gst_object_unref(e);
}

GstElement* make_pipeline(const std::string& description, std::string* error) {
  ensure_gst_init();
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(description.c_str(), &err);
  if (err) {
    if (error) *error = std::string("pipeline: ") + err->message;
    g_error_free(err);
    if (p) gst_object_unref(p);
    return nullptr;
  }
  GstClock* clock = gst_system_clock_obtain();  // GST_CLOCK_TYPE_MONOTONIC by default
  gst_pipeline_use_clock(GST_PIPELINE(p), clock);
  gst_object_unref(clock);
  return p;
}

void BusWatch::attach(GstElement* pipeline, GMainContext* ctx) {
  remove();
  GstBus* bus = gst_element_get_bus(pipeline);
  source_ = gst_bus_create_watch(bus);
  g_source_set_callback(
      source_, reinterpret_cast<GSourceFunc>(reinterpret_cast<void (*)()>(&BusWatch::on_message)),
      this, nullptr);
  g_source_attach(source_, ctx);
  gst_object_unref(bus);
}

void BusWatch::remove() {
  if (!source_) return;
  g_source_destroy(source_);
  g_source_unref(source_);
  source_ = nullptr;
}

gboolean BusWatch::on_message(GstBus*, GstMessage* msg, gpointer data) {
  auto* self = static_cast<BusWatch*>(data);
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      std::string text = std::string(GST_OBJECT_NAME(msg->src)) + ": " + err->message;
      g_error_free(err);
      g_free(dbg);
      if (self->on_error) self->on_error(text);
      break;
    }
    case GST_MESSAGE_EOS:
      if (self->on_eos) self->on_eos();
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

bool device_available(const char* device_class) {
  GstDeviceMonitor* monitor = gst_device_monitor_new();
  gst_device_monitor_add_filter(monitor, device_class, nullptr);
  bool found = false;
  if (gst_device_monitor_start(monitor)) {
    GList* devices = gst_device_monitor_get_devices(monitor);
    found = devices != nullptr;
    g_list_free_full(devices, gst_object_unref);
    gst_device_monitor_stop(monitor);
  }
  gst_object_unref(monitor);
  return found;
}

bool set_playing(GstElement* pipeline, std::string* reason) {
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE) return true;
  GstBus* bus = gst_element_get_bus(pipeline);
  if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    if (e && reason) *reason = e->message;
    g_clear_error(&e);
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  return false;
}

bool stop_pipeline_with_eos(GstElement* pipeline, GstElement* eos_into, int timeout_ms) {
  if (!pipeline) return true;
  bool ok = true;
  GstState state = GST_STATE_NULL;
  gst_element_get_state(pipeline, &state, nullptr, 0);
  if (state == GST_STATE_PLAYING || state == GST_STATE_PAUSED) {
    if (eos_into && GST_IS_APP_SRC(eos_into)) {
      gst_app_src_end_of_stream(GST_APP_SRC(eos_into));
    } else {
      gst_element_send_event(eos_into ? eos_into : pipeline, gst_event_new_eos());
    }
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, static_cast<GstClockTime>(timeout_ms) * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ok = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
    if (m) gst_message_unref(m);
    gst_object_unref(bus);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  return ok;
}

}  // namespace meshcast::media
