#include "signaling/identity_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace meshcast::signaling {

namespace {

constexpr std::size_t kMaxKeyFileBytes = 16 * 1024;  // a PEM Ed25519 key is ~120 bytes

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(m & 07777));
  return buf;
}

Expected<IdentityKey, std::string> load(int fd, const std::string& path) {
  struct stat st {};
  auto fail = [&](const std::string& why) -> Expected<IdentityKey, std::string> {
    close(fd);
    return unexpected("identity key " + path + ": " + why);
  };
  if (fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if (st.st_uid != geteuid()) return fail("owned by another user");
  if (st.st_mode & 077)
    return fail("permissions " + mode_text(st.st_mode) +
                " are too open: others could read the private key (run: chmod 600 " + path + ")");
  std::string pem;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    pem.append(buf, static_cast<std::size_t>(n));
    if (pem.size() > kMaxKeyFileBytes) return fail("larger than 16 KiB: not a key file");
  }
  if (n < 0) return fail(std::strerror(errno));
  close(fd);
  auto key = IdentityKey::from_pem(pem);
  if (!key) return unexpected("identity key " + path + ": " + key.error());
  return key;
}

}  // namespace

std::string default_config_dir() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/meshcast";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.config/meshcast";
  return "";
}

std::string default_identity_path() {
  std::string d = default_config_dir();
  return d.empty() ? "" : d + "/identity.key";
}

std::string default_known_peers_path() {
  std::string d = default_config_dir();
  return d.empty() ? "" : d + "/known_peers";
}

Expected<void, std::string> make_private_dirs(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return unexpected(dir + " exists and is not a directory");
  }
  if (dir != "/" && dir != ".")
    if (auto parent = make_private_dirs(parent_of(dir)); !parent) return parent;
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return unexpected("cannot create " + dir + ": " + std::strerror(errno));
  return {};
}

Expected<IdentityKey, std::string> load_or_create_identity(const std::string& path, bool* created) {
  if (created) *created = false;
  if (path.empty())
    return unexpected("no identity file: set HOME or XDG_CONFIG_HOME, or pass --identity FILE");
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return load(fd, path);
  if (errno != ENOENT) return unexpected("identity key " + path + ": " + std::strerror(errno));
  if (auto dirs = make_private_dirs(parent_of(path)); !dirs) return unexpected(dirs.error());
  auto key = IdentityKey::generate();
  if (!key) return unexpected("cannot generate an Ed25519 key");
  const std::string pem = key->to_pem();
  // Written aside, then linked into place: a concurrent first run never sees half a key, and
  // link() refuses to replace a key another process created meanwhile.
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = fchmod(fd, 0600) == 0 &&
            write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) && fsync(fd) == 0;
  close(fd);
  if (ok && link(tmp.c_str(), path.c_str()) != 0) {
    const int link_errno = errno;
    unlink(tmp.c_str());
    if (link_errno == EEXIST) return load_or_create_identity(path, created);
    errno = link_errno;
    ok = false;
  }
  unlink(tmp.c_str());
  if (!ok) return unexpected("cannot write " + path + ": " + std::strerror(errno));
  if (created) *created = true;
  return *std::move(key);
}

}  // namespace meshcast::signaling
