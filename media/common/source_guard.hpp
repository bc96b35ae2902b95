// Owns a GSource attached to a main context: destroying (or resetting) the guard removes the
// source, so a timer or watch can never fire into a destroyed owner.
//
// The guard holds its own reference to the GSource*, never a numeric source id. A source
// that ends itself (its callback returns G_SOURCE_REMOVE, or a watched fd/child goes away)
// is then only marked destroyed, its memory stays valid, and the guard's later
// g_source_destroy is a no-op: it never removes an id that is already gone (g_source_remove
// on a stale id logs a critical, and ids may be reused). active() tells whether the source
// is still attached. A callback may reset its own guard (GLib holds a reference while it
// dispatches).
#pragma once

#include <glib.h>

#include <utility>

namespace meshcast::media {

// A typed GLib callback (GIOFunc, GChildWatchFunc, GstBusFunc...) as the GSourceFunc that
// g_source_set_callback takes; the source calls it with its real signature. Through
// void (*)(), the generic function pointer type GCC accepts without -Wcast-function-type.
template <typename R, typename... Args>
GSourceFunc source_func(R (*fn)(Args...)) {
  return reinterpret_cast<GSourceFunc>(reinterpret_cast<void (*)()>(fn));
}

class SourceGuard {
 public:
  SourceGuard() = default;
  // Attaches `source` (new, not yet attached; the caller's reference passes to the guard) to
  // `context` (nullptr: the global default context, like g_timeout_add).
  SourceGuard(GSource* source, GMainContext* context) : source_(source) {
    if (source_) g_source_attach(source_, context);
  }
  ~SourceGuard() { reset(); }
  SourceGuard(SourceGuard&& o) noexcept : source_(std::exchange(o.source_, nullptr)) {}
  SourceGuard& operator=(SourceGuard&& o) noexcept {
    if (this != &o) {
      reset();
      source_ = std::exchange(o.source_, nullptr);
    }
    return *this;
  }
  SourceGuard(const SourceGuard&) = delete;
  SourceGuard& operator=(const SourceGuard&) = delete;

  // A timeout (G_PRIORITY_DEFAULT, like g_timeout_add) calling fn(data) every `ms`.
  static SourceGuard timeout(guint ms, GSourceFunc fn, gpointer data,
                             GMainContext* context = nullptr) {
    return with_callback(g_timeout_source_new(ms), fn, data, context);
  }
  // The same with whole seconds (g_timeout_add_seconds: coalesced wake-ups).
  static SourceGuard timeout_seconds(guint s, GSourceFunc fn, gpointer data,
                                     GMainContext* context = nullptr) {
    return with_callback(g_timeout_source_new_seconds(s), fn, data, context);
  }
  // Any new source (g_io_create_watch, g_child_watch_source_new, g_unix_signal_source_new,
  // a bus watch...) with its callback (source_func() for a typed one).
  static SourceGuard with_callback(GSource* source, GSourceFunc fn, gpointer data,
                                   GMainContext* context = nullptr) {
    g_source_set_callback(source, fn, data, nullptr);
    return SourceGuard(source, context);
  }

  // Removes the source from its context (if still attached) and drops the reference.
  void reset() {
    if (!source_) return;
    g_source_destroy(source_);  // documented safe on an already removed source
    g_source_unref(source_);
    source_ = nullptr;
  }
  bool active() const { return source_ && !g_source_is_destroyed(source_); }
  explicit operator bool() const { return source_ != nullptr; }
  GSource* get() const { return source_; }

 private:
  GSource* source_ = nullptr;
};

}  // namespace meshcast::media
