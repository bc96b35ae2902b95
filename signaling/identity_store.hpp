// Name -> identity key bindings of the tracker, in SQLite: a file (`meshcast tracker
// --identity-db FILE`) survives restarts; without one the database lives in memory and the
// bindings last as long as the process. A name, once bound, belongs to its key for good.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/base/expected.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace meshcast::signaling {

class IdentityStore {
 public:
  // `path` empty = in memory. Fails when the file cannot be opened or created.
  // `max_bindings` bounds what clients can make the tracker keep (0 = unbounded).
  static Expected<std::unique_ptr<IdentityStore>, std::string> open(const std::string& path,
                                                                    std::size_t max_bindings);
  ~IdentityStore();
  IdentityStore(const IdentityStore&) = delete;
  IdentityStore& operator=(const IdentityStore&) = delete;

  // The base64 key bound to `name`, if any.
  std::optional<std::string> key_of(std::string_view name);
  enum class Bind { kBound, kFull, kError };
  Bind bind(std::string_view name, std::string_view key_b64);
  // A tracker cluster decided `name` belongs to another key than the one stored here (two
  // instances bound it at the same moment): the cluster's word replaces ours. Unbound names
  // are bound (within the bound).
  Bind rebind(std::string_view name, std::string_view key_b64);
  bool full() const { return max_ > 0 && count_ >= max_; }
  std::size_t size() const { return count_; }
  // Every binding, in name order (a cluster instance writes them all to Redis again).
  void for_each(const std::function<void(const std::string& name, const std::string& key)>& fn);

 private:
  IdentityStore() = default;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* select_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* all_ = nullptr;
  std::size_t max_ = 0;
  std::size_t count_ = 0;
};

}  // namespace meshcast::signaling
