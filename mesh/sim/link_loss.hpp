// Per-packet loss on a simulated link, with the chunk NACK repair of real links: one
// generator per partition, so a run does not depend on the threads.
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#include "mesh/sim/sim_rng.hpp"

namespace meshcast::mesh::sim {

class LinkLoss {
 public:
  static constexpr int kLost = -1;

  LinkLoss() = default;
  LinkLoss(uint64_t seed, double loss) : rng_(seed), loss_(loss) {}

  // A message of `chunks` packets: 0 if every packet arrived, kLost if the message is lost,
  // else the NACK rounds (1-3) it took. Only `repairable` messages (media with NACK on) are
  // repaired; each round's resent chunk may be lost again.
  int draw(size_t chunks, bool repairable) {
    if (loss_ <= 0) return 0;
    if (chunks >= keep_.size()) {  // P(no chunk lost), per chunk count
      for (size_t c = keep_.size(); c <= chunks; ++c)
        keep_.push_back(std::pow(1.0 - loss_, double(c)));
    }
    if (rng_.uniform() < keep_[chunks]) return 0;
    if (!repairable) return kLost;  // control: one packet, recovered by timeouts
    int rounds = 1;
    while (rounds < 3 && rng_.uniform() < loss_) ++rounds;
    if (rounds == 3 && rng_.uniform() < loss_) return kLost;  // give up: segment lost
    return rounds;
  }

 private:
  SimRng rng_{0};
  double loss_ = 0;
  std::vector<double> keep_;
};

}  // namespace meshcast::mesh::sim
