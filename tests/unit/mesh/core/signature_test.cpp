// Ed25519 segment signatures (OpenSSL) and the simulator's cheap MAC.
#include <gtest/gtest.h>

#include "mesh/core/ed25519.hpp"
#include "mesh/core/sim_mac.hpp"

using namespace meshcast::mesh;

namespace {
Segment make_segment() {
  Segment s;
  s.header = {7, 100, 5'000'000, 3, 0};
  s.payload = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>{9, 8, 7});
  return s;
}
}  // namespace

TEST(Ed25519, SignedSegmentVerifies) {
  auto signer = Ed25519Signer::generate();
  ASSERT_TRUE(signer);
  auto verifier = Ed25519Verifier::from_public(signer->public_key());
  ASSERT_TRUE(verifier);
  Segment s = make_segment();
  signer->sign(s);
  EXPECT_TRUE(verifier->verify(s));
  s.header.hops = 9;  // relays change the hop count: not signed
  EXPECT_TRUE(verifier->verify(s));
}

TEST(Ed25519, AnyAlterationFails) {
  auto signer = Ed25519Signer::generate();
  auto verifier = Ed25519Verifier::from_public(signer->public_key());
  Segment good = make_segment();
  signer->sign(good);
  auto alter = [&](auto f) {
    Segment s = good;
    f(s);
    return verifier->verify(s);
  };
  EXPECT_FALSE(alter([](Segment& s) { s.header.number++; }));
  EXPECT_FALSE(alter([](Segment& s) { s.header.created_us++; }));
  EXPECT_FALSE(alter([](Segment& s) { s.header.stream_id++; }));
  EXPECT_FALSE(alter([](Segment& s) { s.signature[10] ^= 1; }));
  EXPECT_FALSE(alter([](Segment& s) {
    s.payload = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>{9, 8, 6});
  }));
  EXPECT_FALSE(alter([](Segment& s) { s.header.size = 4; }));  // size != payload
  auto other = Ed25519Signer::generate();
  Segment s = good;
  other->sign(s);
  EXPECT_FALSE(verifier->verify(s));  // signed with another key
}

TEST(Ed25519, DeterministicFromSeed) {
  PrivateKey seed{};
  seed[0] = 1;
  auto a = Ed25519Signer::from_private(seed), b = Ed25519Signer::from_private(seed);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->public_key(), b->public_key());
}

TEST(SimMac, DetectsAlteredHeaderOrSignature) {
  SimMac mac(42);
  Segment s = make_segment();
  mac.sign(s);
  EXPECT_TRUE(mac.verify(s));
  Segment t = s;
  t.header.number++;
  EXPECT_FALSE(mac.verify(t));
  t = s;
  t.signature[3] ^= 0x5A;
  EXPECT_FALSE(mac.verify(t));
  EXPECT_FALSE(SimMac(43).verify(s));
}
