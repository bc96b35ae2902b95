// What identity keys sign, and the tracker's check of a hello's proof. Every signed string
// starts with its own label, so a signature made for one purpose never verifies for another.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/base/expected.hpp"

namespace meshcast::signaling {

class IdentityStore;

// Signed by a client in hello: the nonce of the tracker's welcome on this connection (so a
// recorded hello cannot be replayed on another) and the peer id it asks for ("" = assigned).
std::string hello_proof_message(std::string_view nonce, std::string_view peer_id);
// Signed by each side of a call: the call, who signs, for whom, and the DTLS certificate
// fingerprint of the signer's link ("sha-256 AB:..", compared case-insensitively).
std::string call_proof_message(std::string_view call_id, std::string_view signer,
                               std::string_view peer, std::string_view fingerprint);

struct IdentityRefusal {
  const char* code;
  std::string message;
};

// The identity part of hello: checks `identity_sig` (when `identity_key` is given) against
// the connection's nonce and the requested id, then the binding of `peer_id`: a bound name
// needs its key; an unbound one is bound to the key shown (a hello without a key binds
// nothing). Assigned ids (`requested` false) are never bound. Admitted: the key whose binding
// is left to the caller, "" when none is. With `defer_bind`, an unbound name shown with a valid
// proof is not bound here: its key is returned and the caller binds it (a cluster instance
// asks the cluster first).
Expected<std::string, IdentityRefusal> admit_identity(IdentityStore& store, std::string_view nonce,
                                                      const std::string& peer_id, bool requested,
                                                      const nlohmann::json& hello,
                                                      bool defer_bind = false);

}  // namespace meshcast::signaling
