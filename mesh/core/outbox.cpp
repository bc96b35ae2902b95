#include "mesh/core/outbox.hpp"

#include "mesh/core/codec.hpp"

namespace meshcast::mesh {

void Outbox::send(PeerId to, Message m, uint8_t priority) {
  const size_t sz = encoded_size(m);
  if (is_media(m))
    stats_.media_bytes_sent += std::get<SegmentMsg>(m).segment.header.size;
  else
    stats_.control_bytes_sent += sz;
  Output o;
  o.kind = OutputKind::kSend;
  o.peer = to;
  o.priority = priority;
  o.msg = std::move(m);
  out_->push_back(std::move(o));
}

void Outbox::emit(OutputKind kind, PeerId peer) {
  Output o;
  o.kind = kind;
  o.peer = peer;
  out_->push_back(std::move(o));
}

}  // namespace meshcast::mesh
