// RawLoadShards in child processes, driven phase by phase over pipes: each child holds its
// own descriptors (the per-process limit caps one process near 20,000) and its own core's
// worth of CPU, and the parent measures the tracker between phases while every child keeps
// its clients alive (answering the tracker's pings).
#pragma once
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/bench/raw_load_shard.hpp"
#include "mesh/base/expected.hpp"

namespace meshcast::app {

class RawLoadProcs {
 public:
  ~RawLoadProcs();  // asks every child to quit, then reaps it
  // Forks one child per config; the error if a fork or pipe failed (children started
  // before that are stopped by the destructor).
  Expected<void, std::string> start(const std::vector<RawLoadConfig>& shards);

  // Commands (one line each; every child answers with one JSON line):
  //   create             client 0 creates the stream
  //   join               the shard's other clients join it
  //   relay ROUNDS A B S the shard's pingers among global indices [A, B) ping the
  //                      client S places on (pairs (A, A+S) ... (A+S-1, A+2S-1), then
  //                      (A+2S, A+3S) ...: every client in one pair at most)
  // Sends to every listed child, then collects their answers (null for a child that died).
  std::vector<nlohmann::json> run(const std::vector<int>& which, const std::string& command);
  std::vector<pid_t> pids() const;
  std::size_t size() const { return kids_.size(); }

 private:
  struct Kid {
    pid_t pid = -1;
    int to = -1;    // commands
    int from = -1;  // answers
    std::string pending;
  };
  std::vector<Kid> kids_;
};

// The body of a child: serves `shard` and answers commands from `in` on `out` until told to
// quit or the parent goes away.
[[noreturn]] void raw_load_child(const RawLoadConfig& cfg, int in, int out);

}  // namespace meshcast::app
