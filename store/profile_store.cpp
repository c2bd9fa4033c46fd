#include "store/profile_store.hpp"

#include "store/sql.hpp"
#include "store/private_file.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hm {

using namespace store_sql;

namespace {

constexpr int schema_version = 8;

/// Version 1: the key-value table. Version 2: the journal and the outbox.
constexpr const char* schema_v2 = R"sql(
CREATE TABLE IF NOT EXISTS journal (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  admitted_seq INTEGER NOT NULL,
  outcome TEXT,              -- NULL while pending
  admitted_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS journal_pending ON journal (admitted_seq) WHERE outcome IS NULL;
-- MAX(admitted_seq) on every admitted batch must not scan the table.
CREATE INDEX IF NOT EXISTS journal_seq ON journal (admitted_seq);
CREATE INDEX IF NOT EXISTS journal_finished ON journal (finished_at) WHERE outcome IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  room_id TEXT NOT NULL,
  txn_id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  content TEXT NOT NULL,
  relates_txn TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'pending', -- pending, sent, failed
  event_id TEXT,
  reason TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE state = 'pending';
)sql";

/// Version 3: the crypto state (rows described in profile_store.hpp). Pickles are
/// encrypted by libolm with the pickle key, which is never stored here.
constexpr const char* schema_v3 = R"sql(
CREATE TABLE IF NOT EXISTS crypto_account (
  id INTEGER PRIMARY KEY CHECK (id = 1), -- one account per store (one device)
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  curve25519 TEXT NOT NULL,
  ed25519 TEXT NOT NULL,
  pickle TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS olm_sessions (
  sender_key TEXT NOT NULL,
  session_id TEXT NOT NULL,
  pickle TEXT NOT NULL,
  last_used_at INTEGER NOT NULL,
  PRIMARY KEY (sender_key, session_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbound_group_sessions (
  room_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  sender_key TEXT NOT NULL,
  sender_ed25519 TEXT NOT NULL,
  forwarding_chain TEXT NOT NULL DEFAULT '[]',
  pickle TEXT NOT NULL,
  first_known_index INTEGER NOT NULL,
  sender_user TEXT NOT NULL DEFAULT '',
  received_at INTEGER NOT NULL,
  PRIMARY KEY (room_id, session_id, sender_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbound_group_sessions (
  room_id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  pickle TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  message_count INTEGER NOT NULL,
  shared_with TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crypto_devices (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  state TEXT NOT NULL -- the device tracker's JSON
);
CREATE TABLE IF NOT EXISTS megolm_replay (
  session_id TEXT NOT NULL,
  message_index INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  origin_server_ts INTEGER NOT NULL,
  PRIMARY KEY (session_id, message_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parked_events (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  sender_key TEXT NOT NULL,
  parked_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS parked_by_session ON parked_events (session_id, parked_at);
)sql";

// Threads the bot answers in: follow-ups there need no mention, also after a
// restart or a move to another node.
constexpr const char* schema_v4 = R"sql(
CREATE TABLE IF NOT EXISTS bot_threads (
  room_id TEXT NOT NULL,
  thread_root TEXT NOT NULL,
  last_used INTEGER NOT NULL,
  PRIMARY KEY (room_id, thread_root)
) WITHOUT ROWID;
)sql";

// A send may vouch for an earlier one (a turn's ✅ for its reply's last text): it goes
// out only once that one is confirmed.
constexpr const char* schema_v5 = R"sql(
ALTER TABLE outbox ADD COLUMN after_txn TEXT NOT NULL DEFAULT '';
)sql";

// Where a turn's agent run stands (its run id, a pending approval), so that after a
// restart the turn follows that run instead of running the agent again.
constexpr const char* schema_v6 = R"sql(
ALTER TABLE journal ADD COLUMN run TEXT NOT NULL DEFAULT '';
-- A reaction names the event it answers: which of our sends was it?
CREATE INDEX IF NOT EXISTS outbox_event ON outbox (event_id) WHERE event_id IS NOT NULL;
)sql";

// A decoration (a turn's 👀) that content queued after it may take the place of.
constexpr const char* schema_v7 = R"sql(
ALTER TABLE outbox ADD COLUMN yields INTEGER NOT NULL DEFAULT 0;
)sql";

// Which key backup version holds each inbound Megolm session ('' : none yet).
constexpr const char* schema_v8 = R"sql(
ALTER TABLE inbound_group_sessions ADD COLUMN backed_up_version TEXT NOT NULL DEFAULT '';
)sql";

/// A thread nobody has taken the bot into for this long needs a mention again.
constexpr auto thread_memory = std::chrono::hours{24 * 90};

/// Pages of a store's cache. An idle profile's store is ~25 pages, and with
/// SQLite's default (up to 2 MiB) every page ever read stayed cached: 66 KiB per
/// idle store, a fifth of an idle encrypted profile (bench/idle_rss.py, 1,000
/// profiles, sqlite3_db_status). Pages beyond these are read again from the OS's
/// page cache when needed (a pread, no disk).
constexpr int cache_pages = 8;

/// Process-wide, before SQLite initialises (the first open): no page-cache block
/// made up front per connection (SQLITE_DEFAULT_PCACHE_INITSZ, 20 pages in
/// Debian's build), so a connection holds only the pages it uses.
void configure_sqlite_once() {
  static const int configured = sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  (void)configured; // SQLITE_MISUSE when something initialised SQLite first: harmless
}

} // namespace

std::filesystem::path profile_store::path_for(const std::filesystem::path& profile_dir) {
  return profile_dir / "platforms" / "matrix" / "hermes-matrix.db";
}

bool profile_store::held_elsewhere(const std::filesystem::path& path) {
  auto lock_path = path;
  lock_path += ".lock";
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return false;
  bool held = false;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    held = errno == EWOULDBLOCK;
  ::close(fd); // also releases the lock when it was ours for a moment
  return held;
}

hm::expected<std::unique_ptr<profile_store>>
profile_store::open(const std::filesystem::path& path) {
  // SQLite opens the files by name: that is safe only in folders nobody else can
  // write to (a file checked here could otherwise be swapped before SQLite opens it).
  // The store's folder is made private; it and the two above it (platforms/ and the
  // profile's own folder) must not be writable by other users.
  if (auto made = store::make_private_dir(path.parent_path()); !made)
    return hm::unexpected{std::move(made).error()};
  auto dir = path.parent_path();
  for (int level = 0; level < 3 && !dir.empty(); ++level, dir = dir.parent_path())
    if (auto why = store::private_dir_problem(dir))
      return fail(error_code::refused,
                  "the folder " + dir.string() + " of the store " + path.string() + " " + *why
                    + "; make it yours and not writable by others (chmod go-w)");
  // The lock lives in its own file so that it also guards creating the database.
  auto lock_path = path;
  lock_path += ".lock";
  auto lock = store::open_private_file(lock_path, "the store's lock file");
  if (lock.fd < 0)
    return fail(error_code::io, lock.error);
  int fd = lock.fd;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return fail(error_code::io, "the store " + path.string()
                                    + " is in use by another hermes-matrix process (or node); "
                                      "stop that one first");
    return fail(error_code::io, "cannot lock " + lock_path.string() + ": " + std::strerror(err));
  }
  // Create the file with mode 0600 before SQLite opens it: SQLite gives its WAL
  // and shared-memory files the database file's mode. One planted by another user,
  // or a link to elsewhere, is refused.
  auto dbfile = store::open_private_file(path, "the store");
  if (dbfile.fd < 0) {
    ::close(fd);
    return fail(error_code::io, dbfile.error);
  }
  ::close(dbfile.fd);
  configure_sqlite_once();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr)
      != SQLITE_OK) {
    auto text = sqlite_text(db);
    sqlite3_close(db);
    ::close(fd);
    return fail(error_code::io, "cannot open the store " + path.string() + ": " + text);
  }
  std::unique_ptr<profile_store> store{new profile_store(path, db, fd)};
  struct stat opened{};
  if (::stat(path.c_str(), &opened) == 0) {
    store->file_dev_ = static_cast<uint64_t>(opened.st_dev);
    store->file_ino_ = static_cast<uint64_t>(opened.st_ino);
  }
  sqlite3_busy_timeout(db, 2000);
  auto unusable = [&](const hm::error& err) {
    return fail(error_code::corrupt, "the store " + path.string()
                                       + " is corrupt or not a database (" + err.message
                                       + "); move it away to start this profile afresh");
  };
  // A corrupt file must stop this profile with a clear message, not later with
  // a confusing one in the middle of a conversation.
  auto cache_size = "PRAGMA cache_size=" + std::to_string(cache_pages);
  for (auto* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                    "PRAGMA foreign_keys=ON", cache_size.c_str(),
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                    "value TEXT NOT NULL) WITHOUT ROWID"})
    if (auto done = exec(db, sql); !done)
      return unusable(done.error());
  auto version = store->get("schema_version");
  int found = version ? std::atoi(version->c_str()) : 0;
  if (found > schema_version)
    return fail(error_code::unsupported,
                "the store " + path.string() + " has schema version " + *version
                  + ", this hermes-matrix knows up to " + std::to_string(schema_version)
                  + "; use a matching hermes-matrix version");
  // The schema is idempotent; running it on every open also adds indexes that
  // later releases of the same version introduced.
  if (auto done = exec(db, schema_v2); !done)
    return unusable(done.error());
  if (found < schema_version) {
    // Each version's script only adds tables (IF NOT EXISTS), so a fresh store runs
    // them all and an older one the ones it lacks; in one transaction with the new
    // version number, so that a crash mid-migration leaves the old version intact.
    auto migrated = in_transaction(db, [&]() -> hm::expected<void> {
      if (found < 2)
        if (auto done = exec(db, schema_v2); !done)
          return done;
      if (found < 3)
        if (auto done = exec(db, schema_v3); !done)
          return done;
      if (found < 4)
        if (auto done = exec(db, schema_v4); !done)
          return done;
      if (found < 5)
        if (auto done = exec(db, schema_v5); !done)
          return done;
      if (found < 6)
        if (auto done = exec(db, schema_v6); !done)
          return done;
      if (found < 7)
        if (auto done = exec(db, schema_v7); !done)
          return done;
      if (found < 8)
        if (auto done = exec(db, schema_v8); !done)
          return done;
      return statement{db, "INSERT INTO meta (key, value) VALUES ('schema_version', ?1) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value"}
        .bind(std::to_string(schema_version))
        .run();
    });
    if (!migrated)
      return fail(migrated.error().code,
                  "cannot initialise the store " + path.string() + " (schema version "
                    + std::to_string(found) + " to " + std::to_string(schema_version)
                    + "): " + migrated.error().message);
  }
  return store;
}

