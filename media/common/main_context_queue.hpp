// Hands work from GStreamer streaming threads to a GLib main context. post() may be called
// from any thread; the functions run in order on the main context. Once the queue is closed
// (destructor, on the main context) pending functions are dropped, so callbacks never reach
// a destroyed owner.
#pragma once

#include <glib.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "media/common/glib_handle.hpp"

namespace meshcast::media {

class MainContextQueue {
 public:
  explicit MainContextQueue(GMainContext* context);  // nullptr: the global default context
  ~MainContextQueue();
  MainContextQueue(const MainContextQueue&) = delete;
  MainContextQueue& operator=(const MainContextQueue&) = delete;

  void post(std::function<void()> fn);
  void close();
  GMainContext* context() const { return context_.get(); }

 private:
  struct State {
    std::mutex mutex;
    std::deque<std::function<void()>> items;
    bool scheduled = false;
    bool closed = false;
  };
  static gboolean dispatch(gpointer data);
  std::shared_ptr<State> state_;
  GMainContextPtr context_;
};

}  // namespace meshcast::media
