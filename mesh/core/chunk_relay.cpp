#include "mesh/core/chunk_relay.hpp"

#include <algorithm>

#include "mesh/core/codec.hpp"
#include "mesh/core/fragmenter.hpp"

namespace meshcast::mesh {

namespace {
const size_t kMaxChunks = Fragmenter::chunk_count(segment_head_bytes(kMaxPayload) + kMaxPayload);
}  // namespace

void ChunkRelay::feed(std::span<const uint8_t> chunk) {
  if (state_ == State::kRejected) return;
  if (chunk.size() < kChunkHeaderBytes || chunk.size() > kMaxChunkBytes) {
    state_ = State::kRejected;
    return;
  }
  const uint16_t index = uint16_t(chunk[4] << 8 | chunk[5]);
  const uint16_t count = uint16_t(chunk[6] << 8 | chunk[7]);
  const size_t len = chunk.size() - kChunkHeaderBytes;
  const bool last = index + 1 == count;
  if (count == 0 || index >= count || count > kMaxChunks || (count_ && count != count_) ||
      (!last && len != kChunkDataBytes) || len == 0) {
    state_ = State::kRejected;
    return;
  }
  if (!count_) {
    count_ = count;
    chunks_.resize(count);
  }
  if (!chunks_[index].empty()) return;  // a repeat (NACK resend)
  if (last) {
    total_ = size_t(index) * kChunkDataBytes + len;
    if (prefix_ && total_ != prefix_ + header_.size) {
      state_ = State::kRejected;
      return;
    }
  }
  chunks_[index].assign(chunk.begin(), chunk.end());
  if (state_ == State::kWaitingHead) try_head();
  if (state_ == State::kRelaying) verify_pieces();
}

bool ChunkRelay::have_bytes(size_t from, size_t to) const {
  if (from >= to) return true;
  const size_t first = from / kChunkDataBytes, last = (to - 1) / kChunkDataBytes;
  if (last >= count_) return false;
  for (size_t i = first; i <= last; ++i) {
    if (chunks_[i].empty()) return false;
    const size_t end = i * kChunkDataBytes + chunks_[i].size() - kChunkHeaderBytes;
    if (end < std::min(to, (i + 1) * kChunkDataBytes)) return false;
  }
  return true;
}

void ChunkRelay::copy_bytes(size_t from, size_t to, std::vector<uint8_t>& out) const {
  out.clear();
  for (size_t b = from; b < to;) {
    const size_t i = b / kChunkDataBytes, off = b % kChunkDataBytes;
    const size_t n = std::min(to - b, kChunkDataBytes - off);
    const auto* src = chunks_[i].data() + kChunkHeaderBytes + off;
    out.insert(out.end(), src, src + n);
    b += n;
  }
}

void ChunkRelay::try_head() {
  if (!have_bytes(0, kSegmentPrefixBytes)) return;
  copy_bytes(0, kSegmentPrefixBytes, scratch_);
  auto head = decode_segment_prefix(scratch_);
  if (!head) {
    state_ = State::kRejected;
    return;
  }
  const SegmentHeader& h = head->header;
  const Signature& sig = head->signature;
  const size_t prefix = segment_head_bytes(h.size), pieces = piece_count(h.size);
  if (Fragmenter::chunk_count(prefix + h.size) != count_ || (total_ && total_ != prefix + h.size)) {
    state_ = State::kRejected;
    return;
  }
  if (!have_bytes(0, prefix)) return;
  copy_bytes(kSegmentPrefixBytes, prefix, scratch_);
  std::vector<Digest> digests(pieces);
  for (size_t k = 0; k < pieces; ++k)
    std::copy(scratch_.begin() + long(k * sizeof(Digest)),
              scratch_.begin() + long((k + 1) * sizeof(Digest)), digests[k].begin());
  if (!verifier_->verify_head(h, sig, digest_list_hash(digests))) {
    state_ = State::kRejected;
    return;
  }
  header_ = h;
  digests_ = std::move(digests);
  prefix_ = prefix;
  verified_ = prefix;
  state_ = State::kRelaying;
}

void ChunkRelay::verify_pieces() {
  const size_t end = prefix_ + header_.size;
  while (next_piece_ < digests_.size()) {
    const size_t from = prefix_ + size_t(next_piece_) * kPieceBytes;
    const size_t to = std::min(end, from + kPieceBytes);
    if (!have_bytes(from, to)) return;
    copy_bytes(from, to, scratch_);
    if (sha256(scratch_) != digests_[next_piece_]) {
      state_ = State::kRejected;
      return;
    }
    verified_ = to;
    ++next_piece_;
  }
}

std::vector<uint16_t> ChunkRelay::take_ready() {
  std::vector<uint16_t> out;
  if (state_ != State::kRelaying) return out;
  const size_t end = prefix_ + header_.size;
  while (next_ready_ < count_ &&
         std::min(end, size_t(next_ready_ + 1) * kChunkDataBytes) <= verified_)
    out.push_back(next_ready_++);
  return out;
}

}  // namespace meshcast::mesh
