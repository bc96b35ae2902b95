#include "apps/cli/loop.hpp"

#include <glib-unix.h>

#include <memory>
#include <vector>

#include "mesh/base/time.hpp"

namespace meshcast::app {

MainLoop::MainLoop() : loop_(g_main_loop_new(nullptr, FALSE)) {
  auto on_signal = [](gpointer p) -> gboolean {
    auto* self = static_cast<MainLoop*>(p);
    self->interrupted_ = true;
    self->quit();
    return G_SOURCE_CONTINUE;
  };
  sigint_ = media::SourceGuard::with_callback(g_unix_signal_source_new(SIGINT), on_signal, this);
  sigterm_ = media::SourceGuard::with_callback(g_unix_signal_source_new(SIGTERM), on_signal, this);
}

MainLoop::~MainLoop() = default;

bool MainLoop::run(double duration_s) {
  media::SourceGuard t;
  if (duration_s > 0)
    t = media::SourceGuard::timeout(
        static_cast<unsigned>(duration_s * 1000),
        [](gpointer p) -> gboolean {
          static_cast<MainLoop*>(p)->quit();
          return G_SOURCE_REMOVE;
        },
        this);
  // A quit asked for before the loop ran (a fatal error during start-up) ends it at once.
  if (!interrupted_ && !quit_pending_) g_main_loop_run(loop_.get());
  quit_pending_ = false;
  t.reset();
  return interrupted_;
}

void MainLoop::quit() {
  if (g_main_loop_is_running(loop_.get()))
    g_main_loop_quit(loop_.get());
  else
    quit_pending_ = true;
}

void MainLoop::every(unsigned ms, std::function<bool()> fn) {
  fns_.push_back(std::make_unique<std::function<bool()>>(std::move(fn)));
  timers_.push_back(media::SourceGuard::timeout(
      ms,
      [](gpointer p) -> gboolean {
        return (*static_cast<std::function<bool()>*>(p))() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
      },
      fns_.back().get()));
}

bool MainLoop::run_until(const std::function<bool()>& pred, unsigned timeout_ms) {
  gint64 end = meshcast::monotonic_us() + gint64(timeout_ms) * 1000;
  while (!pred() && meshcast::monotonic_us() < end && !interrupted_) {
    if (!g_main_context_iteration(nullptr, FALSE)) g_usleep(1000);
  }
  return pred();
}

}  // namespace meshcast::app
