// Simulator-only "signature": a keyed 64-bit mix of the signed header fields. NOT
// cryptographic; it only lets the simulator tell honest segments from forged ones cheaply.
// Real peers and the unit tests use Ed25519Signer/Ed25519Verifier.
#pragma once
#include "mesh/core/segment_verifier.hpp"

namespace meshcast::mesh {

class SimMac final : public SegmentSigner, public SegmentVerifier {
 public:
  explicit SimMac(uint64_t key) : key_(key) {}
  void sign(Segment& s) const override;
  bool verify(const Segment& s) const override;
  // The simulator carries no payload: the tag covers the header fields only.
  bool verify_head(const SegmentHeader& h, const Signature& sig, const Digest&) const override;

 private:
  uint64_t tag(const SegmentHeader& h) const;
  uint64_t key_;
};

}  // namespace meshcast::mesh
