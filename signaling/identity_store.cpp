#include "signaling/identity_store.hpp"

#include <sqlite3.h>

namespace meshcast::signaling {

namespace {
bool exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}
}  // namespace

Expected<std::unique_ptr<IdentityStore>, std::string> IdentityStore::open(
    const std::string& path, std::size_t max_bindings) {
  std::unique_ptr<IdentityStore> s(new IdentityStore());
  s->max_ = max_bindings;
  const std::string where = path.empty() ? ":memory:" : path;
  auto fail = [&](const std::string& what) {
    return unexpected("identity database " + (path.empty() ? std::string("(memory)") : path) +
                      ": " + what + (s->db_ ? std::string(": ") + sqlite3_errmsg(s->db_) : ""));
  };
  if (sqlite3_open_v2(where.c_str(), &s->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return fail("cannot open");
  // WAL + NORMAL: a binding costs no fsync of its own; a power cut may lose the last few,
  // never corrupt the file.
  if (!path.empty() &&
      (!exec(s->db_, "PRAGMA journal_mode=WAL") || !exec(s->db_, "PRAGMA synchronous=NORMAL")))
    return fail("cannot set the journal mode");
  if (!exec(s->db_,
            "CREATE TABLE IF NOT EXISTS identities (name TEXT PRIMARY KEY, key TEXT NOT NULL, "
            "bound_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"))
    return fail("cannot create the table");
  if (sqlite3_prepare_v2(s->db_, "SELECT key FROM identities WHERE name = ?1", -1, &s->select_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db_, "INSERT INTO identities (name, key) VALUES (?1, ?2)", -1,
                         &s->insert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db_,
                         "UPDATE identities SET key = ?2, bound_at = CURRENT_TIMESTAMP "
                         "WHERE name = ?1",
                         -1, &s->update_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db_, "SELECT name, key FROM identities ORDER BY name", -1, &s->all_,
                         nullptr) != SQLITE_OK)
    return fail("cannot prepare statements");
  sqlite3_stmt* count = nullptr;
  if (sqlite3_prepare_v2(s->db_, "SELECT COUNT(*) FROM identities", -1, &count, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(count) == SQLITE_ROW)
    s->count_ = static_cast<std::size_t>(sqlite3_column_int64(count, 0));
  sqlite3_finalize(count);
  return s;
}

IdentityStore::~IdentityStore() {
  sqlite3_finalize(select_);
  sqlite3_finalize(insert_);
  sqlite3_finalize(update_);
  sqlite3_finalize(all_);
  sqlite3_close(db_);
}

std::optional<std::string> IdentityStore::key_of(std::string_view name) {
  sqlite3_reset(select_);
  sqlite3_bind_text(select_, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  std::optional<std::string> key;
  if (sqlite3_step(select_) == SQLITE_ROW) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(select_, 0));
    key = std::string(p ? p : "");
  }
  sqlite3_reset(select_);
  return key;
}

IdentityStore::Bind IdentityStore::bind(std::string_view name, std::string_view key_b64) {
  if (max_ > 0 && count_ >= max_) return Bind::kFull;
  sqlite3_reset(insert_);
  sqlite3_bind_text(insert_, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(insert_, 2, key_b64.data(), static_cast<int>(key_b64.size()), SQLITE_TRANSIENT);
  const bool ok = sqlite3_step(insert_) == SQLITE_DONE;
  sqlite3_reset(insert_);
  if (!ok) return Bind::kError;
  ++count_;
  return Bind::kBound;
}

IdentityStore::Bind IdentityStore::rebind(std::string_view name, std::string_view key_b64) {
  if (!key_of(name)) return bind(name, key_b64);
  sqlite3_reset(update_);
  sqlite3_bind_text(update_, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(update_, 2, key_b64.data(), static_cast<int>(key_b64.size()), SQLITE_TRANSIENT);
  const bool ok = sqlite3_step(update_) == SQLITE_DONE;
  sqlite3_reset(update_);
  return ok ? Bind::kBound : Bind::kError;
}

void IdentityStore::for_each(
    const std::function<void(const std::string& name, const std::string& key)>& fn) {
  sqlite3_reset(all_);
  while (sqlite3_step(all_) == SQLITE_ROW) {
    auto* n = reinterpret_cast<const char*>(sqlite3_column_text(all_, 0));
    auto* k = reinterpret_cast<const char*>(sqlite3_column_text(all_, 1));
    fn(n ? n : "", k ? k : "");
  }
  sqlite3_reset(all_);
}

}  // namespace meshcast::signaling
