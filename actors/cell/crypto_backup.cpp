// Server-side key backup (MATRIX_RECOVERY_KEY): the crypto actor opens the account's
// backup with matrix::crypto::backup_opening (or, with MATRIX_KEY_BACKUP=create and no
// recovery key, creates one with matrix::crypto::backup_creation), uploads every Megolm session it holds
// once per backup version (matrix::crypto::next_backup_batch), and imports sessions
// from the backup when a room event's key is missing or the store started empty. A
// backup it cannot use is logged and left alone; nothing here ever logs a key.

#include "actors/cell/crypto_drive.hpp"
#include "actors/cell/crypto_state.hpp"
#include "matrix/crypto/backup_sessions.hpp"
#include "matrix/crypto/secure_random.hpp"
#include "messages/errors.hpp"
#include "store/recovery_key_file.hpp"

#include <spdlog/logger.h>

namespace hm::crypto_detail {

namespace {

/// How long to wait before opening the backup again when the homeserver could not answer.
constexpr auto reopen_after = std::chrono::seconds{30};

/// The missing keys that waited for the backup to open: asked where they now can be.
void release_waiting(crypto_pointer self) {
  auto waiting = std::exchange(self->state.backup.waiting, {});
  for (auto& w : waiting)
    find_room_key(self, w.room_id, w.event, w.decryption);
}

/// Imports `sessions` from the backup in one commit; the parked events waiting for
/// the ones imported are retried. Answers how many were imported.
size_t import_sessions(crypto_pointer self, const std::vector<crypto::backed_up_session>& sessions) {
  auto& st = self->state;
  auto& b = st.backup;
  crypto_changes changes;
  std::vector<std::string> imported;
  size_t skipped = 0;
  for (auto& session : sessions) {
    auto got = crypto::restore_session(*st.store, *st.key, *b.key, b.version, session, changes);
    using outcome = crypto::restored_session::outcome;
    if (got.what == outcome::imported)
      imported.push_back(session.session_id);
    else if (got.what == outcome::skipped) {
      st.log->warn("skipped a key backup entry: {}", got.why);
      ++skipped;
    }
  }
  if (skipped > 0)
    st.metrics->key_backup_sessions("skipped", skipped);
  if (imported.empty())
    return 0;
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return 0;
  }
  st.metrics->key_backup_sessions("restored", imported.size());
  publish_store_counts(self);
  for (auto& id : imported)
    st.log->info("restored the key of Megolm session {} from the key backup", id);
  for (auto& event_id : st.machine->room_keys_arrived(imported))
    self->send(st.cell, atom::retry_v, event_id);
  perform_outgoing(self); // the cancellations of our key requests
  return imported.size();
}

/// The store started empty: every session in the backup is imported.
void restore_whole_backup(crypto_pointer self) {
  auto& st = self->state;
  auto req = crypto::room_keys_request(st.backup.version);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, version = st.backup.version](const http_result& res) {
      auto& s = self->state;
      if (s.backup.version != version)
        return;
      auto download = crypto::parse_room_keys_response(to_matrix_response(res));
      if (!download) {
        s.log->warn("cannot restore the room keys from key backup version {} ({})", version,
                    matrix::to_string(download.error()));
        return;
      }
      for (auto& why : download->malformed)
        s.log->warn("skipped a key backup entry: {}", why);
      if (!download->malformed.empty())
        s.metrics->key_backup_sessions("skipped", download->malformed.size());
      auto imported = import_sessions(self, download->sessions);
      s.log->info("the store started empty: restored {} of {} room keys from key backup "
                  "version {}",
                  imported, download->sessions.size(), version);
    });
}

/// The backup of `version` is ours (read with `key`): backing up starts.
void opened(crypto_pointer self, std::shared_ptr<const crypto::backup_key> key,
            const std::string& version) {
  auto& st = self->state;
  auto& b = st.backup;
  auto public_key = crypto::backup_public_key::from_base64(key->public_key());
  if (!public_key) {
    st.log->error("cannot use the key backup's public key: not backing up");
    return;
  }
  b.key = std::move(key);
  b.public_key.emplace(std::move(public_key).value());
  b.version = version;
  st.log->info("backing up room keys to key backup version {}", b.version);
  if (std::exchange(b.restore_all, false))
    restore_whole_backup(self);
  back_up_room_keys(self);
}

