// Fragmenter / Reassembler: chunking, any order, duplicates, malformed chunks, bounds.
#include "mesh/core/fragmenter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "mesh/core/reassembler.hpp"

using namespace meshcast::mesh;
using R = Reassembler::Result;

namespace {
std::vector<uint8_t> message(size_t n) {
  std::vector<uint8_t> m(n);
  std::iota(m.begin(), m.end(), uint8_t(3));
  return m;
}
}  // namespace

TEST(Fragmenter, ChunksAreBounded) {
  std::vector<std::vector<uint8_t>> chunks;
  ASSERT_TRUE(Fragmenter::fragment(1, message(25000), chunks));
  EXPECT_EQ(chunks.size(), Fragmenter::chunk_count(25000));
  EXPECT_EQ(chunks.size(), 23u);
  for (auto& c : chunks) EXPECT_LE(c.size(), kMaxChunkBytes);
}

TEST(Fragmenter, ReassemblesInAnyOrderIgnoringDuplicates) {
  const auto msg = message(10000);
  std::vector<std::vector<uint8_t>> chunks;
  ASSERT_TRUE(Fragmenter::fragment(9, msg, chunks));
  std::mt19937 rng(1);
  std::shuffle(chunks.begin(), chunks.end(), rng);
  Reassembler r;
  std::vector<uint8_t> out;
  EXPECT_EQ(r.feed(chunks[0], out), R::kIncomplete);
  EXPECT_EQ(r.feed(chunks[0], out), R::kDuplicate);
  for (size_t i = 1; i + 1 < chunks.size(); ++i) EXPECT_EQ(r.feed(chunks[i], out), R::kIncomplete);
  ASSERT_EQ(r.feed(chunks.back(), out), R::kComplete);
  EXPECT_EQ(out, msg);
  EXPECT_EQ(r.pending(), 0u);
}

TEST(Fragmenter, SingleChunkAndEmptyMessages) {
  for (size_t n : {size_t(0), size_t(1), kChunkDataBytes}) {
    std::vector<std::vector<uint8_t>> chunks;
    ASSERT_TRUE(Fragmenter::fragment(2, message(n), chunks));
    ASSERT_EQ(chunks.size(), 1u);
    Reassembler r;
    std::vector<uint8_t> out;
    ASSERT_EQ(r.feed(chunks[0], out), R::kComplete);
    EXPECT_EQ(out, message(n));
  }
}

TEST(Reassembler, MalformedChunksRejected) {
  Reassembler r(4, 100000);
  std::vector<uint8_t> out;
  EXPECT_EQ(r.feed(std::vector<uint8_t>{1, 2, 3}, out), R::kMalformed);  // short header
  EXPECT_EQ(r.feed(std::vector<uint8_t>{0, 0, 0, 1, 0, 0, 0, 0, 7}, out),
            R::kMalformed);  // count 0
  EXPECT_EQ(r.feed(std::vector<uint8_t>{0, 0, 0, 1, 0, 2, 0, 2, 7}, out),
            R::kMalformed);  // index >= count
  // Non-last chunk that is not full.
  EXPECT_EQ(r.feed(std::vector<uint8_t>{0, 0, 0, 1, 0, 0, 0, 2, 7}, out), R::kMalformed);
  // Last chunk of a multi-chunk message without data.
  EXPECT_EQ(r.feed(std::vector<uint8_t>{0, 0, 0, 1, 0, 1, 0, 2}, out), R::kMalformed);
  // Oversized chunk.
  EXPECT_EQ(r.feed(std::vector<uint8_t>(kMaxChunkBytes + 1, 0), out), R::kMalformed);
  // Message larger than the configured bound (100000 bytes -> 92 chunks).
  EXPECT_EQ(r.feed(std::vector<uint8_t>{0, 0, 0, 1, 0, 0, 0xFF, 0xFF, 1}, out), R::kTooLarge);
  // Same id, different count: the partial message is dropped.
  std::vector<uint8_t> a(kMaxChunkBytes, 0), b(kMaxChunkBytes, 0);
  a[7] = 3;  // id 0, index 0, count 3
  b[5] = 1;
  b[7] = 4;  // id 0, index 1, count 4
  EXPECT_EQ(r.feed(a, out), R::kIncomplete);
  EXPECT_EQ(r.feed(b, out), R::kMalformed);
  EXPECT_EQ(r.pending(), 0u);
}

TEST(Reassembler, MemoryIsBoundedByEvictingOldest) {
  Reassembler r(3, 1 << 20);
  std::vector<uint8_t> out;
  for (uint32_t id = 1; id <= 10; ++id) {
    std::vector<std::vector<uint8_t>> chunks;
    ASSERT_TRUE(Fragmenter::fragment(id, message(5000), chunks));
    EXPECT_EQ(r.feed(chunks[0], out), R::kIncomplete);  // never completed
    EXPECT_LE(r.pending(), 3u);
  }
  EXPECT_EQ(r.evicted(), 7u);
}

TEST(Reassembler, ReportsMissingChunksForNack) {
  std::vector<std::vector<uint8_t>> chunks;
  ASSERT_TRUE(Fragmenter::fragment(5, message(5000), chunks));  // 5 chunks
  Reassembler r;
  std::vector<uint8_t> out;
  EXPECT_TRUE(r.missing(5).empty());
  r.feed(chunks[0], out);
  r.feed(chunks[2], out);
  r.feed(chunks[4], out);
  EXPECT_EQ(r.missing(5), (std::vector<uint16_t>{1, 3}));
  r.feed(chunks[1], out);
  ASSERT_EQ(r.feed(chunks[3], out), R::kComplete);  // the re-sent chunk completes it
  EXPECT_EQ(out, message(5000));
  EXPECT_TRUE(r.missing(5).empty());
}

TEST(Reassembler, AChunkClaimingAHugeMessageCostsAboutOneChunk) {
  // The attacker: first (or last) chunks of four messages that each announce ~1 MiB. The
  // receiver holds what arrived, not what was announced.
  Reassembler r;
  std::vector<uint8_t> out;
  const uint16_t count = 900;  // 900 x 1,092 bytes: just under the 1 MiB message bound
  for (uint32_t id = 1; id <= 4; ++id) {
    std::vector<uint8_t> chunk(kMaxChunkBytes, 0xab);
    const uint16_t index = id % 2 ? 0 : count - 2;  // in order, or far ahead
    chunk[0] = 0, chunk[1] = 0, chunk[2] = 0, chunk[3] = uint8_t(id);
    chunk[4] = uint8_t(index >> 8), chunk[5] = uint8_t(index);
    chunk[6] = uint8_t(count >> 8), chunk[7] = uint8_t(count);
    ASSERT_EQ(r.feed(chunk, out), R::kIncomplete);
  }
  EXPECT_EQ(r.pending(), 4u);
  // Each partial: its chunk (1,092 bytes) and 2 bytes per announced chunk.
  EXPECT_LT(r.held_bytes(), 4u * (kChunkDataBytes + 2 * count + 64));
  EXPECT_EQ(r.missing(2).size(), count - 1u);
}

TEST(Reassembler, OutOfOrderChunksStillJoinInOrder) {
  const auto msg = message(5 * kChunkDataBytes + 17);
  std::vector<std::vector<uint8_t>> chunks;
  ASSERT_TRUE(Fragmenter::fragment(4, msg, chunks));
  std::reverse(chunks.begin(), chunks.end());
  Reassembler r;
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) ASSERT_EQ(r.feed(chunks[i], out), R::kIncomplete);
  ASSERT_EQ(r.feed(chunks.back(), out), R::kComplete);
  EXPECT_EQ(out, msg);
}
