#include "apps/cli/identity_option.hpp"

#include <cstdio>

#include "signaling/identity_file.hpp"

namespace meshcast::app {

std::shared_ptr<const signaling::IdentityKey> load_identity_option(const Args& a,
                                                                   const char* command, bool quiet,
                                                                   std::string* error) {
  const std::string path = a.get("identity", signaling::default_identity_path());
  bool created = false;
  auto key = signaling::load_or_create_identity(path, &created);
  if (!key) {
    if (error) *error = std::move(key).error();
    return nullptr;
  }
  if (created && !quiet)
    std::fprintf(stderr, "meshcast %s: created identity key %s (fingerprint %s)\n", command,
                 path.c_str(), key->fingerprint().c_str());
  return std::make_shared<const signaling::IdentityKey>(*key);
}

std::shared_ptr<signaling::KnownPeers> load_known_peers_option(const Args& a, std::string* error) {
  auto k = signaling::KnownPeers::load(a.get("known-peers", signaling::default_known_peers_path()));
  if (!k) {
    if (error) *error = std::move(k).error();
    return nullptr;
  }
  return std::make_shared<signaling::KnownPeers>(std::move(*k));
}

}  // namespace meshcast::app
