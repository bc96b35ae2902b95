// Identity keys, their files and the known-peers pins: the encodings an attacker controls
// (base64 keys and signatures) and the file permissions that keep a key private.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "signaling/identity_file.hpp"
#include "signaling/identity_key.hpp"
#include "signaling/identity_proof.hpp"
#include "signaling/known_peers.hpp"
#include "signaling/random_token.hpp"

using namespace meshcast::signaling;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path =
      fs::temp_directory_path() / ("meshcast-identity-" + std::to_string(getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::remove_all(path); }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, ec);
    fs::remove_all(path, ec);
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

}  // namespace

TEST(IdentityKey, SignaturesVerifyOnlyForTheirKeyAndMessage) {
  auto a = IdentityKey::generate(), b = IdentityKey::generate();
  ASSERT_TRUE(a && b);
  const std::string sig = a->sign_b64("hello");
  EXPECT_EQ(sig.size(), kIdentitySigB64Len);
  EXPECT_EQ(a->public_key_b64().size(), kIdentityKeyB64Len);
  EXPECT_TRUE(verify_identity_signature(a->public_key_b64(), "hello", sig));
  EXPECT_FALSE(verify_identity_signature(a->public_key_b64(), "hellO", sig));
  EXPECT_FALSE(verify_identity_signature(b->public_key_b64(), "hello", sig));
  // Malformed keys and signatures are false, never a crash.
  std::string flipped = sig;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_identity_signature(a->public_key_b64(), "hello", flipped));
  EXPECT_FALSE(verify_identity_signature("", "hello", sig));
  EXPECT_FALSE(verify_identity_signature(a->public_key_b64(), "hello", ""));
  EXPECT_FALSE(verify_identity_signature(std::string(44, '='), "hello", sig));
  EXPECT_FALSE(verify_identity_signature(a->public_key_b64(), "hello", sig.substr(0, 86) + "A="));
  // Purposes do not mix: a hello proof is no call proof.
  EXPECT_NE(hello_proof_message("n", "bob"), call_proof_message("n", "bob", "", ""));
  EXPECT_EQ(call_proof_message("c", "a", "b", "sha-256 ab:CD"),
            call_proof_message("c", "a", "b", "sha-256 AB:cd"));
  // ssh-style fingerprint: SHA256: + 43 base64 symbols.
  EXPECT_EQ(a->fingerprint().rfind("SHA256:", 0), 0u);
  EXPECT_EQ(a->fingerprint().size(), 7u + 43u);
  EXPECT_NE(a->fingerprint(), b->fingerprint());
}

TEST(IdentityKey, Base64IsStrict) {
  const uint8_t bytes[5] = {0, 1, 2, 253, 255};
  const std::string enc = base64_encode(bytes, 5);
  EXPECT_EQ(enc, "AAEC/f8=");
  auto dec = base64_decode(enc, 5);
  ASSERT_TRUE(dec);
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + 5), *dec);
  EXPECT_FALSE(base64_decode(enc, 4));           // wrong length
  EXPECT_FALSE(base64_decode("AAEC/f9=", 5));    // non-zero padding bits
  EXPECT_FALSE(base64_decode("AAEC/f8", 5));     // padding missing
  EXPECT_FALSE(base64_decode("AAEC-f8=", 5));    // URL alphabet
  EXPECT_FALSE(base64_decode("AA=C/f8=", 5));    // padding inside
  EXPECT_FALSE(base64_decode("AAEC/f8=\n", 5));  // trailing bytes
}

TEST(IdentityFile, CreatedPrivateAndLoadedAgain) {
  TempDir t;
  const std::string path = (t.path / "cfg" / "meshcast" / "identity.key").string();
  bool created = false;
  auto k1 = load_or_create_identity(path, &created);
  ASSERT_TRUE(k1) << k1.error();
  EXPECT_TRUE(created);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(t.path / "cfg" / "meshcast"), 0700u);
  auto k2 = load_or_create_identity(path, &created);
  ASSERT_TRUE(k2) << k2.error();
  EXPECT_FALSE(created);
  EXPECT_EQ(k1->public_key(), k2->public_key());
  // The file is a standard PEM key (openssl pkey reads it).
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "-----BEGIN PRIVATE KEY-----");
}

TEST(IdentityFile, AKeyOthersCanReadIsRefused) {
  TempDir t;
  const fs::path path = t.path / "identity.key";
  auto made = load_or_create_identity(path.string());
  ASSERT_TRUE(made) << made.error();
  for (mode_t m : {0640u, 0604u, 0660u, 0622u}) {
    ASSERT_EQ(chmod(path.c_str(), m), 0);
    auto open = load_or_create_identity(path.string());
    ASSERT_FALSE(open) << std::oct << m;
    EXPECT_NE(open.error().find("too open"), std::string::npos) << open.error();
    EXPECT_NE(open.error().find("chmod 600"), std::string::npos) << open.error();
  }
  // Not a key at all, and a symlink to the key, are refused too.
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  const fs::path link = t.path / "link.key";
  fs::create_symlink(path, link);
  EXPECT_FALSE(load_or_create_identity(link.string()));
  const fs::path junk = t.path / "junk.key";
  { std::ofstream(junk) << "not a key\n"; }
  chmod(junk.c_str(), 0600);
  auto not_key = load_or_create_identity(junk.string());
  ASSERT_FALSE(not_key);
  EXPECT_NE(not_key.error().find("PEM"), std::string::npos) << not_key.error();
}

TEST(KnownPeers, PinsOnFirstUseAndDetectsAChangedKey) {
  TempDir t;
  const std::string path = (t.path / "known_peers").string();
  const std::string bob = IdentityKey::generate()->public_key_b64();
  const std::string mallory = IdentityKey::generate()->public_key_b64();
  {
    auto k = KnownPeers::load(path);
    ASSERT_TRUE(k) << k.error();
    EXPECT_EQ(k->check("bob", bob), KnownPeers::Check::kNew);
    auto pinned = k->pin("bob", bob);
    ASSERT_TRUE(pinned) << pinned.error();
    EXPECT_EQ(k->check("bob", bob), KnownPeers::Check::kMatch);
  }
  EXPECT_EQ(mode_of(path), 0600u);
  // Garbage lines (too long, bad id, bad key, extra fields) are skipped; the pin survives.
  {
    std::ofstream out(path, std::ios::app);
    out << "# comment\n\n"
        << std::string(600, 'x') << "\n"
        << "bad/id " << mallory << "\n"
        << "carol notakey\n"
        << "dave " << mallory << " extra\n"
        << "bob " << mallory << "\n";  // a later line cannot override the first pin
  }
  auto k = KnownPeers::load(path);
  ASSERT_TRUE(k) << k.error();
  EXPECT_EQ(k->size(), 1u);
  EXPECT_EQ(k->check("bob", bob), KnownPeers::Check::kMatch);
  EXPECT_EQ(k->check("bob", mallory), KnownPeers::Check::kChanged);
  EXPECT_EQ(k->check("carol", mallory), KnownPeers::Check::kNew);
}

TEST(RandomToken, HexAndUnique) {
  auto a = random_token(16), b = random_token(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(constant_time_equal(a, a));
  EXPECT_FALSE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}
