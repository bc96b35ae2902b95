// meshcast id: print my identity key's fingerprint (creating the key on first use), so two
// people can compare it out of band with what `meshcast call` pinned.
#include <cstdio>

#include "apps/cli/args.hpp"
#include "apps/cli/identity_option.hpp"
#include "apps/command.hpp"
#include "signaling/identity_file.hpp"

namespace meshcast::app {
namespace {

const char* kHelp =
    "Usage: meshcast id [--identity FILE] [--public-key]\n\n"
    "Prints the fingerprint of my identity key (SHA256:..., the SHA-256 of the Ed25519 public\n"
    "key in base64, as ssh prints host keys) and the key file's path. The key is created\n"
    "on first use. The tracker binds my --id to this key; whoever calls me pins it. Compare\n"
    "the fingerprint with your contact over another channel (in person, phone) once.\n\n"
    "Options:\n"
    "%s"
    "  --public-key           print the public key (base64) instead of the fingerprint\n\n"
    "Examples:\n"
    "  meshcast id\n"
    "  meshcast id --identity ~/work.key\n"
    "\nExit codes: 0 ok, 2 usage (also: unusable key file).\n";

int run(int argc, char** argv) {
  Args a(argc, argv, {"public-key"}, {"identity"});
  if (a.help()) {
    std::printf(kHelp, kIdentityOptionsHelp);
    return kExitOk;
  }
  if (!a.ok()) {
    std::fprintf(stderr, "meshcast id: %s (see --help)\n", a.error().c_str());
    return kExitUsage;
  }
  auto loaded = load_identity_option(a, "id", /*quiet=*/false);
  if (!loaded) {
    std::fprintf(stderr, "meshcast id: %s\n", loaded.error().c_str());
    return kExitUsage;
  }
  const auto& key = *loaded;
  const std::string path = a.get("identity", signaling::default_identity_path());
  if (a.has("public-key"))
    std::printf("%s\n", key->public_key_b64().c_str());
  else
    std::printf("%s %s\n", key->fingerprint().c_str(), path.c_str());
  return kExitOk;
}

RegisterCommand reg("id", "print my identity key's fingerprint (creates the key on first use)",
                    run);

}  // namespace
}  // namespace meshcast::app
