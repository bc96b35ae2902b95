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
  // The signature over a header and the hash of its piece digest list (a relay checks this
  // on a segment's first chunk, then each piece against its digest).
  virtual bool verify_head(const SegmentHeader& h, const Signature& sig,
                           const Digest& list_hash) const = 0;
};

class SegmentSigner {
 public:
  virtual ~SegmentSigner() = default;
  virtual void sign(Segment& s) const = 0;  // fills s.signature
};

}  // namespace meshcast::mesh