/// How opening the backup ended: backing up starts, or why not.
void opening_ended(crypto_pointer self, crypto::backup_opening::step& step) {
  using opening = crypto::backup_opening;
  auto& st = self->state;
  if (auto* done = std::get_if<opening::opened>(&step))
    opened(self, st.backup.opening->key(), done->version.version);
  else if (std::holds_alternative<opening::no_backup>(step))
    st.log->info("the account has no key backup");
  else {
    auto& failed = std::get<opening::failure>(step);
    st.log->warn("{}", failed.text);
    if (failed.transient) {
      st.backup.reopen_later = true;
      self->delayed_send(self, reopen_after, atom::internal_v, atom::flush_v);
    }
  }
  st.backup.opening.reset();
  release_waiting(self);
}

/// Opens the backup with the machine in st.backup.opening, from its first step.
void open_now(crypto_pointer self) {
  using opening = crypto::backup_opening;
  auto& b = self->state.backup;
  drive<opening>(self, [](crypto_state& s) -> opening& { return *s.backup.opening; },
                 b.opening->start(), [self](opening::step& step) { opening_ended(self, step); });
}

/// The server no longer takes uploads to our version: it is read again, and backing
/// up goes on only when the new backup is ours too.
void reopen(crypto_pointer self, const std::string& why) {
  auto& st = self->state;
  auto& b = st.backup;
  st.log->warn("key backup version {} is no longer the account's backup ({}); reading "
               "the backup's version again",
               b.version, why);
  b.version.clear();
  b.public_key.reset();
  b.opening.emplace(b.key);
  open_now(self);
}

void back_up_later(crypto_pointer self) {
  auto& b = self->state.backup;
  if (b.retry_scheduled)
    return;
  b.retry_scheduled = true;
  self->delayed_send(self, retry_after, atom::internal_v, atom::flush_v);
}

void create_from(crypto_pointer self, crypto::backup_creation::step step);

/// MATRIX_KEY_BACKUP=create: how a step of backup_creation that asks for no request
/// ends; the recovery key goes to its file before anything reaches the server.
void creation_ended(crypto_pointer self, crypto::backup_creation::step& step) {
  using creation = crypto::backup_creation;
  auto& st = self->state;
  if (auto* keep = std::get_if<creation::keep_recovery_key>(&step)) {
    auto path = recovery_key_path_for(st.store->path());
    auto written = write_recovery_key_file(path, keep->recovery_key);
    crypto::wipe_memory(keep->recovery_key.data(), keep->recovery_key.size());
    if (written) {
      st.log->warn("creating a key backup: its recovery key is in {}; move it to "
                   "MATRIX_RECOVERY_KEY in the profile's .env and delete the file",
                   path.string());
      create_from(self, st.backup.creating->kept());
      return;
    }
    st.log->error("not creating a key backup: {}",
                  written.error().code == error_code::exists
                    ? "something is in the way at " + path.string()
                    : written.error().message);
  } else if (auto* done = std::get_if<creation::created>(&step)) {
    st.backup.restore_all = false; // a new backup holds nothing
    opened(self, st.backup.creating->key(), done->version.version);
  } else if (auto* declined = std::get_if<creation::declined>(&step)) {
    st.log->warn("not creating a key backup: {}", declined->text);
  } else {
    st.log->error("{}", std::get<creation::failure>(step).text);
  }
  st.backup.creating.reset();
  release_waiting(self);
}

/// Drives the machine in st.backup.creating from `step`.
void create_from(crypto_pointer self, crypto::backup_creation::step step) {
  using creation = crypto::backup_creation;
  drive<creation>(self, [](crypto_state& s) -> creation& { return *s.backup.creating; },
                  std::move(step), [self](creation::step& end) { creation_ended(self, end); });
}

bool commit_marks(crypto_pointer self, std::vector<crypto::backed_up_mark> marks) {
  crypto_changes changes;
  changes.backed_up = std::move(marks);
  if (auto err = self->state.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return false;
  }
  return true;
}

} // namespace

