// Identity keys of peers met before, pinned on first use like ssh's known_hosts: one line
// "ID BASE64-KEY" per peer id. A later call to the same id must show the same key. The file
// (default $XDG_CONFIG_HOME/meshcast/known_peers) is created 0600 in a 0700 directory.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "mesh/base/expected.hpp"

namespace meshcast::signaling {

class KnownPeers {
 public:
  // `path` empty = in memory only. A missing file is an empty list; lines that do not parse
  // are skipped (and kept in the file). Fails when the file cannot be read.
  static Expected<KnownPeers, std::string> load(const std::string& path);

  enum class Check { kNew, kMatch, kChanged };
  Check check(const std::string& id, const std::string& key_b64) const;
  std::optional<std::string> key_of(const std::string& id) const;
  // Remembers `id` -> key and appends it to the file. Fails if the file cannot be written
  // (the pin then lasts only for this process).
  Expected<void, std::string> pin(const std::string& id, const std::string& key_b64);
  const std::string& path() const { return path_; }
  std::size_t size() const { return keys_.size(); }

 private:
  std::string path_;
  std::map<std::string, std::string> keys_;
};

}  // namespace meshcast::signaling
