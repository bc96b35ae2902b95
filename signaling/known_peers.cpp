#include "signaling/known_peers.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "signaling/identity_file.hpp"
#include "signaling/identity_key.hpp"
#include "signaling/message_validator.hpp"

namespace meshcast::signaling {

std::optional<KnownPeers> KnownPeers::load(const std::string& path, std::string* error) {
  KnownPeers k;
  k.path_ = path;
  if (path.empty()) return k;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return k;
    if (error) *error = "known peers " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > 512 || line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string id, key, rest;
    if (!(ls >> id >> key) || (ls >> rest)) continue;
    if (!is_valid_name(id) || !decode_identity_key(key)) continue;
    k.keys_.emplace(id, key);  // the first pin of an id wins, as it was the one trusted
  }
  return k;
}

KnownPeers::Check KnownPeers::check(const std::string& id, const std::string& key_b64) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) return Check::kNew;
  return it->second == key_b64 ? Check::kMatch : Check::kChanged;
}

std::optional<std::string> KnownPeers::key_of(const std::string& id) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

bool KnownPeers::pin(const std::string& id, const std::string& key_b64, std::string* error) {
  if (!keys_.emplace(id, key_b64).second) return true;
  if (path_.empty()) return true;
  auto slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0 && !make_private_dirs(path_.substr(0, slash), error))
    return false;
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (error) *error = "cannot write " + path_ + ": " + std::strerror(errno);
    return false;
  }
  const std::string line = id + " " + key_b64 + "\n";
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (!ok && error) *error = "cannot write " + path_ + ": " + std::strerror(errno);
  close(fd);
  return ok;
}

}  // namespace meshcast::signaling
