// Owning handles for GStreamer objects (rules in glib_handle.hpp and CONTRIBUTING.md).
// GstObject-derived types (elements, pads, buses, clocks, ...) are GstPtr<T>; mini objects
// (caps, buffers, samples, messages, events) and structures have their own deleters.
#pragma once

#include <gst/gst.h>

#include <memory>

#include "media/common/glib_handle.hpp"

namespace meshcast::media {

template <typename T>
using GstPtr = std::unique_ptr<T, Releaser<gst_object_unref>>;
using GstElementPtr = GstPtr<GstElement>;
using GstPadPtr = GstPtr<GstPad>;
using GstBusPtr = GstPtr<GstBus>;
using GstClockPtr = GstPtr<GstClock>;
using GstCapsPtr = std::unique_ptr<GstCaps, Releaser<gst_caps_unref>>;
using GstBufferPtr = std::unique_ptr<GstBuffer, Releaser<gst_buffer_unref>>;
using GstSamplePtr = std::unique_ptr<GstSample, Releaser<gst_sample_unref>>;
using GstMessagePtr = std::unique_ptr<GstMessage, Releaser<gst_message_unref>>;
using GstEventPtr = std::unique_ptr<GstEvent, Releaser<gst_event_unref>>;
using GstPromisePtr = std::unique_ptr<GstPromise, Releaser<gst_promise_unref>>;
using GstStructurePtr = std::unique_ptr<GstStructure, Releaser<gst_structure_free>>;

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
