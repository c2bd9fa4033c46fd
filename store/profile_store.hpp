#pragma once

#include "errors/error.hpp"
#include "matrix/crypto/crypto_store.hpp"
#include "store/journal_outcome.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace hm {

namespace store_sql {
class statement_cache;
}

/// An event the profile will act on, admitted before the sync cursor moves past
/// it (design: "The way of one message", step 2).
struct journal_entry {
  std::string event_id;
  std::string room_id;
  std::string kind;    ///< "message" or "invite"
  std::string payload; ///< the event (or invite state) as JSON text
  std::string run = {}; ///< where its agent run stands (agent_turn::run); "" for none
};

/// A send the outbox owes the homeserver, persisted until it is acknowledged.
struct outbox_entry {
  int64_t seq = 0;          ///< order of enqueueing (per room order follows it)
  std::string room_id;
  std::string txn_id;       ///< derived from the source event: resends deduplicate
  std::string event_type;
  std::string content;      ///< JSON text
  std::string relates_txn;  ///< for edits: the txn of the original, whose event id goes into m.relates_to
  std::string after_txn;    ///< an earlier send of the room this one waits for (outgoing_event)
  bool yields = false;      ///< a decoration skipped for content queued after it (outgoing_event)
};

/// What became of a send (by txn id).
struct send_outcome {
  enum state_type { unknown, pending, sent, failed } state = unknown;
  std::string event_id; ///< when sent
  std::string reason;   ///< when failed: why the homeserver (or the outbox) refused it
};

// The crypto rows and crypto_changes are the E2EE machine's (matrix/crypto/crypto_store.hpp);
// this store keeps them in its tables, in the same database as the journal.
using matrix::crypto::crypto_account_row;
using matrix::crypto::crypto_changes;
using matrix::crypto::inbound_group_row;
using matrix::crypto::olm_session_row;
using matrix::crypto::outbound_group_row;
using matrix::crypto::parked_row;
using matrix::crypto::replay_row;

/// A profile's durable state: one SQLite database (WAL, mode 0600) beside the
/// profile, guarded by an exclusive file lock so that one process (one node)
/// at a time serves the profile. The cursor, the journal, the outbox (and the
/// crypto state) are tables of this one database, so that they commit together
/// (design: State).
///
/// WAL with synchronous=NORMAL: a commit is a write into the WAL (page cache),
/// durable across a process crash or SIGKILL; only a power loss can take the
/// last commits, and never corrupts the file. That keeps commits cheap enough
/// to run on an actor's thread.
///
/// The actors of one cell share the store; every method takes the store's
/// mutex, so calls from different actors never interleave inside SQLite.
class profile_store : public matrix::crypto::crypto_store {
public:
  /// Where the store of the profile in `profile_dir` lives.
  [[nodiscard]] static std::filesystem::path path_for(const std::filesystem::path& profile_dir);

  /// True when another process holds the lock of the store at `path` now (it serves
  /// that profile). False when the lock is free or cannot be looked at (opening the
  /// store will then say why). Takes no lock.
  [[nodiscard]] static bool held_elsewhere(const std::filesystem::path& path);

  /// Opens (creating if needed) the store at `path`. A user-facing error when the store
  /// is locked by another process (io), unreadable (io, refused: folders others may
  /// write to), corrupt or not a database (corrupt), or newer than this build
  /// (unsupported).
  [[nodiscard]] static hm::expected<std::unique_ptr<profile_store>>
  open(const std::filesystem::path& path);

  profile_store(const profile_store&) = delete;
  profile_store& operator=(const profile_store&) = delete;
  ~profile_store();

  /// A small key-value table for single settings (cursor, filter id, ...).
  [[nodiscard]] std::optional<std::string> get(const std::string& key) override;
  /// An error on failure (disk full, corruption).
  [[nodiscard]] hm::expected<void> put(const std::string& key, const std::string& value) override;
  /// Removes `key` (nothing when it is not there).
  [[nodiscard]] hm::expected<void> erase(const std::string& key);

  // -- journal -------------------------------------------------------------

  /// In one transaction: admits the entries (ignoring ids already admitted) and
  /// sets the sync cursor, so either both happen or neither does. Refused when the
  /// database file was deleted or replaced since it was opened (SQLite would go on
  /// writing to the unlinked file and lose everything at the next start).
  [[nodiscard]] hm::expected<void> admit(const std::vector<journal_entry>& entries,
                                         const std::string& next_batch);

  /// Entries admitted but not finished, oldest first (what a restart resumes).
  [[nodiscard]] std::vector<journal_entry> pending_journal();

  /// Notes where an entry's agent run stands (agent_turn::run), until it is finished.
  [[nodiscard]] hm::expected<void> note_run(const std::string& event_id, const std::string& run);

