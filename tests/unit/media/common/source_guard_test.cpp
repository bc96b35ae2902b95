// SourceGuard: a guarded source never fires after the guard is gone, and a source that
// already removed itself is left alone.
#include "media/common/source_guard.hpp"

#include <gtest/gtest.h>

#include <utility>

#include "media/common/glib_handle.hpp"

using namespace meshcast::media;

namespace {

// Criticals (g_source_remove of a stale id, destroying a freed source) abort the test.
class SourceGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_fatal_ = g_log_set_always_fatal(
        static_cast<GLogLevelFlags>(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
    ctx_.reset(g_main_context_new());
  }
  void TearDown() override { g_log_set_always_fatal(old_fatal_); }
  // Non-blocking iterations, bounded: a 0 ms timeout is due at the first one.
  void drain() {
    for (int i = 0; i < 10; ++i) g_main_context_iteration(ctx_.get(), FALSE);
  }
  GMainContextPtr ctx_;
  GLogLevelFlags old_fatal_{};
};

gboolean count_continue(gpointer n) {
  ++*static_cast<int*>(n);
  return G_SOURCE_CONTINUE;
}
gboolean count_once(gpointer n) {
  ++*static_cast<int*>(n);
  return G_SOURCE_REMOVE;
}

}  // namespace

TEST_F(SourceGuardTest, PendingTimeoutFiresWhileGuarded) {
  int fired = 0;
  SourceGuard g = SourceGuard::timeout(0, &count_continue, &fired, ctx_.get());
  EXPECT_TRUE(g.active());
  drain();
  EXPECT_GT(fired, 0);
  EXPECT_TRUE(g.active());
}

TEST_F(SourceGuardTest, DestructionRemovesAPendingTimeout) {
  int fired = 0;
  GSourcePtr observer;
  {
    SourceGuard g = SourceGuard::timeout(0, &count_continue, &fired, ctx_.get());
    observer.reset(g_source_ref(g.get()));
  }
  EXPECT_TRUE(g_source_is_destroyed(observer.get()));
  drain();
  EXPECT_EQ(fired, 0);
}

TEST_F(SourceGuardTest, ResetRemovesAndIsIdempotent) {
  int fired = 0;
  SourceGuard g = SourceGuard::timeout(0, &count_continue, &fired, ctx_.get());
  g.reset();
  g.reset();
  EXPECT_FALSE(g);
  EXPECT_FALSE(g.active());
  drain();
  EXPECT_EQ(fired, 0);
}

TEST_F(SourceGuardTest, ToleratesASourceThatAlreadyRemovedItself) {
  int fired = 0;
  SourceGuard g = SourceGuard::timeout(0, &count_once, &fired, ctx_.get());
  drain();
  EXPECT_EQ(fired, 1);
  // G_SOURCE_REMOVE: GLib destroyed it; the guard's reference keeps the memory valid.
  EXPECT_TRUE(g);
  EXPECT_FALSE(g.active());
  EXPECT_TRUE(g_source_is_destroyed(g.get()));
  g.reset();  // no critical (fatal here), no double free (ASan tree)
  EXPECT_FALSE(g);
}

TEST_F(SourceGuardTest, CallbackMayReplaceItsOwnGuard) {
  // The re-armed one-shot timer of AudioReceiver: the callback resets its guard, attaches a
  // fresh source and returns G_SOURCE_REMOVE.
  struct Rearm {
    SourceGuard guard;
    GMainContext* ctx;
    int runs = 0;
  } r{{}, ctx_.get()};
  auto cb = [](gpointer p) -> gboolean {
    auto* self = static_cast<Rearm*>(p);
    ++self->runs;
    GSourceFunc again = +[](gpointer q) -> gboolean {
      ++static_cast<Rearm*>(q)->runs;
      return G_SOURCE_REMOVE;
    };
    self->guard.reset();
    self->guard = SourceGuard::timeout(0, again, self, self->ctx);
    return G_SOURCE_REMOVE;
  };
  r.guard = SourceGuard::timeout(0, cb, &r, ctx_.get());
  drain();
  EXPECT_EQ(r.runs, 2);
  EXPECT_FALSE(r.guard.active());
}

TEST_F(SourceGuardTest, MoveTransfersTheSource) {
  int fired = 0;
  SourceGuard a = SourceGuard::timeout(0, &count_continue, &fired, ctx_.get());
  GSource* raw = a.get();
  SourceGuard b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), raw);
  a.reset();  // the moved-from guard removes nothing
  EXPECT_TRUE(b.active());
  // Move-assigning over a guard removes the source it held.
  int other = 0;
  SourceGuard c = SourceGuard::timeout(0, &count_continue, &other, ctx_.get());
  GSourcePtr old(g_source_ref(c.get()));
  c = std::move(b);
  EXPECT_TRUE(g_source_is_destroyed(old.get()));
  drain();
  EXPECT_GT(fired, 0);
  EXPECT_EQ(other, 0);
}

TEST_F(SourceGuardTest, AnyNewSourceWithItsCallback) {
  int fired = 0;
  SourceGuard g = SourceGuard::with_callback(g_idle_source_new(), &count_once, &fired, ctx_.get());
  drain();
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(g.active());
}
