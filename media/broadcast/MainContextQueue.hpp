#pragma once
// Hands items from GStreamer streaming threads to a GLib main context.
// push() may be called from any thread; the handler always runs on the main context, in
// push order, batched behind a single idle source. Destroying the queue (on the main
// context) guarantees the handler is never called again, even if an idle source is pending.

#include <glib.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace meshcast::media {

template <typename T>
class MainContextQueue {
 public:
  using Handler = std::function<void(T&)>;

  MainContextQueue(GMainContext* context, Handler handler) : state_(std::make_shared<State>()) {
    state_->context = context;
    state_->handler = std::move(handler);
  }
  ~MainContextQueue() { close(); }
  MainContextQueue(const MainContextQueue&) = delete;
  MainContextQueue& operator=(const MainContextQueue&) = delete;

  void push(T item) {
    std::lock_guard lock(state_->mutex);
    if (!state_->open) return;
    state_->items.push_back(std::move(item));
    if (state_->scheduled) return;
    state_->scheduled = true;
    GSource* source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, &MainContextQueue::dispatch, new std::shared_ptr<State>(state_),
                          &MainContextQueue::release);
    g_source_attach(source, state_->context);
    g_source_unref(source);
  }

  // Drops pending items and stops delivery (also done by the destructor).
  void close() {
    std::lock_guard lock(state_->mutex);
    state_->open = false;
    state_->items.clear();
  }

  size_t pending() const {
    std::lock_guard lock(state_->mutex);
    return state_->items.size();
  }

 private:
  struct State {
    mutable std::mutex mutex;
    std::deque<T> items;
    bool scheduled = false;
    bool open = true;
    GMainContext* context = nullptr;
    Handler handler;
  };

  static gboolean dispatch(gpointer data) {
    auto state = *static_cast<std::shared_ptr<State>*>(data);
    std::deque<T> items;
    {
      std::lock_guard lock(state->mutex);
      state->scheduled = false;
      items.swap(state->items);
    }
    for (auto& item : items) {
      {
        // The handler may close (or destroy the owner of) the queue: re-check every time.
        std::lock_guard lock(state->mutex);
        if (!state->open) break;
      }
      state->handler(item);
    }
    return G_SOURCE_REMOVE;
  }
  static void release(gpointer data) { delete static_cast<std::shared_ptr<State>*>(data); }

  std::shared_ptr<State> state_;
};

}  // namespace meshcast::media
