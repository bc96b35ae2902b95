#include "apps/cli/identity_option.hpp"

#include <cstdio>

#include "signaling/identity_file.hpp"

namespace meshcast::app {

Expected<std::shared_ptr<const signaling::IdentityKey>, std::string> load_identity_option(
    const Args& a, const char* command, bool quiet) {
  const std::string path = a.get("identity", signaling::default_identity_path());
  bool created = false;
  auto key = signaling::load_or_create_identity(path, &created);
  if (!key) return unexpected(std::move(key).error());
  if (created && !quiet)
    std::fprintf(stderr, "meshcast %s: created identity key %s (fingerprint %s)\n", command,
                 path.c_str(), key->fingerprint().c_str());
  return std::make_shared<const signaling::IdentityKey>(*key);
}

Expected<std::shared_ptr<signaling::KnownPeers>, std::string> load_known_peers_option(
    const Args& a) {
  auto k = signaling::KnownPeers::load(a.get("known-peers", signaling::default_known_peers_path()));
  if (!k) return unexpected(std::move(k).error());
  return std::make_shared<signaling::KnownPeers>(std::move(*k));
}

Expected<std::shared_ptr<const signaling::IdentityKey>, std::string> open_stats_and_identity(
    const Args& a, const char* command, StatsWriter& stats) {
  if (a.has("stats"))
    if (auto opened = stats.open(a.get("stats")); !opened) return unexpected(opened.error());
  return load_identity_option(a, command, a.has("quiet"));
}

}  // namespace meshcast::app
