#pragma once

#include <glib.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

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

// The sender's RTP into the receiver through a seeded loss of `loss` (0: none); retransmitted
// packets face the same loss.
template <class Tx, class Rx>
void feed_with_loss(Tx& tx, Rx& rx, double loss, uint32_t seed) {
  tx.set_on_rtp([&rx, loss, rng = std::mt19937(seed)](std::vector<uint8_t> p) mutable {
    if (loss > 0 && std::bernoulli_distribution(loss)(rng)) return;
    rx.push_rtp(p);
  });
}

// Reports either end's GStreamer errors into `error` (kept by the caller: errors may come
// while the ends stop), then starts the receiver and the sender, in that order so the first
// packets find the receiver ready; both must start.
template <class Tx, class Rx>
void start_call(Tx& tx, Rx& rx, std::string& error) {
  auto keep_error = [&error](const std::string& e) { error = e; };
  tx.set_on_error(keep_error);
  rx.set_on_error(keep_error);
  auto rx_started = rx.start();
  EXPECT_TRUE(rx_started) << rx_started.error();
  auto tx_started = tx.start();
  EXPECT_TRUE(tx_started) << tx_started.error();
}
