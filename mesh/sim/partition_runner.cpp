#include "mesh/sim/partition_runner.hpp"

namespace meshcast::mesh::sim {

namespace {

// Waits until `a` differs from `old`: spins first (windows are short), then sleeps.
template <class T>
T wait_change(const std::atomic<T>& a, T old) {
  for (int i = 0; i < 20000; ++i) {
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  for (;;) {
    a.wait(old, std::memory_order_acquire);
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
  }
}

}  // namespace

PartitionRunner::PartitionRunner(uint32_t partitions, uint32_t threads,
                                 std::function<void(uint32_t)> body)
    : partitions_(partitions), threads_(threads), body_(std::move(body)) {
  for (uint32_t t = 1; t < threads_; ++t) workers_.emplace_back(&PartitionRunner::worker, this, t);
}

PartitionRunner::~PartitionRunner() {
  stop_ = true;
  go_.fetch_add(1, std::memory_order_release);
  go_.notify_all();
  for (auto& t : workers_) t.join();
}

void PartitionRunner::worker(uint32_t t) {
  uint64_t seen = 0;
  for (;;) {
    seen = wait_change(go_, seen);
    if (stop_) return;
    for (uint32_t i = t; i < partitions_; i += threads_) body_(i);
    done_.fetch_add(1, std::memory_order_acq_rel);
    done_.notify_one();
  }
}

void PartitionRunner::run() {
  if (threads_ > 1) {
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_all();
  }
  for (uint32_t i = 0; i < partitions_; i += threads_) body_(i);
  if (threads_ > 1) {
    uint32_t d = done_.load(std::memory_order_acquire);
    while (d != threads_ - 1) d = wait_change(done_, d);
    done_.store(0, std::memory_order_relaxed);
  }
}

}  // namespace meshcast::mesh::sim
