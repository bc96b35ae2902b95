// The one GLib main loop of a command, with Ctrl-C / SIGTERM and an optional
// duration that both end it cleanly.
#pragma once
#include <glib.h>

#include <functional>
#include <memory>
#include <vector>

#include "media/common/glib_handle.hpp"
#include "media/common/source_guard.hpp"

namespace meshcast::app {

class MainLoop {
 public:
  MainLoop();
  ~MainLoop();
  GMainContext* context() const { return g_main_loop_get_context(loop_.get()); }
  // Runs until quit(), a signal, or `duration_s` (0 = no limit); returns at once if quit()
  // was called while it was not running. Returns true if a signal ended it.
  bool run(double duration_s = 0);
  void quit();
  // Repeating callback every `ms` until the loop ends; return false to stop it.
  void every(unsigned ms, std::function<bool()> fn);
  // Runs the loop until pred() is true or timeout_ms passes; returns pred().
  bool run_until(const std::function<bool()>& pred, unsigned timeout_ms);
  bool interrupted() const { return interrupted_; }

 private:
  media::GMainLoopPtr loop_;
  bool interrupted_ = false;
  bool quit_pending_ = false;
  media::SourceGuard sigint_, sigterm_;
  std::vector<std::unique_ptr<std::function<bool()>>> fns_;
  std::vector<media::SourceGuard> timers_;  // after fns_: removed before the functions go
};

}  // namespace meshcast::app
