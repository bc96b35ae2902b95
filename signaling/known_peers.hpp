// Identity keys of peers met before, pinned on first use like ssh's known_hosts: one line
// "ID BASE64-KEY" per peer id. A later call to the same id must show the same key. The file
// (default $XDG_CONFIG_HOME/meshcast/known_peers) is created 0600 in a 0700 directory.
#pragma once
#include <map>
#include <optional>
#include <string>

namespace meshcast::signaling {

class KnownPeers {
 public:
  // `path` empty = in memory only. A missing file is an empty list; lines that do not parse
  // are skipped (and kept in the file). nullopt + *error when the file cannot be read.
  static std::optional<KnownPeers> load(const std::string& path, std::string* error);

  enum class Check { kNew, kMatch, kChanged };
  Check check(const std::string& id, const std::string& key_b64) const;
  std::optional<std::string> key_of(const std::string& id) const;
  // Remembers `id` -> key and appends it to the file. False + *error if the file cannot be
  // written (the pin then lasts only for this process).
  bool pin(const std::string& id, const std::string& key_b64, std::string* error);
  const std::string& path() const { return path_; }
  std::size_t size() const { return keys_.size(); }

 private:
  std::string path_;
  std::map<std::string, std::string> keys_;
};

}  // namespace meshcast::signaling