void open_key_backup(crypto_pointer self) {
  auto& st = self->state;
  if (!st.config.recovery_key.empty()) {
    st.backup.opening.emplace(st.user_id, st.config.recovery_key.reveal());
    open_now(self);
    return;
  }
  if (!st.config.create_key_backup)
    return;
  // The recovery key of a backup created before, while the user has not moved it yet.
  auto path = recovery_key_path_for(st.store->path());
  std::error_code ec;
  if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
    auto kept = read_recovery_key_file(path);
    if (!kept.error.empty()) {
      st.log->error("{}; not backing up", kept.error);
      return;
    }
    st.backup.opening.emplace(st.user_id, kept.value);
    crypto::wipe_memory(kept.value.data(), kept.value.size());
    open_now(self);
    return;
  }
  st.backup.creating.emplace(st.user_id, st.config.device_id, st.machine->olm_account());
  create_from(self, st.backup.creating->start());
}

void back_up_room_keys(crypto_pointer self) {
  auto& st = self->state;
  auto& b = st.backup;
  b.retry_scheduled = false;
  if (b.reopen_later && !b.opening && !b.creating) {
    b.reopen_later = false;
    if (b.key) {
      b.opening.emplace(b.key);
      open_now(self);
    } else {
      open_key_backup(self);
    }
    return;
  }
  if (b.version.empty() || b.upload_in_flight)
    return;
  auto batch = crypto::next_backup_batch(*st.store, *st.key, *b.public_key, b.version,
                                         st.machine->olm_account().identity().curve25519);
  for (auto& why : batch.skipped)
    st.log->warn("not backing up {}", why);
  if (batch.sessions.empty()) {
    if (!batch.marks.empty())
      commit_marks(self, std::move(batch.marks));
    return;
  }
  b.upload_in_flight = true;
  auto count = batch.sessions.size();
  auto req = crypto::upload_keys_request(b.version, batch.sessions);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, count, marks = std::move(batch.marks),
           version = b.version](const http_result& res) {
      auto& s = self->state;
      s.backup.upload_in_flight = false;
      if (s.backup.version != version)
        return;
      if (!succeeded(res)) {
        auto err = to_matrix_error(res);
        if (err.errcode == "M_WRONG_ROOM_KEYS_VERSION" || err.errcode == "M_NOT_FOUND") {
          reopen(self, err.errcode);
          return;
        }
        s.log->warn("cannot back up {} room keys ({}); retrying", count, matrix::to_string(err));
        back_up_later(self);
        return;
      }
      if (!commit_marks(self, marks))
        return;
      s.metrics->key_backup_sessions("backed_up", count);
      s.log->info("backed up {} room key(s) to key backup version {}", count, version);
      back_up_room_keys(self);
    });
}

void find_room_key(crypto_pointer self, const std::string& room_id, const matrix::room_event& ev,
                   const crypto::room_decryption& dec) {
  auto& st = self->state;
  auto& b = st.backup;
  if (b.opening || b.creating) {
    b.waiting.push_back({room_id, ev, dec});
    return;
  }
  if (b.version.empty() || dec.session_id.empty() || !b.asked.insert(dec.session_id).second) {
    st.machine->request_room_key(room_id, ev, dec);
    perform_outgoing(self);
    return;
  }
  auto req = crypto::session_request(b.version, room_id, dec.session_id);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, room_id, ev, dec, version = b.version](const http_result& res) {
      auto& s = self->state;
      auto found = crypto::parse_session_response(to_matrix_response(res));
      if (!found)
        s.log->warn("cannot read Megolm session {} from the key backup ({})", dec.session_id,
                    matrix::to_string(found.error()));
      else if (!found.value())
        s.log->info("the key backup does not hold Megolm session {}", dec.session_id);
      else if (s.backup.version == version
               && import_sessions(self, {{room_id, dec.session_id, std::move(*found.value())}})
                    > 0)
        return;
      s.machine->request_room_key(room_id, ev, dec);
      perform_outgoing(self);
    });
}

} // namespace hm::crypto_detail
