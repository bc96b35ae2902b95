#pragma once

#include <glib.h>

#include <functional>

// Runs the default main context for `ms` (or until done() is true), bounded.
inline void run_main_loop_for(int ms, std::function<bool()> done = {}) {
  GMainContext* ctx = g_main_context_default();
  const gint64 end = g_get_monotonic_time() + gint64(ms) * 1000;
  while (g_get_monotonic_time() < end) {
    g_main_context_iteration(ctx, FALSE);
    if (done && done()) return;
    g_usleep(500);
  }
}
