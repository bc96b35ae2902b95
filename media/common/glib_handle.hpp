// Owning handles for GLib objects and memory, so that every reference a function takes is
// released on every path out of it (early returns included) and no code pairs a get with a
// manual unref.
//
// Rules (also in CONTRIBUTING.md):
// - A handle owns exactly one full reference. Wrap a pointer the moment a "transfer full"
//   call returns it (`GErrorPtr e(err)`, or `out_ptr(e)` for an out-parameter); pass .get()
//   to calls that borrow ("transfer none").
// - Floating references (GInitiallyUnowned: every GstObject from a factory or parser) are
//   sunk on adoption with adopt_floating(), so the handle owns a normal reference; a call
//   that "takes" the object (gst_bin_add) then takes a reference of its own and the handle
//   still releases ours.
// - A handle is move-only; reset() releases early, release() hands the reference to a call
//   that takes ownership ("transfer full" in).
#pragma once

#include <glib-object.h>
#include <glib.h>

#include <memory>

namespace meshcast::media {

// The deleter of every handle: calls `Release`, the library's own unref or free function.
template <auto Release>
struct Releaser {
  template <typename T>
  void operator()(T* p) const {
    Release(p);
  }
};

// Any GObject (a GstObject: GstPtr).
template <typename T>
using GObjectPtr = std::unique_ptr<T, Releaser<g_object_unref>>;
using GCharPtr = std::unique_ptr<gchar, Releaser<g_free>>;
using GErrorPtr = std::unique_ptr<GError, Releaser<g_error_free>>;
using GMainLoopPtr = std::unique_ptr<GMainLoop, Releaser<g_main_loop_unref>>;
using GMainContextPtr = std::unique_ptr<GMainContext, Releaser<g_main_context_unref>>;
using GIOChannelPtr = std::unique_ptr<GIOChannel, Releaser<g_io_channel_unref>>;
// A reference to a GSource, without removing it from its context (SourceGuard does that).
using GSourcePtr = std::unique_ptr<GSource, Releaser<g_source_unref>>;

// Out-parameter adaptor: f(..., out_ptr(handle)) gives f a T** and, at the end of the full
// expression, stores what f wrote into the handle (releasing what the handle held before).
// Not for varargs calls (g_object_get): there take the raw pointer and wrap it on the next
// line.
template <typename Ptr>
class OutPtr {
 public:
  using Raw = typename Ptr::pointer;
  explicit OutPtr(Ptr& handle) : handle_(handle) {}
  ~OutPtr() { handle_.reset(raw_); }
  OutPtr(const OutPtr&) = delete;
  OutPtr& operator=(const OutPtr&) = delete;
  operator Raw*() { return &raw_; }

 private:
  Ptr& handle_;
  Raw raw_ = nullptr;
};

template <typename Ptr>
OutPtr<Ptr> out_ptr(Ptr& handle) {
  return OutPtr<Ptr>(handle);
}

// Takes over a reference returned as "transfer floating" (or full): sinks it if floating, so
// the handle owns one normal reference either way. For GstObjects and other
// GInitiallyUnowned objects.
template <typename Ptr>
Ptr adopt_floating(typename Ptr::pointer p) {
  if (p && g_object_is_floating(p)) g_object_ref_sink(p);
  return Ptr(p);
}

// A new reference to an object the caller only borrows (a callback argument).
template <typename T>
GObjectPtr<T> ref_object(T* p) {
  return GObjectPtr<T>(p ? static_cast<T*>(g_object_ref(p)) : nullptr);
}

}  // namespace meshcast::media
