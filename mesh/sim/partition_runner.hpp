// Runs a window's work for every partition on a fixed set of threads: the calling thread
// takes partitions 0, threads, 2 threads, ...; worker t takes t, t + threads, ... A window
// is short (one minimum link latency), so workers spin briefly before they sleep.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace meshcast::mesh::sim {

class PartitionRunner {
 public:
  // body(i) runs partition i's window; it must touch only partition i.
  PartitionRunner(uint32_t partitions, uint32_t threads, std::function<void(uint32_t)> body);
  ~PartitionRunner();
  PartitionRunner(const PartitionRunner&) = delete;
  PartitionRunner& operator=(const PartitionRunner&) = delete;

  // One window: returns when every partition's body has run (memory published to the caller).
  void run();

 private:
  void worker(uint32_t t);

  const uint32_t partitions_, threads_;
  std::function<void(uint32_t)> body_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> go_{0};
  std::atomic<uint32_t> done_{0};
  bool stop_ = false;
};

}  // namespace meshcast::mesh::sim
