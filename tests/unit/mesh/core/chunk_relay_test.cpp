// Cut-through relaying: chunks are passed on only once every byte in them is verified.
#include "mesh/core/chunk_relay.hpp"

#include <gtest/gtest.h>

#include "mesh/core/codec.hpp"
#include "mesh/core/ed25519.hpp"
#include "mesh/core/fragmenter.hpp"

using namespace meshcast::mesh;

namespace {
struct Fixture {
  Ed25519Signer signer = *Ed25519Signer::generate();
  Ed25519Verifier verifier = *Ed25519Verifier::from_public(signer.public_key());

  // A signed 25,000-byte segment, encoded and cut into transport chunks.
  std::vector<std::vector<uint8_t>> chunks(uint32_t size = 25'000) {
    Segment s;
    s.header = {7, 42, 1'000'000, size, 3};
    auto p = std::make_shared<std::vector<uint8_t>>(size);
    for (uint32_t i = 0; i < size; ++i) (*p)[i] = uint8_t(i * 31 + 7);
    s.payload = p;
    signer.sign(s);
    std::vector<std::vector<uint8_t>> out;
    EXPECT_TRUE(Fragmenter::fragment(5, encode(SegmentMsg{s}), out));
    return out;
  }
};

// The byte ranges of chunk i in the encoded message.
size_t chunk_end(size_t i) { return (i + 1) * kChunkDataBytes; }
}  // namespace

TEST(ChunkRelay, InOrderChunksBecomeReadyPieceByPiece) {
  Fixture f;
  auto chunks = f.chunks();
  ASSERT_EQ(chunks.size(), 24u);  // 92 + 7 x 32 prefix + 25,000 payload bytes
  ChunkRelay r(f.verifier);
  std::vector<uint16_t> ready;
  size_t first_ready_after = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    r.feed(chunks[i]);
    for (uint16_t k : r.take_ready()) {
      if (ready.empty()) first_ready_after = i;
      ready.push_back(k);
    }
  }
  EXPECT_EQ(r.state(), ChunkRelay::State::kRelaying);
  EXPECT_EQ(r.header().number, 42u);
  ASSERT_EQ(ready.size(), chunks.size());
  for (size_t k = 0; k < ready.size(); ++k) EXPECT_EQ(ready[k], k);
  // Chunk 0 is ready once the first 4,096-byte piece is in (bytes up to 316 + 4,096): after
  // chunk 3 of 24, long before the segment is complete.
  EXPECT_EQ(first_ready_after, (316 + kPieceBytes) / kChunkDataBytes);
  EXPECT_TRUE(r.all_taken());
  EXPECT_EQ(r.chunk(0).size(), chunks[0].size());
}

TEST(ChunkRelay, OutOfOrderWaitsForTheGapAndNeverSkipsIt) {
  Fixture f;
  auto chunks = f.chunks();
  ChunkRelay r(f.verifier);
  // Everything but chunk 6: the pieces up to the one holding chunk 6 verify, nothing after.
  for (size_t i = chunks.size(); i-- > 0;)
    if (i != 6) r.feed(chunks[i]);
  auto ready = r.take_ready();
  ASSERT_FALSE(ready.empty());
  const size_t piece_of_6 = (6 * kChunkDataBytes - 316) / kPieceBytes;
  const size_t verified = 316 + piece_of_6 * kPieceBytes;
  EXPECT_EQ(ready.size(), verified / kChunkDataBytes);
  for (uint16_t k : ready) EXPECT_LE(chunk_end(k), verified);
  r.feed(chunks[6]);  // the NACKed chunk arrives: the rest follows
  EXPECT_EQ(ready.size() + r.take_ready().size(), chunks.size());
}

