// Unguessable tokens (session tokens, broadcast secrets, call ids) and a constant-time compare
// for secrets supplied by peers.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace meshcast::signaling {

// `bytes` random bytes from OpenSSL's CSPRNG, hex encoded.
std::string random_token(std::size_t bytes = 16);

// Compares without an early exit, so timing does not reveal the matching prefix.
bool constant_time_equal(std::string_view a, std::string_view b);

// SHA-256 of a secret, hex: what a tracker keeps and shares of view keys, stream secrets and
// session tokens, so a copy of its state (a Redis dump) opens nothing.
std::string secret_hash(std::string_view secret);

}  // namespace meshcast::signaling
