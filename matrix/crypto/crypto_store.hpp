#pragma once

// What the E2EE machine keeps between messages, and the store it keeps it in: an
// interface, so that the machine's rules (store/profile_store's SQLite tables in the
// service) can be tested with libolm and a store in memory. Pickles are libolm's,
// already encrypted with the pickle key (which a store never sees); a store keeps them
// as opaque text next to the metadata libolm does not keep itself.

#include "errors/expected.hpp"
#include "errors/error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hm::matrix::crypto {

/// This device's Olm account, with the identity it was created for: a later start
/// compares user, device and keys with what the server says (device_mismatch).
struct crypto_account_row {
  std::string user_id;
  std::string device_id;
  std::string curve25519;
  std::string ed25519;
  std::string pickle;
};

/// One Olm session with another device, found by that device's curve25519 key.
struct olm_session_row {
  std::string sender_key;
  std::string session_id;
  std::string pickle;
};

/// A Megolm session we can decrypt a room's events with.
struct inbound_group_row {
  std::string room_id;
  std::string session_id;
  std::string sender_key;       ///< curve25519 of the creating device
  std::string sender_ed25519;   ///< its ed25519 key, as claimed
  std::string forwarding_chain; ///< JSON array of curve25519 keys ("[]" from the creator)
  std::string pickle;
  int64_t first_known_index = 0;
  std::string sender_user; ///< who sent us the key over Olm (owns sender_key)
  /// The key backup version this copy of the session is in ("" : in none yet). A row
  /// that replaces a worse copy brings its own (a better copy is backed up again).
  std::string backed_up_version = {};
};

/// A session uploaded to key backup `version`: marks the stored row, unless it was
/// replaced meanwhile by a copy that knows an earlier index (that one still needs it).
struct backed_up_mark {
  std::string room_id;
  std::string session_id;
  std::string sender_key;
  int64_t first_known_index = 0;
  std::string version;
};

/// The Megolm session we encrypt a room's events with, and who has its key.
struct outbound_group_row {
  std::string room_id;
  std::string session_id;
  std::string pickle;
  int64_t created_at = 0;    ///< Unix ms (rotation by age)
  int64_t message_count = 0; ///< messages encrypted (rotation by count)
  std::string shared_with;   ///< who has the key: shared_set_json (room_key_sharing.hpp)
};

/// (session, message index) decrypted once: a second event with that pair is a replay.
struct replay_row {
  std::string session_id;
  int64_t message_index = 0;
  std::string event_id;
  int64_t origin_server_ts = 0;
};

/// An admitted m.room.encrypted event whose Megolm key we lack; its journal entry
/// stays pending, and it is retried when a key for `session_id` arrives.
struct parked_row {
  std::string event_id;
  std::string room_id;
  std::string session_id;
  std::string sender_key;
};

/// Crypto state changes that belong together: committed all or none.
struct crypto_changes {
  std::optional<crypto_account_row> account; ///< replaces the stored account
  std::vector<olm_session_row> olm_sessions; ///< inserted or replaced
  /// Inserted; one already stored is replaced only by a row that knows an earlier
  /// index (a key shared late never hides messages the stored one can read).
  std::vector<inbound_group_row> inbound;
  std::vector<outbound_group_row> outbound;  ///< inserted or replaced (per room)
  std::vector<std::string> discard_outbound; ///< rooms whose outbound session rotates
  std::optional<std::string> devices;        ///< the device tracker's state (JSON)
  std::vector<replay_row> replay;            ///< inserted; an existing pair is an error
  std::vector<parked_row> park;              ///< inserted; one already parked stays
  std::vector<std::string> unpark;           ///< event ids
  std::vector<backed_up_mark> backed_up;     ///< sessions now in a key backup
};

/// Where the E2EE machine reads its state and commits its changes. Errors are texts
/// without secrets; a failed commit changes nothing.
class crypto_store {
public:
  virtual ~crypto_store() = default;

  /// Commits `changes` in one transaction: all of them or none.
  [[nodiscard]] virtual std::optional<std::string> commit_crypto(const crypto_changes& changes) = 0;

  [[nodiscard]] virtual std::optional<crypto_account_row> crypto_account() = 0;
  /// The Olm sessions with the device that has `sender_key`, most recently used first.
  [[nodiscard]] virtual std::vector<olm_session_row> olm_sessions(const std::string& sender_key) = 0;
  /// The inbound sessions of `room_id` with `session_id` (one per creator key claimed).
  [[nodiscard]] virtual std::vector<inbound_group_row>
  inbound_group_sessions(const std::string& room_id, const std::string& session_id) = 0;
  /// The session we encrypt `room_id`'s events with, if one is stored.
  [[nodiscard]] virtual std::optional<outbound_group_row>
  outbound_group_session(const std::string& room_id) = 0;
  /// At most `limit` inbound sessions not yet in key backup `version`, oldest first.
  [[nodiscard]] virtual std::vector<inbound_group_row>
  sessions_to_back_up(const std::string& version, size_t limit) = 0;
  /// What was decrypted at (`session_id`, `message_index`) before, if anything.
  [[nodiscard]] virtual std::optional<replay_row> replayed(const std::string& session_id,
                                                           int64_t message_index) = 0;
  /// The device tracker's state as last committed (crypto_changes::devices), if any.
  [[nodiscard]] virtual std::optional<std::string> tracked_devices() = 0;
  /// Parked events waiting for `session_id`'s key (all parked ones when empty), oldest first.
  [[nodiscard]] virtual std::vector<parked_row> parked(const std::string& session_id = {}) = 0;
  /// A small value kept under `key` besides the tables (when broken Olm sessions were
  /// replaced).
  [[nodiscard]] virtual std::optional<std::string> get(const std::string& key) = 0;
  [[nodiscard]] virtual hm::expected<void> put(const std::string& key,
                                               const std::string& value) = 0;
};

} // namespace hm::matrix::crypto
