#pragma once

// The stored Megolm sessions and the key backup, sans I/O over a crypto_store: which
// sessions to upload next (a bounded batch, each session once per backup version), and
// importing sessions the backup holds (never over a better copy). The caller performs
// the requests (key_backup.hpp) and commits the marks of an upload that succeeded.
// Nothing here logs or returns key material in a text.

#include "matrix/crypto/crypto_store.hpp"
#include "matrix/crypto/key_backup.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/pickle_key.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace hm::matrix::crypto {

/// Sessions one upload carries at most (Element uploads 200 at a time; a smaller batch
/// keeps one request well below the homeserver's body limit).
inline constexpr std::size_t backup_batch_limit = 100;

/// `session` as the store keeps it. `sender_user`: who sent us the key over Olm ("" when
/// no Olm sender vouches for it); `backed_up_version`: the backup it is already in.
[[nodiscard]] result<inbound_group_row> inbound_row(const inbound_group_session& session,
                                                    const pickle_key& key,
                                                    std::string sender_user,
                                                    std::string backed_up_version = {});

/// The next upload to backup `version`.
struct backup_batch {
  std::vector<backed_up_session> sessions; ///< to upload (empty: nothing to do)
  /// Commit these once the upload succeeded. Sessions that can never be backed up (an
  /// unreadable pickle) are marked too, so they do not block every later batch.
  std::vector<backed_up_mark> marks;
  std::vector<std::string> skipped; ///< why a session was left out (room, session, why)
};

/// At most `limit` stored sessions not yet in backup `version`, encrypted to `backup`.
/// Sessions whose creator is `own_curve25519` (our own outbound sessions) are uploaded
/// as verified; others as the server's word would have them: unverified.
[[nodiscard]] backup_batch next_backup_batch(crypto_store& store, const pickle_key& key,
                                             const backup_public_key& backup,
                                             const std::string& version,
                                             const std::string& own_curve25519,
                                             std::size_t limit = backup_batch_limit);

/// What became of one session from the backup.
struct restored_session {
  enum class outcome {
    imported, ///< stored: parked events waiting for it can be retried
    kept,     ///< we hold a copy that knows the same or an earlier index: left alone
    skipped,  ///< undecryptable or malformed: `why` (room, session, why; no key material)
  };
  outcome what = outcome::skipped;
  std::string why;
};

/// Decrypts `data` (session `session_id` of `room_id` in backup `version`) with the
/// backup's private key and adds it to `changes` (marked as in `version`, so it is not
/// uploaded again) unless the store holds a copy as good.
[[nodiscard]] restored_session restore_session(crypto_store& store, const pickle_key& key,
                                               const backup_key& backup,
                                               const std::string& version,
                                               const backed_up_session& data,
                                               crypto_changes& changes);

} // namespace hm::matrix::crypto
