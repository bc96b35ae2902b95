// Owning handles for GStreamer objects (rules in glib_handle.hpp and CONTRIBUTING.md).
// GstObject-derived types (elements, pads, buses, clocks, ...) are GstPtr<T>; mini objects
// (caps, buffers, samples, messages, events) and structures have their own deleters.
#pragma once

#include <gst/gst.h>

#include <memory>

#include "media/common/glib_handle.hpp"

namespace meshcast::media {

struct GstObjectUnref {
  void operator()(gpointer p) const { gst_object_unref(p); }
};
struct GstCapsUnref {
  void operator()(GstCaps* c) const { gst_caps_unref(c); }
};
struct GstBufferUnref {
  void operator()(GstBuffer* b) const { gst_buffer_unref(b); }
};
struct GstSampleUnref {
  void operator()(GstSample* s) const { gst_sample_unref(s); }
};
struct GstMessageUnref {
  void operator()(GstMessage* m) const { gst_message_unref(m); }
};
struct GstEventUnref {
  void operator()(GstEvent* e) const { gst_event_unref(e); }
};
struct GstPromiseUnref {
  void operator()(GstPromise* p) const { gst_promise_unref(p); }
};
struct GstStructureFree {
  void operator()(GstStructure* s) const { gst_structure_free(s); }
};

template <typename T>
using GstPtr = std::unique_ptr<T, GstObjectUnref>;
using GstElementPtr = GstPtr<GstElement>;
using GstPadPtr = GstPtr<GstPad>;
using GstBusPtr = GstPtr<GstBus>;
using GstClockPtr = GstPtr<GstClock>;
using GstCapsPtr = std::unique_ptr<GstCaps, GstCapsUnref>;
using GstBufferPtr = std::unique_ptr<GstBuffer, GstBufferUnref>;
using GstSamplePtr = std::unique_ptr<GstSample, GstSampleUnref>;
using GstMessagePtr = std::unique_ptr<GstMessage, GstMessageUnref>;
using GstEventPtr = std::unique_ptr<GstEvent, GstEventUnref>;
using GstPromisePtr = std::unique_ptr<GstPromise, GstPromiseUnref>;
using GstStructurePtr = std::unique_ptr<GstStructure, GstStructureFree>;

// gst_element_factory_make with the floating reference sunk: nullptr if not installed.
inline GstElementPtr make_element(const char* factory, const char* name = nullptr) {
  return adopt_floating<GstElementPtr>(gst_element_factory_make(factory, name));
}

// The element called `name` inside `bin` (a new reference), or nullptr.
inline GstElementPtr bin_element(GstElement* bin, const char* name) {
  return GstElementPtr(gst_bin_get_by_name(GST_BIN(bin), name));
}

// An element's static pad (a new reference), or nullptr.
inline GstPadPtr static_pad(GstElement* element, const char* name) {
  return GstPadPtr(element ? gst_element_get_static_pad(element, name) : nullptr);
}

inline GstBusPtr element_bus(GstElement* element) {
  return GstBusPtr(gst_element_get_bus(element));
}

}  // namespace meshcast::media
