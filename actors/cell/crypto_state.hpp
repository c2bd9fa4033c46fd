#pragma once

// The crypto actor's state and what its parts share (crypto.cpp: start-up, the Olm
// machine's requests, receiving; crypto_send.cpp: encrypting). Internal to the actors
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
#include "matrix/crypto/olm_machine.hpp"
#include "matrix/crypto/own_device_signing.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/crypto/room_send.hpp"
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
  /// The device's E2EE machine: account, device lists, rooms, key requests, unwedging
  /// (matrix/crypto/olm_machine.hpp); the actor performs the requests it asks for.
  std::optional<crypto::olm_machine> machine;
  /// A timer will let the machine offer its failed requests again (atom::flush).
  bool retry_scheduled = false;
  uint64_t next_call = 1;
  std::deque<encrypt_job> jobs;
  /// The front job's members, while it waits for a device-list query of the machine
  /// to end (the send would find those lists in flight).
  std::optional<std::vector<std::string>> share_waiting;
  /// Cross-signing of this device was tried in this life (once: its outcome is logged).
  bool cross_signing_tried = false;
  /// That cross-signing, while its requests are under way.
  std::optional<crypto::own_device_signing> signing;
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

/// Performs the requests the Olm machine asks for now, handing it each answer (and
/// acting on what the answer decides), until it asks for nothing more.
void perform_outgoing(crypto_pointer self);

/// Ends the actor with what a failed machine operation says (store_failed when the
/// store refused a commit, internal otherwise).
void quit_on(crypto_pointer self, const matrix::matrix_error& err);

/// Logs the machine's notes.
void log_notes(crypto_pointer self, const std::vector<crypto::machine_note>& notes);

/// Publishes what the store holds (parked events, Megolm sessions) to the metrics.
void publish_store_counts(crypto_pointer self);

/// With MATRIX_RECOVERY_KEY: reads the self-signing key from secret storage and signs
/// this device with it, unless the server already holds that signature; once per life,
/// after the device keys are on the server (crypto_cross_signing.cpp).
void cross_sign_device(crypto_pointer self);

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
/// A device-list query of the machine ended: the job waiting for it shares its key.
void resume_share(crypto_pointer self);
/// Whether `room_id` is encrypted: m.room.encryption in its state (asked once, then
/// remembered; encryption cannot be turned off in a room). `fail` gets the error when
/// the state cannot be read.
void room_encryption(crypto_pointer self, const std::string& room_id,
                     std::function<void(bool)> then,
                     std::function<void(const matrix::matrix_error&)> fail);

} // namespace hm::crypto_detail
