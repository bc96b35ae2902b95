#include "signaling/identity_proof.hpp"

#include <cctype>

#include "signaling/identity_key.hpp"
#include "signaling/identity_store.hpp"
#include "signaling/protocol_error.hpp"

namespace meshcast::signaling {

std::string hello_proof_message(std::string_view nonce, std::string_view peer_id) {
  std::string m = "meshcast-hello-v1\n";
  m.append(nonce).append("\n").append(peer_id);
  return m;
}

std::string call_proof_message(std::string_view call_id, std::string_view signer,
                               std::string_view peer, std::string_view fingerprint) {
  std::string m = "meshcast-call-v1\n";
  m.append(call_id).append("\n").append(signer).append("\n").append(peer).append("\n");
  for (char c : fingerprint)
    m.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return m;
}

Expected<std::string, IdentityRefusal> admit_identity(IdentityStore& store, std::string_view nonce,
                                                      const std::string& peer_id, bool requested,
                                                      const nlohmann::json& hello,
                                                      bool defer_bind) {
  using Refused = Unexpected<IdentityRefusal>;
  // The validator has checked both fields' shape and that they come together.
  std::string key, sig;
  if (auto k = hello.find("identity_key"); k != hello.end() && k->is_string()) key = *k;
  if (auto s = hello.find("identity_sig"); s != hello.end() && s->is_string()) sig = *s;
  if (!key.empty() &&
      !verify_identity_signature(key, hello_proof_message(nonce, requested ? peer_id : ""), sig))
    return Refused(IdentityRefusal{err::kBadIdentity,
                                   "identity_sig is not a signature of this connection's nonce "
                                   "and peer id by identity_key"});
  if (!requested) return std::string();
  if (auto bound = store.key_of(peer_id)) {
    if (key.empty())
      return Refused(
          IdentityRefusal{err::kIdTaken, "peer id '" + peer_id +
                                             "' is bound to an identity key; hello must prove it "
                                             "(identity_key, identity_sig)"});
    if (*bound != key)
      return Refused(IdentityRefusal{err::kIdTaken,
                                     "peer id '" + peer_id + "' belongs to another identity key"});
    return std::string();
  }
  if (key.empty()) return std::string();
  if (defer_bind) return key;
  switch (store.bind(peer_id, key)) {
    case IdentityStore::Bind::kBound:
      return std::string();
    case IdentityStore::Bind::kFull:
      return Refused(IdentityRefusal{err::kLimitReached, "the tracker's identity store is full"});
    case IdentityStore::Bind::kError:
      break;
  }
  return Refused(IdentityRefusal{err::kLimitReached, "the tracker could not store the binding"});
}

}  // namespace meshcast::signaling
