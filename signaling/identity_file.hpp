// Where a user's identity lives on disk: $XDG_CONFIG_HOME/meshcast/ (else
// ~/.config/meshcast/), the directory 0700, the key file 0600 (PEM, PKCS#8 Ed25519), created
// on first use. A key file that others could read is refused, as ssh refuses one.
#pragma once
#include <string>

#include "mesh/base/expected.hpp"
#include "signaling/identity_key.hpp"

namespace meshcast::signaling {

// "" when neither XDG_CONFIG_HOME nor HOME is set.
std::string default_config_dir();
std::string default_identity_path();     // <config dir>/identity.key
std::string default_known_peers_path();  // <config dir>/known_peers

// Creates `dir` and its missing parents with mode 0700.
Expected<void, std::string> make_private_dirs(const std::string& dir);

// Loads the key at `path`; when there is no such file, creates one (and its directory).
// Fails when the file is unreadable, not ours, open to group or others, or not an Ed25519 PEM
// key. *created tells whether a new key was made.
Expected<IdentityKey, std::string> load_or_create_identity(const std::string& path,
                                                           bool* created = nullptr);

}  // namespace meshcast::signaling
