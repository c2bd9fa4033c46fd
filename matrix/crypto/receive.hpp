#pragma once

// Receiving encrypted traffic, sans I/O over a crypto_store: to-device Olm messages
// carrying room keys, and Megolm room events. The crypto actor calls it with the
// profile's SQLite store; unit tests with two libolm accounts and a store in memory.
// Every function commits what it changed in one transaction per event; none logs a key
// or a plaintext.

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/crypto_store.hpp"
#include "matrix/crypto/olm_sessions.hpp"
#include "matrix/events.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hm::matrix::crypto {

/// What one batch's to-device events brought.
struct to_device_result {
  /// Megolm sessions whose keys arrived (parked events waiting for them can be retried).
  std::vector<std::string> new_sessions;
  /// Events dropped, each with a reason without secrets (for the log).
  std::vector<std::string> dropped;
  /// How many of them were encrypted to us and could not be decrypted (for metrics).
  size_t undecryptable = 0;
  /// Devices (sender user, curve25519) whose Olm message no session of ours could
  /// decrypt: the session is broken and a new one should be started (with an m.dummy).
  std::vector<std::pair<std::string, std::string>> broken_sessions;
  /// Decrypted m.key.verification.* events (type, sender and content as the payload
  /// had them), for the device's SAS verifications.
  std::vector<basic_event> verification_events;
};

/// Decrypts the Olm to-device events in `events` (others are ignored) and stores the
/// m.room_key they carry as inbound group sessions, together with the Olm session and
/// the account they changed. An m.forwarded_room_key is taken only from another device
/// of our own user that `own_verified_device` (its curve25519 key) says is one we know
/// and checked: the key's creator is then only as trusted as that device, and anyone
/// else could hand us a key claiming to be from whoever they like. An undecryptable or
/// malformed event is dropped (it is listed); only a store failure is an error (its text).
[[nodiscard]] std::variant<to_device_result, std::string>
receive_to_device(crypto_store& store, const pickle_key& key, account& olm_account,
                  const own_device& self, const std::vector<basic_event>& events,
                  const std::function<bool(const std::string&)>& own_verified_device = {});

/// The outcome of decrypting one m.room.encrypted room event.
struct room_decryption {
  enum class status {
    decrypted,   ///< `event` holds the event as it was before encryption
    missing_key, ///< no session (or no early enough index) yet: park it and ask for the key
    refused,     ///< replay, wrong room, bad MAC, sender does not own the key: drop it
  };
  status what = status::refused;
  /// The decrypted event: the original with type and content replaced.
  nlohmann::json event;
  std::string session_id;
  std::string sender_key;
  std::string reason; ///< for missing_key and refused; never a plaintext
  /// The reason in one word, for metrics: missing_key, not_megolm, wrong_sender,
  /// unreadable_session, replay, undecryptable, bad_payload or other.
  std::string failure;
  /// The replay log entry to commit together with the event's journal outcome.
  std::optional<replay_row> replay;
};

/// Decrypts `ev` (an m.room.encrypted room event of `room_id`) with the stored inbound
/// sessions. `device_owner` says which user a curve25519 key belongs to, as far as we
/// know (nullopt: unknown device; a key known to belong to another user than the sender
/// is refused). The replay log is consulted, not written: the caller commits `replay`.
[[nodiscard]] room_decryption decrypt_room_event(
    crypto_store& store, const pickle_key& key, const std::string& room_id, const room_event& ev,
    const std::function<std::optional<std::string>(const std::string&)>& device_owner);

} // namespace hm::matrix::crypto