profile_store::profile_store(std::filesystem::path path, sqlite3* db, int lock_fd)
  : path_(std::move(path)), db_(db), sql_(std::make_unique<store_sql::statement_cache>(db)),
    lock_fd_(lock_fd) {
}

profile_store::~profile_store() {
  // Closing checkpoints the WAL into the database file.
  sql_.reset();
  sqlite3_close_v2(db_);
  if (lock_fd_ >= 0)
    ::close(lock_fd_); // releases the flock
}

template <class F>
hm::expected<void> profile_store::transaction(F fn) {
  return in_transaction(*sql_, std::move(fn));
}

std::optional<std::string> profile_store::get(const std::string& key) {
  std::lock_guard guard{mutex_};
  statement q{*sql_, "SELECT value FROM meta WHERE key = ?1"};
  q.bind(key);
  if (q.row())
    return q.text(0);
  return std::nullopt;
}

hm::expected<void> profile_store::put(const std::string& key, const std::string& value) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"}
    .bind(key)
    .bind(value)
    .run();
}

hm::expected<void> profile_store::erase(const std::string& key) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "DELETE FROM meta WHERE key = ?1"}.bind(key).run();
}

hm::expected<void> profile_store::still_the_opened_file() const {
  struct stat now{};
  if (::stat(path_.c_str(), &now) != 0)
    return fail(error_code::corrupt,
                "the store " + path_.string() + " was deleted while this profile ran; "
                "restore it from a backup, or let the profile start afresh");
  if (static_cast<uint64_t>(now.st_dev) != file_dev_
      || static_cast<uint64_t>(now.st_ino) != file_ino_)
    return fail(error_code::corrupt, "the store " + path_.string()
                                       + " was replaced by another file while this "
                                         "profile ran");
  return {};
}

