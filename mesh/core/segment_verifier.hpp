// Checks a segment's signature before it is played or relayed. Two implementations:
// Ed25519Verifier (real peers, unit tests) and SimMacVerifier (a cheap keyed hash for the
// simulator, where 60 M Ed25519 verifications would dominate the run).
#pragma once
#include "mesh/core/segment.hpp"

namespace meshcast::mesh {

class SegmentVerifier {
 public:
  virtual ~SegmentVerifier() = default;
  virtual bool verify(const Segment& s) const = 0;
};

class SegmentSigner {
 public:
  virtual ~SegmentSigner() = default;
  virtual void sign(Segment& s) const = 0;  // fills s.signature
};

}  // namespace meshcast::mesh
