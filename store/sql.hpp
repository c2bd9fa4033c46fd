#pragma once

// SQLite helpers shared by the parts of profile_store (profile_store.cpp: meta, journal,
// outbox; crypto_store.cpp: the crypto tables). Internal to the actors library.

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace hm::store_sql {

inline int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

inline std::string sqlite_text(sqlite3* db) {
  return db != nullptr ? sqlite3_errmsg(db) : "out of memory";
}

/// Runs `sql` (no parameters); returns an error text on failure.
inline std::optional<std::string> exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string text = err != nullptr ? err : sqlite_text(db);
    sqlite3_free(err);
    return text;
  }
  return std::nullopt;
}

/// A prepared statement: bind in order, step, read columns, finalize on scope exit.
class statement {
public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      error_ = sqlite_text(db);
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

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
      error_ = sqlite_text(db_);
    return false;
  }

  /// Steps to the end (for statements without results); the error, if any.
  std::optional<std::string> run() {
    while (row()) {
    }
    return error_;
  }

  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p != nullptr ? std::string{p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))}
                        : std::string{};
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

  const std::optional<std::string>& error() const { return error_; }

private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int bound_ = 0;
  std::optional<std::string> error_;
};

/// The single integer a query like `SELECT COUNT(*) ...` returns (0 when it fails).
inline int64_t count(sqlite3* db, const char* sql) {
  statement q{db, sql};
  return q.row() ? q.integer(0) : 0;
}

/// Runs `fn` between BEGIN IMMEDIATE and COMMIT (ROLLBACK when it fails).
template <class F>
std::optional<std::string> in_transaction(sqlite3* db, F fn) {
  if (auto err = exec(db, "BEGIN IMMEDIATE"))
    return err;
  if (auto err = fn()) {
    exec(db, "ROLLBACK");
    return err;
  }
  if (auto err = exec(db, "COMMIT")) {
    exec(db, "ROLLBACK");
    return err;
  }
  return std::nullopt;
}

} // namespace hm::store_sql