hm::expected<void> profile_store::admit(const std::vector<journal_entry>& entries,
                                        const std::string& next_batch) {
  std::lock_guard guard{mutex_};
  if (auto same = still_the_opened_file(); !same)
    return same;
  return transaction([&]() -> hm::expected<void> {
    int64_t seq = 0;
    {
      statement q{*sql_, "SELECT COALESCE(MAX(admitted_seq), 0) FROM journal"};
      if (q.row())
        seq = q.integer(0);
    }
    auto now = unix_ms();
    for (auto& e : entries) {
      auto done = statement{*sql_, "INSERT OR IGNORE INTO journal (event_id, room_id, kind, "
                                "payload, admitted_seq, admitted_at) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"}
                   .bind(e.event_id)
                   .bind(e.room_id)
                   .bind(e.kind)
                   .bind(e.payload)
                   .bind(++seq)
                   .bind(now)
                   .run();
      if (!done)
        return done;
    }
    return statement{*sql_, "INSERT INTO meta (key, value) VALUES ('next_batch', ?1) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value"}
      .bind(next_batch)
      .run();
  });
}

std::vector<journal_entry> profile_store::pending_journal() {
  std::lock_guard guard{mutex_};
  std::vector<journal_entry> result;
  statement q{db_, "SELECT event_id, room_id, kind, payload, run FROM journal "
                   "WHERE outcome IS NULL ORDER BY admitted_seq"};
  while (q.row())
    result.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)});
  return result;
}

