// The crypto tables of profile_store (schema v3, v8). Pickles arrive already encrypted with
// the pickle key; nothing here sees a key or a plaintext.

#include "store/profile_store.hpp"
#include "store/sql.hpp"

namespace hm {

using namespace store_sql;

namespace {

/// The columns of inbound_columns of the current row of `q`.
inbound_group_row inbound_row_of(statement& q) {
  return {q.text(0), q.text(1), q.text(2), q.text(3),    q.text(4),
          q.text(5), q.integer(6), q.text(7), q.text(8)};
}

/// What inbound_row_of reads, in its order.
#define HM_INBOUND_COLUMNS                                                                  \
  "room_id, session_id, sender_key, sender_ed25519, forwarding_chain, pickle, "             \
  "first_known_index, sender_user, backed_up_version "

hm::expected<void> write_account(statement_cache& db, const crypto_account_row& a) {
  return statement{db, "INSERT INTO crypto_account (id, user_id, device_id, curve25519, "
                       "ed25519, pickle) VALUES (1, ?1, ?2, ?3, ?4, ?5) "
                       "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
                       "device_id = excluded.device_id, curve25519 = excluded.curve25519, "
                       "ed25519 = excluded.ed25519, pickle = excluded.pickle"}
    .bind(a.user_id)
    .bind(a.device_id)
    .bind(a.curve25519)
    .bind(a.ed25519)
    .bind(a.pickle)
    .run();
}

hm::expected<void> write_changes(statement_cache& db, const crypto_changes& c) {
  auto now = unix_ms();
  if (c.account)
    if (auto done = write_account(db, *c.account); !done)
      return done;
  for (auto& s : c.olm_sessions)
    if (auto done = statement{db, "INSERT INTO olm_sessions (sender_key, session_id, pickle, "
                                 "last_used_at) VALUES (?1, ?2, ?3, ?4) "
                                 "ON CONFLICT (sender_key, session_id) DO UPDATE SET "
                                 "pickle = excluded.pickle, last_used_at = excluded.last_used_at"}
                     .bind(s.sender_key)
                     .bind(s.session_id)
                     .bind(s.pickle)
                     .bind(now)
                     .run(); !done)
      return done;
  for (auto& g : c.inbound)
    if (auto done =
          statement{db, "INSERT INTO inbound_group_sessions (room_id, session_id, sender_key, "
                        "sender_ed25519, forwarding_chain, pickle, first_known_index, "
                        "sender_user, received_at, backed_up_version) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                        "ON CONFLICT (room_id, session_id, sender_key) DO UPDATE SET "
                        "sender_ed25519 = excluded.sender_ed25519, "
                        "forwarding_chain = excluded.forwarding_chain, "
                        "pickle = excluded.pickle, "
                        "first_known_index = excluded.first_known_index, "
                        "sender_user = excluded.sender_user, "
                        "received_at = excluded.received_at, "
                        "backed_up_version = excluded.backed_up_version "
                        "WHERE excluded.first_known_index "
                        "< inbound_group_sessions.first_known_index"}
            .bind(g.room_id)
            .bind(g.session_id)
            .bind(g.sender_key)
            .bind(g.sender_ed25519)
            .bind(g.forwarding_chain.empty() ? std::string{"[]"} : g.forwarding_chain)
            .bind(g.pickle)
            .bind(g.first_known_index)
            .bind(g.sender_user)
            .bind(now)
            .bind(g.backed_up_version)
            .run(); !done)
      return done;
  for (auto& m : c.backed_up)
    if (auto done = statement{db, "UPDATE inbound_group_sessions SET backed_up_version = ?5 "
                                 "WHERE room_id = ?1 AND session_id = ?2 AND sender_key = ?3 "
                                 "AND first_known_index = ?4"}
                     .bind(m.room_id)
                     .bind(m.session_id)
                     .bind(m.sender_key)
                     .bind(m.first_known_index)
                     .bind(m.version)
                     .run(); !done)
      return done;
  for (auto& room : c.discard_outbound)
    if (auto done = statement{db, "DELETE FROM outbound_group_sessions WHERE room_id = ?1"}
                     .bind(room)
                     .run(); !done)
      return done;
  for (auto& o : c.outbound)
    if (auto done = statement{db, "INSERT INTO outbound_group_sessions (room_id, session_id, "
                                 "pickle, created_at, message_count, shared_with) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                                 "ON CONFLICT (room_id) DO UPDATE SET "
                                 "session_id = excluded.session_id, pickle = excluded.pickle, "
                                 "created_at = excluded.created_at, "
                                 "message_count = excluded.message_count, "
                                 "shared_with = excluded.shared_with"}
                     .bind(o.room_id)
                     .bind(o.session_id)
                     .bind(o.pickle)
                     .bind(o.created_at)
                     .bind(o.message_count)
                     .bind(o.shared_with.empty() ? std::string{"[]"} : o.shared_with)
                     .run(); !done)
      return done;
  if (c.devices)
    if (auto done = statement{db, "INSERT INTO crypto_devices (id, state) VALUES (1, ?1) "
                                 "ON CONFLICT (id) DO UPDATE SET state = excluded.state"}
                     .bind(*c.devices)
                     .run(); !done)
      return done;
  // A plain INSERT: a pair already logged fails the whole transaction, so a replayed
  // message can never be committed as if it were new.
  for (auto& r : c.replay)
    if (auto done = statement{db, "INSERT INTO megolm_replay (session_id, message_index, "
                                 "event_id, origin_server_ts) VALUES (?1, ?2, ?3, ?4)"}
                     .bind(r.session_id)
                     .bind(r.message_index)
                     .bind(r.event_id)
                     .bind(r.origin_server_ts)
                     .run(); !done)
      return done;
  for (auto& p : c.park)
    if (auto done = statement{db, "INSERT OR IGNORE INTO parked_events (event_id, room_id, "
                                 "session_id, sender_key, parked_at) VALUES (?1, ?2, ?3, ?4, ?5)"}
                     .bind(p.event_id)
                     .bind(p.room_id)
                     .bind(p.session_id)
                     .bind(p.sender_key)
                     .bind(now)
                     .run(); !done)
      return done;
  for (auto& id : c.unpark)
    if (auto done = statement{db, "DELETE FROM parked_events WHERE event_id = ?1"}.bind(id).run(); !done)
      return done;
  return {};
}

} // namespace

std::optional<std::string> profile_store::commit_crypto(const crypto_changes& changes) {
  std::lock_guard guard{mutex_};
  // crypto_store's interface (matrix/crypto) still speaks optional<string>.
  if (auto done = in_transaction(*sql_, [&] { return write_changes(*sql_, changes); }); !done)
    return std::move(done).error().message;
  return std::nullopt;
}

std::optional<crypto_account_row> profile_store::crypto_account() {
  std::lock_guard guard{mutex_};
  statement q{db_, "SELECT user_id, device_id, curve25519, ed25519, pickle "
                   "FROM crypto_account WHERE id = 1"};
  if (q.row())
    return crypto_account_row{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)};
  return std::nullopt;
}

