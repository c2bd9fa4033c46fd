#include "actors/profile_store.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hm {

namespace {

constexpr int schema_version = 1;

std::string sqlite_text(sqlite3* db) {
  return db != nullptr ? sqlite3_errmsg(db) : "out of memory";
}

/// Runs `sql` (no parameters); returns an error text on failure.
std::optional<std::string> exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string text = err != nullptr ? err : sqlite_text(db);
    sqlite3_free(err);
    return text;
  }
  return std::nullopt;
}

} // namespace

std::filesystem::path profile_store::path_for(const std::filesystem::path& profile_dir) {
  return profile_dir / "platforms" / "matrix" / "hermes-matrix.db";
}

std::variant<std::unique_ptr<profile_store>, std::string>
profile_store::open(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec)
    return "cannot create " + path.parent_path().string() + ": " + ec.message();
  // The lock lives in its own file so that it also guards creating the database.
  auto lock_path = path;
  lock_path += ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return "cannot open " + lock_path.string() + ": " + std::strerror(errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return "the store " + path.string()
             + " is in use by another hermes-matrix process (or node); "
               "stop that one first";
    return "cannot lock " + lock_path.string() + ": " + std::strerror(err);
  }
  // Create the file with mode 0600 before SQLite opens it: SQLite gives its WAL
  // and shared-memory files the database file's mode.
  int dbfd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (dbfd < 0) {
    auto err = errno;
    ::close(fd);
    return "cannot open " + path.string() + ": " + std::strerror(err);
  }
  ::fchmod(dbfd, 0600);
  ::close(dbfd);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr)
      != SQLITE_OK) {
    auto text = sqlite_text(db);
    sqlite3_close(db);
    ::close(fd);
    return "cannot open the store " + path.string() + ": " + text;
  }
  std::unique_ptr<profile_store> store{new profile_store(path, db, fd)};
  sqlite3_busy_timeout(db, 2000);
  for (auto* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                    "PRAGMA foreign_keys=ON"})
    if (auto err = exec(db, sql))
      return "the store " + path.string() + " is not usable (" + *err
             + "); move it away to start this profile afresh";
  // A corrupt file must stop this profile with a clear message, not later with
  // a confusing one in the middle of a conversation.
  if (auto err = exec(db, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                          "value TEXT NOT NULL) WITHOUT ROWID"))
    return "the store " + path.string() + " is corrupt or not a database (" + *err
           + "); move it away to start this profile afresh";
  auto version = store->get("schema_version");
  if (!version) {
    if (auto err = store->put("schema_version", std::to_string(schema_version)))
      return "cannot initialise the store " + path.string() + ": " + *err;
  } else if (*version != std::to_string(schema_version)) {
    return "the store " + path.string() + " has schema version " + *version
           + ", this hermes-matrix knows " + std::to_string(schema_version)
           + "; use a matching hermes-matrix version";
  }
  return store;
}

profile_store::profile_store(std::filesystem::path path, sqlite3* db, int lock_fd)
  : path_(std::move(path)), db_(db), lock_fd_(lock_fd) {
}

profile_store::~profile_store() {
  // Closing checkpoints the WAL into the database file.
  sqlite3_close_v2(db_);
  if (lock_fd_ >= 0)
    ::close(lock_fd_); // releases the flock
}

std::optional<std::string> profile_store::get(const std::string& key) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = ?1", -1, &stmt, nullptr)
      != SQLITE_OK)
    return std::nullopt;
  sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  std::optional<std::string> result;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    result = std::string{text != nullptr ? text : ""};
  }
  sqlite3_finalize(stmt);
  return result;
}

std::optional<std::string> profile_store::put(const std::string& key, const std::string& value) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         -1, &stmt, nullptr)
      != SQLITE_OK)
    return sqlite_text(db_);
  sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 2, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  auto rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE)
    return sqlite_text(db_);
  return std::nullopt;
}

} // namespace hm