  /// Marks an entry finished with its outcome.
  [[nodiscard]] hm::expected<void> finish(const std::string& event_id,
                                          const journal_outcome& outcome);

  /// How many entries are admitted but not finished (the journal backlog, for metrics).
  [[nodiscard]] int64_t pending_journal_count();

  /// Whether the entry is finished, whatever its outcome says (one this version cannot
  /// read, written by a newer one, counts too: it was answered once already).
  [[nodiscard]] bool finished(const std::string& event_id);

  /// The outcome of a finished entry, nullopt while pending or unknown (or written by
  /// no version of hermes-matrix).
  [[nodiscard]] std::optional<journal_outcome> outcome(const std::string& event_id);

  // -- outbox --------------------------------------------------------------

  /// Persists a send; a txn id already present is left as it is (idempotent),
  /// and `inserted` says which happened.
  [[nodiscard]] hm::expected<void> enqueue(const outbox_entry& entry, bool& inserted);

  /// Sends not yet acknowledged, in enqueue order.
  [[nodiscard]] std::vector<outbox_entry> pending_outbox();

  /// How many sends are not yet acknowledged (the outbox queue depth).
  [[nodiscard]] uint64_t pending_outbox_count();

  /// The homeserver acknowledged `txn_id` with `event_id`.
  [[nodiscard]] hm::expected<void> mark_sent(const std::string& txn_id,
                                             const std::string& event_id);

  /// The homeserver refused `txn_id` for good (e.g. M_FORBIDDEN).
  [[nodiscard]] hm::expected<void> mark_failed(const std::string& txn_id,
                                               const std::string& reason);

  /// The txn under which we sent the event `event_id`, if it is one of ours.
  [[nodiscard]] std::optional<std::string> txn_of_event(const std::string& event_id);

  /// Whether `txn_id` is queued, sent (with its event id) or refused (with why).
  [[nodiscard]] send_outcome outcome_of_send(const std::string& txn_id);


  /// Notes that the bot answers in this thread (follow-ups need no mention).
  [[nodiscard]] hm::expected<void> remember_thread(const std::string& room_id,
                                                   const std::string& thread_root);

  /// Every thread the bot answers in: (room id, thread root event id).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> bot_threads();

  /// Forgets finished journal entries and delivered sends older than `age`, so
  /// that a store serving for months stays small. Sends are kept while an
  /// older journal entry is still pending (a resumed turn may look them up).
  /// Threads the bot was last taken into 90 days ago are forgotten too.
  [[nodiscard]] hm::expected<void> prune(std::chrono::hours age);

  // -- crypto (crypto_store.cpp) ---------------------------------------------

  // matrix::crypto::crypto_store:
  [[nodiscard]] std::optional<std::string> commit_crypto(const crypto_changes& changes) override;
  [[nodiscard]] std::optional<crypto_account_row> crypto_account() override;
  [[nodiscard]] std::vector<olm_session_row> olm_sessions(const std::string& sender_key) override;
  [[nodiscard]] std::vector<inbound_group_row>
  inbound_group_sessions(const std::string& room_id, const std::string& session_id) override;
  [[nodiscard]] std::optional<outbound_group_row>
  outbound_group_session(const std::string& room_id) override;
  [[nodiscard]] std::vector<inbound_group_row>
  sessions_to_back_up(const std::string& version, size_t limit) override;
  [[nodiscard]] std::optional<replay_row> replayed(const std::string& session_id,
                                                   int64_t message_index) override;

  /// The device tracker's state as last committed.
  [[nodiscard]] std::optional<std::string> tracked_devices() override;
  /// Parked events waiting for `session_id`'s key (all parked ones when empty), oldest first.
  [[nodiscard]] std::vector<parked_row> parked(const std::string& session_id = {}) override;
  /// How many events are parked, and how many Megolm sessions are stored (for metrics).
  [[nodiscard]] int64_t parked_count();
  [[nodiscard]] int64_t inbound_group_session_count();
  [[nodiscard]] int64_t outbound_group_session_count();

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
  /// Fails (corrupt) when the file at path_ is no longer the one opened (deleted, replaced).
  [[nodiscard]] hm::expected<void> still_the_opened_file() const;
  uint64_t file_dev_ = 0; ///< device and inode of the database file at open
  uint64_t file_ino_ = 0;
  profile_store(std::filesystem::path path, sqlite3* db, int lock_fd);

  /// Runs `fn` between BEGIN IMMEDIATE and COMMIT (ROLLBACK when it fails).
  template <class F>
  hm::expected<void> transaction(F fn);

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<store_sql::statement_cache> sql_; ///< db_'s prepared statements
  int lock_fd_ = -1;
  std::mutex mutex_;
};

} // namespace hm
