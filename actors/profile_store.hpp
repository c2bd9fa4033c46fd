#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>

struct sqlite3;

namespace hm {

/// A profile's durable state: one SQLite database (WAL, mode 0600) beside the
/// profile, guarded by an exclusive file lock so that one process (one node)
/// at a time serves the profile. Later parts add the cursor, the journal, the
/// outbox and the crypto state as tables of this same database, so that they
/// commit together (design: State).
///
/// WAL with synchronous=NORMAL: a commit is a write into the WAL (page cache),
/// durable across a process crash or SIGKILL; only a power loss can take the
/// last commits, and never corrupts the file. That keeps commits cheap enough
/// to run on an actor's thread.
class profile_store {
public:
  /// Where the store of the profile in `profile_dir` lives.
  [[nodiscard]] static std::filesystem::path path_for(const std::filesystem::path& profile_dir);

  /// Opens (creating if needed) the store at `path`. Returns a user-facing error
  /// when the store is locked by another process, unreadable, or corrupt.
  [[nodiscard]] static std::variant<std::unique_ptr<profile_store>, std::string>
  open(const std::filesystem::path& path);

  profile_store(const profile_store&) = delete;
  profile_store& operator=(const profile_store&) = delete;
  ~profile_store();

  /// A small key-value table for single settings (cursor, filter id, ...).
  [[nodiscard]] std::optional<std::string> get(const std::string& key);
  /// Returns an error text on failure (disk full, corruption).
  [[nodiscard]] std::optional<std::string> put(const std::string& key, const std::string& value);

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
  profile_store(std::filesystem::path path, sqlite3* db, int lock_fd);

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
};

} // namespace hm