hm::expected<void> profile_store::note_run(const std::string& event_id, const std::string& run) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "UPDATE journal SET run = ?1 WHERE event_id = ?2 AND outcome IS NULL"}
    .bind(run)
    .bind(event_id)
    .run();
}

hm::expected<void> profile_store::finish(const std::string& event_id,
                                         const journal_outcome& outcome) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "UPDATE journal SET outcome = ?1, finished_at = ?2 "
                        "WHERE event_id = ?3"}
    .bind(to_string(outcome))
    .bind(unix_ms())
    .bind(event_id)
    .run();
}

hm::expected<void> profile_store::remember_thread(const std::string& room_id,
                                                  const std::string& thread_root) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "INSERT INTO bot_threads (room_id, thread_root, last_used) "
                        "VALUES (?1, ?2, ?3) ON CONFLICT (room_id, thread_root) "
                        "DO UPDATE SET last_used = excluded.last_used"}
    .bind(room_id)
    .bind(thread_root)
    .bind(unix_ms())
    .run();
}

std::vector<std::pair<std::string, std::string>> profile_store::bot_threads() {
  std::lock_guard guard{mutex_};
  std::vector<std::pair<std::string, std::string>> result;
  statement q{db_, "SELECT room_id, thread_root FROM bot_threads"};
  while (q.row())
    result.emplace_back(q.text(0), q.text(1));
  return result;
}

int64_t profile_store::pending_journal_count() {
  std::lock_guard guard{mutex_};
  return count(*sql_, "SELECT COUNT(*) FROM journal WHERE outcome IS NULL");
}

namespace {

/// The outcome text of a finished journal entry; nullopt while pending or unknown.
std::optional<std::string> outcome_text(statement_cache& db, const std::string& event_id) {
  statement q{db, "SELECT outcome FROM journal WHERE event_id = ?1"};
  q.bind(event_id);
  if (q.row() && !q.is_null(0))
    return q.text(0);
  return std::nullopt;
}

} // namespace

bool profile_store::finished(const std::string& event_id) {
  std::lock_guard guard{mutex_};
  return outcome_text(*sql_, event_id).has_value();
}

std::optional<journal_outcome> profile_store::outcome(const std::string& event_id) {
  std::lock_guard guard{mutex_};
  auto text = outcome_text(*sql_, event_id);
  return text ? parse_journal_outcome(*text) : std::nullopt;
}