std::vector<olm_session_row> profile_store::olm_sessions(const std::string& sender_key) {
  std::lock_guard guard{mutex_};
  std::vector<olm_session_row> result;
  statement q{*sql_, "SELECT sender_key, session_id, pickle FROM olm_sessions "
                   "WHERE sender_key = ?1 ORDER BY last_used_at DESC, session_id"};
  q.bind(sender_key);
  while (q.row())
    result.push_back({q.text(0), q.text(1), q.text(2)});
  return result;
}

std::vector<inbound_group_row>
profile_store::inbound_group_sessions(const std::string& room_id, const std::string& session_id) {
  std::lock_guard guard{mutex_};
  std::vector<inbound_group_row> result;
  statement q{*sql_, "SELECT " HM_INBOUND_COLUMNS "FROM inbound_group_sessions "
                   "WHERE room_id = ?1 AND session_id = ?2 ORDER BY received_at"};
  q.bind(room_id).bind(session_id);
  while (q.row())
    result.push_back(inbound_row_of(q));
  return result;
}

std::vector<inbound_group_row> profile_store::sessions_to_back_up(const std::string& version,
                                                                  size_t limit) {
  std::lock_guard guard{mutex_};
  std::vector<inbound_group_row> result;
  statement q{*sql_, "SELECT " HM_INBOUND_COLUMNS "FROM inbound_group_sessions "
                   "WHERE backed_up_version != ?1 "
                   "ORDER BY received_at, room_id, session_id LIMIT ?2"};
  q.bind(version).bind(static_cast<int64_t>(limit));
  while (q.row())
    result.push_back(inbound_row_of(q));
  return result;
}

std::optional<outbound_group_row>
profile_store::outbound_group_session(const std::string& room_id) {
  std::lock_guard guard{mutex_};
  statement q{*sql_, "SELECT room_id, session_id, pickle, created_at, message_count, shared_with "
                   "FROM outbound_group_sessions WHERE room_id = ?1"};
  q.bind(room_id);
  if (q.row())
    return outbound_group_row{q.text(0),    q.text(1),    q.text(2),
                              q.integer(3), q.integer(4), q.text(5)};
  return std::nullopt;
}

std::optional<std::string> profile_store::tracked_devices() {
  std::lock_guard guard{mutex_};
  statement q{db_, "SELECT state FROM crypto_devices WHERE id = 1"};
  if (q.row())
    return q.text(0);
  return std::nullopt;
}

std::optional<replay_row> profile_store::replayed(const std::string& session_id,
                                                  int64_t message_index) {
  std::lock_guard guard{mutex_};
  statement q{*sql_, "SELECT session_id, message_index, event_id, origin_server_ts "
                   "FROM megolm_replay WHERE session_id = ?1 AND message_index = ?2"};
  q.bind(session_id).bind(message_index);
  if (q.row())
    return replay_row{q.text(0), q.integer(1), q.text(2), q.integer(3)};
  return std::nullopt;
}

std::vector<parked_row> profile_store::parked(const std::string& session_id) {
  std::lock_guard guard{mutex_};
  std::vector<parked_row> result;
  statement q{*sql_, "SELECT event_id, room_id, session_id, sender_key FROM parked_events "
                   "WHERE ?1 = '' OR session_id = ?1 ORDER BY parked_at, event_id"};
  q.bind(session_id);
  while (q.row())
    result.push_back({q.text(0), q.text(1), q.text(2), q.text(3)});
  return result;
}

int64_t profile_store::parked_count() {
  std::lock_guard guard{mutex_};
  return count(*sql_, "SELECT COUNT(*) FROM parked_events");
}

int64_t profile_store::inbound_group_session_count() {
  std::lock_guard guard{mutex_};
  return count(*sql_, "SELECT COUNT(*) FROM inbound_group_sessions");
}

int64_t profile_store::outbound_group_session_count() {
  std::lock_guard guard{mutex_};
  return count(*sql_, "SELECT COUNT(*) FROM outbound_group_sessions");
}

} // namespace hm
