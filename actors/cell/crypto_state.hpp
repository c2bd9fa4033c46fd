#pragma once

// The crypto actor's state and what its parts share (crypto.cpp: start-up, keys,
// receiving; crypto_send.cpp: sharing room keys and encrypting). Internal to the actors
// library.

#include "actors/cell/crypto.hpp"
#include "store/profile_store.hpp"
#include "matrix/crypto/account.hpp"
#include "matrix/crypto/backup_creation.hpp"
#include "matrix/crypto/backup_opening.hpp"
#include "matrix/crypto/key_backup.hpp"
#include "matrix/crypto/receive.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/own_device_signing.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/crypto/room_registry.hpp"
#include "matrix/crypto/room_send.hpp"
#include "matrix/crypto/unwedging.hpp"
#include "matrix/crypto/user_identity_signing.hpp"
#include "matrix/crypto/verification_flows.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace hm::crypto_detail {

namespace crypto = matrix::crypto;

/// How long to wait before asking the server again after a failed key request.
constexpr auto retry_after = std::chrono::seconds{5};

/// One encryption the outbox asked for; they run one at a time, in order, so that the
/// device tracker and a room's outbound session never see two of them interleaved.
struct encrypt_job {
  std::string room_id;
  std::string event_type;
  nlohmann::json content;
  caf::typed_response_promise<event_to_send> promise;
};

/// A room event whose Megolm key is missing, waiting for the key backup to open (it is
/// asked there first, then other devices).
struct missing_room_key {
  std::string room_id;
  matrix::room_event event;
  crypto::room_decryption decryption;
};

/// The server-side key backup (crypto_backup.cpp).
struct key_backup_state {
  /// While the backup is being opened (its version, the key from secret storage).
  std::optional<crypto::backup_opening> opening;
  /// While a backup is being created (MATRIX_KEY_BACKUP=create).
  std::optional<crypto::backup_creation> creating;
  std::shared_ptr<const crypto::backup_key> key;
  std::optional<crypto::backup_public_key> public_key;
  std::string version; ///< the backup we write to; "" : not backing up
  bool upload_in_flight = false;
  bool retry_scheduled = false;
  /// Opening failed because the homeserver could not answer: it is tried again.
  bool reopen_later = false;
  /// The store started empty (a new Olm account): the whole backup is restored once open.
  bool restore_all = false;
  /// Megolm sessions asked from the backup in this life (each once).
  std::set<std::string> asked;
  /// Missing keys that came while the backup was being opened.
  std::vector<missing_room_key> waiting;
};

/// The cell's context (link, store, whose device this is, log, metrics, the cell) and
/// the device's own state.
struct crypto_state : cell_context {
  crypto_config config;
  std::optional<crypto::pickle_key> key;
  std::optional<crypto::account> account;
  /// /keys/query has told us what the server holds for this device.
  bool identity_checked = false;
  /// The server holds this device's keys (they are ours: checked, or uploaded by us).
  /// Set once per life, when the cell is told (atom::published).
  bool device_keys_on_server = false;
  bool upload_in_flight = false;
  bool retry_scheduled = false;
  /// signed_curve25519 one-time keys the server holds, as last told (sync or upload).
  std::optional<int64_t> server_one_time_keys;
  std::optional<std::vector<std::string>> unused_fallback_key_types;
  uint64_t next_call = 1;
  /// Users we share encrypted rooms with and their verified devices (stored with every
  /// change; the sync after a restart brings what changed meanwhile, and a fresh sync
  /// marks every list outdated).
  crypto::device_tracker tracker;
  /// Which rooms are encrypted, their rotation policies and joined members.
  crypto::room_registry rooms;
  std::deque<encrypt_job> jobs;
  /// The room send of the job at the front, once its members are known.
  std::optional<crypto::room_send> sending;
  /// Cross-signing of this device was tried in this life (once: its outcome is logged).
  bool cross_signing_tried = false;
  /// That cross-signing, while its requests are under way.
  std::optional<crypto::own_device_signing> signing;
  /// Megolm sessions we asked other devices for in this life → who was asked (the
  /// sender, and its device when known), to cancel the request once the key is here.
  std::map<std::string, std::pair<std::string, std::optional<std::string>>> requested_sessions;
  /// When broken Olm sessions were last replaced, by device (from the store on first use).
  std::optional<crypto::unwedging> unwedging;
  key_backup_state backup;
  /// The SAS verifications with this device (crypto_verification.cpp).
  crypto::verification_flows verifications;
  /// The timer that cancels verifications older than 10 minutes is set.
  bool verification_timer = false;
  /// Signing a verified user's master key (one at a time; the others wait in order).
  std::optional<crypto::user_identity_signing> identity_signing;
  std::deque<std::pair<std::string, std::string>> identities_to_sign;
  /// Our user's master key, once cross-signing showed it signed our self-signing key:
  /// our verification MACs carry it, so that the person's client can trust the bot's
  /// user (and Element shows the bot verified, not only its device).
  std::optional<std::string> own_master_key;
  static inline const char* name = "crypto";
};

