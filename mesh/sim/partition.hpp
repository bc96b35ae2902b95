// The peers of slots s with s % partitions == index, their events, message pool and
// metrics. Only the thread running the partition touches it during a window.
#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <variant>
#include <vector>

#include "mesh/core/node_output.hpp"
#include "mesh/sim/event_queue.hpp"
#include "mesh/sim/link_loss.hpp"
#include "mesh/sim/mail.hpp"
#include "mesh/sim/metrics.hpp"

namespace meshcast::mesh::sim {

struct alignas(64) Partition {
  uint32_t index = 0;
  EventQueue q;
  uint64_t seq = 0;
  std::vector<Message> msgs;
  std::vector<uint32_t> free_msgs;
  std::vector<TimeUs> msg_head;  // per message slot: first piece's arrival at the receiver
  std::vector<Output> outbox;    // shared by the partition's nodes (drained after every input)
  LinkLoss loss;
  Metrics m;
  std::vector<Event> to_global;                        // global events posted during the window
  std::vector<PeerId> now_with_data;                   // viewers the tracker should learn hold data
  std::array<std::vector<std::vector<Mail>>, 2> mail;  // [window parity][target partition]

  void push(TimeUs t, EvType type, uint32_t a, uint32_t b = 0, uint32_t msg = 0) {
    q.push(Event{t, seq++, a, b, msg, uint8_t(type)});
  }
  // Keeps m in the pool until free_msg; returns its index.
  uint32_t store_msg(Message&& m, TimeUs head) {
    uint32_t i;
    if (!free_msgs.empty()) {
      i = free_msgs.back();
      free_msgs.pop_back();
      msgs[i] = std::move(m);
    } else {
      msgs.push_back(std::move(m));
      i = uint32_t(msgs.size() - 1);
      msg_head.resize(msgs.size());
    }
    msg_head[i] = head;
    return i;
  }
  void free_msg(uint32_t i) {
    if (auto* s = std::get_if<SegmentMsg>(&msgs[i])) s->segment.payload.reset();
    free_msgs.push_back(i);
  }
};

}  // namespace meshcast::mesh::sim
