// Cut-through for one incoming segment message: takes its chunks (as made by Fragmenter,
// from one partner, untrusted) and says which of them may be passed on before the whole
// segment is in. A chunk is ready once every byte in it is verified: the message prefix by
// the broadcaster's signature over the piece digest list (checked when the prefix is in),
// payload bytes by the digest of their piece. Ready chunks come in order; a missing or
// altered piece stops everything behind it, so nothing unverified is ever relayed.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "mesh/core/segment.hpp"
#include "mesh/core/segment_verifier.hpp"

namespace meshcast::mesh {

class ChunkRelay {
 public:
  enum class State : uint8_t { kWaitingHead, kRelaying, kRejected };

  explicit ChunkRelay(const SegmentVerifier& verifier) : verifier_(&verifier) {}

  // One chunk (msg_id | index | count | data). Malformed or inconsistent chunks (another
  // count, a short chunk that is not the last, a message that is not a segment) reject the
  // relay; repeats are ignored.
  void feed(std::span<const uint8_t> chunk);
  State state() const { return state_; }
  // Valid once relaying (the head verified).
  const SegmentHeader& header() const { return header_; }
  uint16_t count() const { return count_; }
  // Indices of chunks that became ready since the last call, ascending.
  std::vector<uint16_t> take_ready();
  // The chunk as fed (index must have been returned by take_ready).
  std::span<const uint8_t> chunk(uint16_t index) const { return chunks_[index]; }
  bool all_taken() const { return count_ > 0 && next_ready_ == count_; }

 private:
  bool have_bytes(size_t from, size_t to) const;
  void copy_bytes(size_t from, size_t to, std::vector<uint8_t>& out) const;
  void try_head();
  void verify_pieces();

  const SegmentVerifier* verifier_;
  State state_ = State::kWaitingHead;
  uint16_t count_ = 0;
  size_t total_ = 0;  // message bytes, known once the last chunk is in
  std::vector<std::vector<uint8_t>> chunks_;
  SegmentHeader header_;
  std::vector<Digest> digests_;
  size_t prefix_ = 0;    // bytes before the payload (0 until the head is parsed)
  size_t verified_ = 0;  // message bytes [0, verified_) checked
  uint32_t next_piece_ = 0;
  uint16_t next_ready_ = 0;
  std::vector<uint8_t> scratch_;
};

}  // namespace meshcast::mesh