TEST(ChunkRelay, AlteredPieceStopsRelayingAtThatPiece) {
  Fixture f;
  auto chunks = f.chunks();
  chunks[10][kChunkHeaderBytes + 100] ^= 0x40;  // a relay upstream changed one byte
  ChunkRelay r(f.verifier);
  size_t ready = 0;
  for (auto& c : chunks) {
    r.feed(c);
    for (uint16_t k : r.take_ready()) {
      EXPECT_LT(k, 10) << "chunk with altered bytes, or after them, passed on";
      ++ready;
    }
  }
  EXPECT_EQ(r.state(), ChunkRelay::State::kRejected);
  EXPECT_GT(ready, 0u);
}

TEST(ChunkRelay, ForgedHeadRelaysNothing) {
  Fixture f;
  auto chunks = f.chunks();
  chunks[0][kChunkHeaderBytes + 9 + 3] ^= 1;  // segment number changed
  ChunkRelay r(f.verifier);
  for (auto& c : chunks) {
    r.feed(c);
    EXPECT_TRUE(r.take_ready().empty());
  }
  EXPECT_EQ(r.state(), ChunkRelay::State::kRejected);
  // Another key signed it: rejected too.
  Fixture other;
  ChunkRelay r2(f.verifier);
  for (auto& c : other.chunks()) r2.feed(c);
  EXPECT_EQ(r2.state(), ChunkRelay::State::kRejected);
  EXPECT_TRUE(r2.take_ready().empty());
}

TEST(ChunkRelay, HopsByteIsNotSignedSoRelaysMayBumpIt) {
  Fixture f;
  auto chunks = f.chunks();
  chunks[0][kChunkHeaderBytes + kSegmentHopsOffset] = 9;
  ChunkRelay r(f.verifier);
  for (auto& c : chunks) r.feed(c);
  EXPECT_EQ(r.state(), ChunkRelay::State::kRelaying);
  EXPECT_EQ(r.header().hops, 9);
  EXPECT_TRUE(r.all_taken() || r.take_ready().size() == chunks.size());
}

TEST(ChunkRelay, MalformedChunksReject) {
  Fixture f;
  auto good = f.chunks();
  auto bad = [&](auto mutate) {
    ChunkRelay r(f.verifier);
    auto chunks = good;
    mutate(chunks);
    for (auto& c : chunks) r.feed(c);
    return r.state();
  };
  using S = ChunkRelay::State;
  EXPECT_EQ(bad([](auto& c) { c[3].resize(100); }), S::kRejected);             // short middle chunk
  EXPECT_EQ(bad([](auto& c) { c[2][7] ^= 1; }), S::kRejected);                 // another count
  EXPECT_EQ(bad([](auto& c) { c[1][5] = 200; }), S::kRejected);                // index >= count
  EXPECT_EQ(bad([](auto& c) { c[0][kChunkHeaderBytes] = 1; }), S::kRejected);  // not a segment
  EXPECT_EQ(bad([](auto& c) { c.back().push_back(0); }), S::kRejected);        // longer than signed
  EXPECT_EQ(bad([](auto& c) { c[0].resize(4); }), S::kRejected);               // no chunk header
  // Piece count that does not match the size.
  EXPECT_EQ(bad([](auto& c) { c[0][kChunkHeaderBytes + kSegmentPrefixBytes - 1] = 8; }),
            S::kRejected);
  // A repeated chunk (NACK resend) is harmless.
  EXPECT_EQ(bad([](auto& c) { c.insert(c.begin() + 5, c[4]); }), S::kRelaying);
}

TEST(ChunkRelay, SegmentsOfEveryShapeRelayCompletely) {
  Fixture f;
  for (uint32_t size : {0u, 1u, 1000u, 4096u, 4097u, 12'288u, 70'000u}) {
    auto chunks = f.chunks(size);
    ChunkRelay r(f.verifier);
    size_t ready = 0;
    for (auto& c : chunks) {
      r.feed(c);
      ready += r.take_ready().size();
    }
    EXPECT_EQ(r.state(), ChunkRelay::State::kRelaying) << size;
    EXPECT_EQ(ready, chunks.size()) << size;
  }
}
