#include "media/common/main_context_queue.hpp"

namespace meshcast::media {

MainContextQueue::MainContextQueue(GMainContext* context)
    : state_(std::make_shared<State>()),
      context_(context ? g_main_context_ref(context)
                       : g_main_context_ref(g_main_context_default())) {}

MainContextQueue::~MainContextQueue() { close(); }

void MainContextQueue::close() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->closed = true;
  state_->items.clear();
}

void MainContextQueue::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->closed) return;
  state_->items.push_back(std::move(fn));
  if (state_->scheduled) return;  // one idle source drains everything queued so far
  state_->scheduled = true;
  // One-shot: the context keeps it until it has run (dispatch returns G_SOURCE_REMOVE).
  GSourcePtr src(g_idle_source_new());
  // Above the playout timers: after a stall, queued packets are handed over before the
  // next frame is decided.
  g_source_set_priority(src.get(), G_PRIORITY_HIGH);
  g_source_set_callback(src.get(), &MainContextQueue::dispatch, new std::shared_ptr<State>(state_),
                        [](gpointer p) { delete static_cast<std::shared_ptr<State>*>(p); });
  g_source_attach(src.get(), context_.get());
}

gboolean MainContextQueue::dispatch(gpointer data) {
  auto state = *static_cast<std::shared_ptr<State>*>(data);
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    batch.swap(state->items);
    state->scheduled = false;
  }
  for (auto& fn : batch) {
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      if (state->closed) break;  // owner went away while we were running earlier items
    }
    fn();
  }
  return G_SOURCE_REMOVE;
}

}  // namespace meshcast::media
