#pragma once

// SQLite helpers shared by the parts of profile_store (profile_store.cpp: meta, journal,
// outbox; crypto_store.cpp: the crypto tables). Internal to the actors library.

#include "errors/error.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hm::store_sql {

inline int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

inline std::string sqlite_text(sqlite3* db) {
  return db != nullptr ? sqlite3_errmsg(db) : "out of memory";
}

/// SQLite's last failure on `db` as an error: corrupt when the file is damaged or no
/// database, io otherwise (disk full, locked, read-only, a constraint).
inline hm::unexpected<hm::error> sql_error(sqlite3* db, std::string text) {
  int code = db != nullptr ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM;
  return hm::fail(code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? error_code::corrupt
                                                                  : error_code::io,
                  std::move(text));
}

/// Runs `sql` (no parameters).
inline hm::expected<void> exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string text = err != nullptr ? err : sqlite_text(db);
    sqlite3_free(err);
    return sql_error(db, std::move(text));
  }
  return {};
}

/// The prepared statements of one connection, kept for reuse: the same few dozen
/// statements run for every message, and compiling them each time was most of SQLite's
/// share of the gateway's CPU (perf of bench/e2ee.py). Not thread-safe: the store's
/// mutex guards it with the connection.
class statement_cache {
public:
  explicit statement_cache(sqlite3* db) : db_(db) {}
  statement_cache(const statement_cache&) = delete;
  statement_cache& operator=(const statement_cache&) = delete;
  ~statement_cache() {
    for (auto& [sql, e] : cached_)
      sqlite3_finalize(e.stmt);
  }
  [[nodiscard]] sqlite3* db() const { return db_; }

private:
  friend class statement;
  struct entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  struct text_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_;
  std::unordered_map<std::string, entry, text_hash, std::equal_to<>> cached_;
};

/// A prepared statement: bind in order, step, read columns; reset for reuse (or
/// finalized, when it was not cached) on scope exit.
class statement {
public:
  /// Uncached: for statements that run once (schema, migrations).
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      fail();
  }
  /// From `cache`; a statement already in use there (nested use) is prepared afresh.
  statement(statement_cache& cache, const char* sql) : db_(cache.db()) {
    auto i = cache.cached_.find(std::string_view{sql});
    if (i == cache.cached_.end()) {
      sqlite3_stmt* fresh = nullptr;
      if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &fresh, nullptr)
          != SQLITE_OK) {
        fail();
        sqlite3_finalize(fresh);
        return;
      }
      i = cache.cached_.emplace(sql, statement_cache::entry{fresh, false}).first;
    }
    if (i->second.in_use) {
      if (sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr) != SQLITE_OK)
        fail();
      return;
    }
    i->second.in_use = true;
    stmt_ = i->second.stmt;
    cached_ = &i->second.in_use;
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() {
    if (cached_ == nullptr) {
      sqlite3_finalize(stmt_);
      return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *cached_ = false;
  }

  statement& bind(const std::string& text) {
    if (stmt_ != nullptr)
      sqlite3_bind_text(stmt_, ++bound_, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT);
    return *this;
  }
  statement& bind(int64_t value) {
    if (stmt_ != nullptr)
      sqlite3_bind_int64(stmt_, ++bound_, value);
    return *this;
  }

  /// Steps once: true while a row is available.
  bool row() {
    if (stmt_ == nullptr)
      return false;
    auto rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
      return true;
    if (rc != SQLITE_DONE)
      fail();
    return false;
  }

  /// Steps to the end (for statements without results).
  hm::expected<void> run() {
    while (row()) {
    }
    return result_;
  }

  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p != nullptr ? std::string{p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))}
                        : std::string{};
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

private:
  void fail() { result_ = sql_error(db_, sqlite_text(db_)); }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool* cached_ = nullptr; ///< the cache's in-use flag of stmt_, when it came from there
  int bound_ = 0;
  hm::expected<void> result_; ///< the first failure, if any
};

/// The single integer a query like `SELECT COUNT(*) ...` returns (0 when it fails).
template <class Db>
int64_t count(Db& db, const char* sql) {
  statement q{db, sql};
  return q.row() ? q.integer(0) : 0;
}

/// Runs `fn` (returning an hm::expected<void>) between BEGIN IMMEDIATE and COMMIT
/// (ROLLBACK when it fails).
template <class Db, class F>
hm::expected<void> in_transaction(Db& db, F fn) {
  if (auto begun = statement{db, "BEGIN IMMEDIATE"}.run(); !begun)
    return begun;
  if (auto done = fn(); !done) {
    (void) statement{db, "ROLLBACK"}.run();
    return done;
  }
  if (auto committed = statement{db, "COMMIT"}.run(); !committed) {
    (void) statement{db, "ROLLBACK"}.run();
    return committed;
  }
  return {};
}

} // namespace hm::store_sql