hm::expected<void> profile_store::enqueue(const outbox_entry& e, bool& inserted) {
  std::lock_guard guard{mutex_};
  auto done = statement{*sql_, "INSERT OR IGNORE INTO outbox (room_id, txn_id, event_type, "
                            "content, relates_txn, after_txn, yields, created_at) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"}
               .bind(e.room_id)
               .bind(e.txn_id)
               .bind(e.event_type)
               .bind(e.content)
               .bind(e.relates_txn)
               .bind(e.after_txn)
               .bind(int64_t{e.yields ? 1 : 0})
               .bind(unix_ms())
               .run();
  inserted = done.has_value() && sqlite3_changes(db_) > 0;
  return done;
}

std::vector<outbox_entry> profile_store::pending_outbox() {
  std::lock_guard guard{mutex_};
  std::vector<outbox_entry> result;
  statement q{db_, "SELECT seq, room_id, txn_id, event_type, content, relates_txn, after_txn, "
                   "yields FROM outbox WHERE state = 'pending' ORDER BY seq"};
  while (q.row())
    result.push_back({q.integer(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5),
                      q.text(6), q.integer(7) != 0});
  return result;
}

uint64_t profile_store::pending_outbox_count() {
  std::lock_guard guard{mutex_};
  statement q{*sql_, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"};
  return q.row() ? static_cast<uint64_t>(q.integer(0)) : 0;
}

hm::expected<void> profile_store::mark_sent(const std::string& txn_id,
                                            const std::string& event_id) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "UPDATE outbox SET state = 'sent', event_id = ?1 WHERE txn_id = ?2"}
    .bind(event_id)
    .bind(txn_id)
    .run();
}

hm::expected<void> profile_store::mark_failed(const std::string& txn_id,
                                              const std::string& reason) {
  std::lock_guard guard{mutex_};
  return statement{*sql_, "UPDATE outbox SET state = 'failed', reason = ?1 WHERE txn_id = ?2"}
    .bind(reason)
    .bind(txn_id)
    .run();
}

std::optional<std::string> profile_store::txn_of_event(const std::string& event_id) {
  std::lock_guard guard{mutex_};
  statement q{*sql_, "SELECT txn_id FROM outbox WHERE event_id = ?1 AND state = 'sent'"};
  q.bind(event_id);
  if (!q.row())
    return std::nullopt;
  return q.text(0);
}

send_outcome profile_store::outcome_of_send(const std::string& txn_id) {
  std::lock_guard guard{mutex_};
  statement q{*sql_, "SELECT state, event_id, reason FROM outbox WHERE txn_id = ?1"};
  q.bind(txn_id);
  send_outcome out;
  if (!q.row())
    return out;
  auto state = q.text(0);
  out.state = state == "sent"     ? send_outcome::sent
              : state == "failed" ? send_outcome::failed
                                  : send_outcome::pending;
  if (!q.is_null(1))
    out.event_id = q.text(1);
  if (!q.is_null(2))
    out.reason = q.text(2);
  return out;
}

// What runs once per start (prune, resuming the journal and the outbox, the bot's
// threads, the crypto account and device list in crypto_store.cpp) is prepared
// uncached (statement{db_, ...}): kept, these statements were 28 of the 40 KiB of
// prepared statements an idle store held (bench/idle_rss.py, 1,000 profiles).
hm::expected<void> profile_store::prune(std::chrono::hours age) {
  std::lock_guard guard{mutex_};
  auto cutoff = unix_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
  return transaction([&]() -> hm::expected<void> {
    if (auto done = statement{db_, "DELETE FROM journal WHERE outcome IS NOT NULL "
                                  "AND finished_at < ?1"}
                     .bind(cutoff)
                     .run();
        !done)
      return done;
    auto forgotten = unix_ms()
                     - std::chrono::duration_cast<std::chrono::milliseconds>(thread_memory).count();
    if (auto done = statement{db_, "DELETE FROM bot_threads WHERE last_used < ?1"}
                      .bind(forgotten)
                      .run();
        !done)
      return done;
    return statement{db_, "DELETE FROM outbox WHERE state != 'pending' AND created_at < "
                          "MIN(?1, COALESCE((SELECT MIN(admitted_at) FROM journal "
                          "WHERE outcome IS NULL), ?1))"}
      .bind(cutoff)
      .run();
  });
}

} // namespace hm
