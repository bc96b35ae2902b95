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

Expected<KnownPeers, std::string> KnownPeers::load(const std::string& path) {
  KnownPeers k;
  k.path_ = path;
  if (path.empty()) return k;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return k;
    return unexpected("known peers " + path + ": " + std::strerror(errno));
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

Expected<void, std::string> KnownPeers::pin(const std::string& id, const std::string& key_b64) {
  if (!keys_.emplace(id, key_b64).second) return {};
  if (path_.empty()) return {};
  auto slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0)
    if (auto dirs = make_private_dirs(path_.substr(0, slash)); !dirs) return dirs;
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected("cannot write " + path_ + ": " + std::strerror(errno));
  const std::string line = id + " " + key_b64 + "\n";
  Expected<void, std::string> r;
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    r = unexpected("cannot write " + path_ + ": " + std::strerror(errno));
  close(fd);
  return r;
}

}  // namespace meshcast::signaling