using crypto_pointer = crypto_actor::stateful_pointer<crypto_state>;


/// Unix time in milliseconds (Megolm session ages).
[[nodiscard]] int64_t unix_now_ms();

/// Pickles the account and commits it; false (and the actor quits) when that fails.
bool commit_account(crypto_pointer self);

/// Commits the device tracker's users (so that a restart still knows every device's
/// keys, and refuses a device whose ed25519 key changed); false (and the actor quits)
/// when that fails.
bool save_tracker(crypto_pointer self);


/// Publishes what the store holds (parked events, Megolm sessions) to the metrics.
void publish_store_counts(crypto_pointer self);

/// Records the one-time key count the server stated (state and metrics).
void set_server_one_time_keys(crypto_pointer self, int64_t count);

/// Replaces the broken Olm session with `curve25519`'s device (of `user_id`): a new
/// session from a claimed one-time key, announced with an encrypted m.dummy so that the
/// other side starts using it; at most once an hour per device (crypto_unwedge.cpp).
void replace_broken_session(crypto_pointer self, const std::string& user_id,
                            const std::string& curve25519);

/// With MATRIX_RECOVERY_KEY: reads the self-signing key from secret storage and signs
/// this device with it, unless the server already holds that signature; once per life,
/// after the device keys are on the server (crypto_cross_signing.cpp).
void cross_sign_device(crypto_pointer self);

/// Asks our other devices and the sending device for the key of a parked event (once
/// per session in this life).
void request_room_key(crypto_pointer self, const std::string& room_id,
                      const matrix::room_event& ev, const crypto::room_decryption& dec);
/// Tells the devices asked for `session_id`'s key that it is here.
void cancel_key_request(crypto_pointer self, const std::string& session_id);

/// With MATRIX_RECOVERY_KEY (or the recovery key file of a backup it created): opens the
/// account's key backup (its version, the key from secret storage); with
/// MATRIX_KEY_BACKUP=create and neither, creates one. Logs the outcome once; never
/// fatal (crypto_backup.cpp).
void open_key_backup(crypto_pointer self);
/// Uploads the stored Megolm sessions not yet in the backup, a batch at a time (one
/// upload at a time; a failed one is retried later).
void back_up_room_keys(crypto_pointer self);
/// The key of a parked event is missing: asked from the backup first (when there is
/// one), then from other devices.
void find_room_key(crypto_pointer self, const std::string& room_id, const matrix::room_event& ev,
                   const crypto::room_decryption& dec);

/// A verification event that came to-device (as sent, or decrypted from Olm): to its
/// flow, a new flow, declined or ignored (crypto_verification.cpp).
void take_to_device_verification(crypto_pointer self, const matrix::basic_event& ev);
/// The same for an admitted in-room verification event.
void take_room_verification(crypto_pointer self, const room_verification& rv);
/// The operator's word on a verification; what became of it, in words.
caf::result<std::string> act_on_verification(crypto_pointer self, const verification_action& a);
/// Cancels (m.timeout) the verifications older than the spec's 10 minutes.
void check_verification_timeouts(crypto_pointer self);

/// With MATRIX_RECOVERY_KEY: signs `user_id`'s master key `master_key` (verified by
/// SAS) with our user-signing key and uploads the signature (crypto_cross_signing.cpp).
void sign_user_identity(crypto_pointer self, const std::string& user_id,
                        const std::string& master_key);

/// Starts the next queued encryption job, if any (crypto_send.cpp).
void next_job(crypto_pointer self);
/// Whether `room_id` is encrypted: m.room.encryption in its state (asked once, then
/// remembered; encryption cannot be turned off in a room). `fail` gets the error when
/// the state cannot be read.
void room_encryption(crypto_pointer self, const std::string& room_id,
                     std::function<void(bool)> then,
                     std::function<void(const matrix::matrix_error&)> fail);

} // namespace hm::crypto_detail
