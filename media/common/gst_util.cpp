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
  GstEventPtr ev(gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0));
  if (!ev) return -1;
  const GstSegment* seg = nullptr;
  gst_event_parse_segment(ev.get(), &seg);
  guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  return GST_CLOCK_TIME_IS_VALID(rt) ? static_cast<int64_t>(rt) : -1;
}

void add_src_buffer_probe(GstElement* pipeline, const char* name, GstPadProbeCallback cb,
                          gpointer data) {
  GstElementPtr e = bin_element(pipeline, name);
  if (!e) return;
  if (GstPadPtr pad = static_pad(e.get(), "src"))
    gst_pad_add_probe(pad.get(), GST_PAD_PROBE_TYPE_BUFFER, cb, data, nullptr);
}

Expected<GstElementPtr, std::string> make_pipeline(const std::string& description) {
  ensure_gst_init();
  GErrorPtr err;
  auto p = adopt_floating<GstElementPtr>(gst_parse_launch(description.c_str(), out_ptr(err)));
  if (err) return unexpected(std::string("pipeline: ") + err->message);
  GstClockPtr clock(gst_system_clock_obtain());  // GST_CLOCK_TYPE_MONOTONIC by default
  gst_pipeline_use_clock(GST_PIPELINE(p.get()), clock.get());
  return p;
}

GErrorPtr message_error(GstMessage* msg) {
  GErrorPtr err;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, out_ptr(err), nullptr);
  else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING)
    gst_message_parse_warning(msg, out_ptr(err), nullptr);
  return err;
}

bool device_available(const char* device_class) {
  GstPtr<GstDeviceMonitor> monitor(gst_device_monitor_new());
  gst_device_monitor_add_filter(monitor.get(), device_class, nullptr);
  bool found = false;
  if (gst_device_monitor_start(monitor.get())) {
    GList* devices = gst_device_monitor_get_devices(monitor.get());
    found = devices != nullptr;
    g_list_free_full(devices, gst_object_unref);
    gst_device_monitor_stop(monitor.get());
  }
  return found;
}

Expected<void, std::string> set_playing(GstElement* pipeline, std::string fallback) {
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE) return {};
  GstBusPtr bus = element_bus(pipeline);
  if (GstMessagePtr msg{gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR)}) {
    if (GErrorPtr e = message_error(msg.get())) return unexpected(std::string(e->message));
  }
  return unexpected(std::move(fallback));
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
    GstBusPtr bus = element_bus(pipeline);
    GstMessagePtr m(gst_bus_timed_pop_filtered(
        bus.get(), static_cast<GstClockTime>(timeout_ms) * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
    ok = m && GST_MESSAGE_TYPE(m.get()) == GST_MESSAGE_EOS;
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  return ok;
}

}  // namespace meshcast::media
