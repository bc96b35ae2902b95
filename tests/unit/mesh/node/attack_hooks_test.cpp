// AttackHooks: what the test-only attackers send, checked as their victims see it.
#include "mesh/node/attack_hooks.hpp"

#include <gtest/gtest.h>

#include "mesh/core/codec.hpp"
#include "mesh/core/ed25519.hpp"

using namespace meshcast;
using node::AttackConfig;
using node::AttackHooks;

namespace {
mesh::SegmentMsg signed_segment(const mesh::Ed25519Signer& signer) {
  mesh::SegmentMsg m;
  m.segment.header.stream_id = 9;
  m.segment.header.number = 12;
  m.segment.header.created_us = 1234;
  m.segment.payload = std::make_shared<std::vector<uint8_t>>(5000, uint8_t(7));
  m.segment.header.size = 5000;
  signer.sign(m.segment);
  return m;
}
}  // namespace

TEST(AttackHooks, NoneActsWithoutBeingAsked) {
  EXPECT_FALSE(AttackConfig{}.any());
  AttackHooks h(AttackConfig{});
  auto signer = *mesh::Ed25519Signer::generate();
  const mesh::Message seg = signed_segment(signer);
  std::vector<uint8_t> out;
  EXPECT_FALSE(h.withholds(seg));
  EXPECT_FALSE(h.alter(seg, out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(h.forgery_after_play(std::get<mesh::SegmentMsg>(seg)));
}

TEST(AttackHooks, ASybilWithholdsSegmentsOnly) {
  AttackHooks h(AttackConfig{false, true});
  auto signer = *mesh::Ed25519Signer::generate();
  EXPECT_TRUE(h.withholds(mesh::Message(signed_segment(signer))));
  EXPECT_FALSE(h.withholds(mesh::Message(mesh::Bye{})));
}

TEST(AttackHooks, ATamperedSegmentDecodesButFailsItsSignature) {
  AttackHooks h(AttackConfig{true, false});
  auto signer = *mesh::Ed25519Signer::generate();
  auto verifier = *mesh::Ed25519Verifier::from_public(signer.public_key());
  const mesh::SegmentMsg original = signed_segment(signer);
  ASSERT_TRUE(verifier.verify(original.segment));
  std::vector<uint8_t> wire;
  ASSERT_TRUE(h.alter(mesh::Message(original), wire));
  auto got = mesh::decode(wire);
  ASSERT_TRUE(got) << mesh::to_string(got.error());  // digests made to match
  const auto& seg = std::get<mesh::SegmentMsg>(*got).segment;
  EXPECT_EQ(seg.header.number, original.segment.header.number);
  EXPECT_NE(*seg.payload, *original.segment.payload);
  EXPECT_FALSE(verifier.verify(seg));
  // Control messages pass unaltered.
  wire.clear();
  EXPECT_FALSE(h.alter(mesh::Message(mesh::Bye{}), wire));
}

TEST(AttackHooks, TheForgeryAfterPlayIsFarAheadAndUnsigned) {
  AttackHooks h(AttackConfig{true, false});
  auto signer = *mesh::Ed25519Signer::generate();
  auto verifier = *mesh::Ed25519Verifier::from_public(signer.public_key());
  const mesh::SegmentMsg played = signed_segment(signer);
  auto f = h.forgery_after_play(played);
  ASSERT_TRUE(f);
  const auto& seg = std::get<mesh::SegmentMsg>(*f).segment;
  EXPECT_EQ(seg.header.number, played.segment.header.number + 64);
  EXPECT_FALSE(verifier.verify(seg));
}
