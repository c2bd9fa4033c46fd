#pragma once

// Server-side key backup (spec "Server-side key backups", algorithm
// m.megolm_backup.v1.curve25519-aes-sha2), sans I/O. Every inbound Megolm session is
// encrypted to the backup's curve25519 public key (libolm's PkEncryption: ephemeral key,
// ECDH, HKDF, AES-256-CBC and a truncated HMAC, the scheme Element and matrix-rust-sdk
// use too) and uploaded with clear metadata the server uses to keep the best copy.
// Restoring needs the private key, which Element keeps in secret storage as the secret
// m.megolm_backup.v1 (base64 of 32 bytes).
//
// The way of a backup:
//   1. backup_version_request(), parse_backup_version_response(): the current backup;
//   2. backup_matches() against the key from secret storage: another algorithm or
//      another public key (a backup rotated by another client) is an error value, and
//      the caller logs it and backs nothing up;
//   3. encrypt_session_for_backup() per session, upload_keys_request() per batch;
//   4. on a missing key: session_request(), decrypt_backed_up_session(),
//      import_backed_up_session(); on an empty store: room_keys_request() for all.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/olm_holder.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

struct OlmPkDecryption;
struct OlmPkEncryption;

namespace hm::matrix::crypto {

inline constexpr std::string_view megolm_backup_algorithm =
    "m.megolm_backup.v1.curve25519-aes-sha2";
/// The name of the secret (secret storage) that holds the backup's private key.
inline constexpr std::string_view megolm_backup_secret = "m.megolm_backup.v1";

// ---- keys ------------------------------------------------------------------------------

/// The backup's private key (libolm PkDecryption) and its public key. Move-only; libolm
/// wipes the key when it goes.
class backup_key {
public:
  /// From the secret's text: base64 (padded or not) of the 32-byte private key.
  /// HM_BAD_KEY (never echoing the text) when it is not that.
  [[nodiscard]] static result<backup_key> from_secret(std::string_view base64);
  /// From the 32 raw bytes.
  [[nodiscard]] static result<backup_key> from_private(const secret_bytes& key);

  /// Unpadded base64 of the curve25519 public key, as auth_data.public_key holds it.
  [[nodiscard]] const std::string& public_key() const noexcept { return public_key_; }
  [[nodiscard]] OlmPkDecryption* raw() const noexcept { return holder_.get(); }

private:
  backup_key();
  detail::olm_holder<OlmPkDecryption> holder_;
  std::string public_key_;
};

/// The backup's public key (libolm PkEncryption): all that backing up needs.
class backup_public_key {
public:
  /// HM_BAD_KEY unless `public_key` is base64 of 32 bytes.
  [[nodiscard]] static result<backup_public_key> from_base64(std::string_view public_key);

  [[nodiscard]] const std::string& key() const noexcept { return key_; }
  [[nodiscard]] OlmPkEncryption* raw() const noexcept { return holder_.get(); }

private:
  backup_public_key();
  detail::olm_holder<OlmPkEncryption> holder_;
  std::string key_;
};

// ---- the backup version ----------------------------------------------------------------

/// GET /room_keys/version: the current backup.
struct backup_version {
  std::string version;
  std::string algorithm;
  /// auth_data.public_key; "" when the algorithm is not ours (its auth_data is unknown).
  std::string public_key;
  nlohmann::json auth_data; ///< as the server sent it (with signatures), for verification
  std::int64_t count = 0;   ///< keys stored in the backup
  std::string etag;         ///< changes whenever the stored keys change
};

/// The fields of a backup version object; HM_BAD_RESPONSE naming the field that is
/// missing or of the wrong type.
[[nodiscard]] result<backup_version> parse_backup_version(const nlohmann::json& body);

/// Whether the backup is one we can write to and read with `key`: our algorithm and
/// `key`'s public key. Errors: HM_UNSUPPORTED_BACKUP for another algorithm,
/// HM_BACKUP_KEY_MISMATCH for another public key (a wrong recovery key, or a backup
/// another client replaced). Neither is fatal: the caller logs it and goes on without.
[[nodiscard]] result<empty_response> backup_matches(const backup_version& version,
                                                    const backup_key& key);

// ---- what is backed up -----------------------------------------------------------------

/// The spec's SessionData: what is encrypted per session.
struct backup_session_data {
  std::string sender_key;     ///< curve25519 of the session's creator
  std::string sender_ed25519; ///< sender_claimed_keys.ed25519
  std::vector<std::string> forwarding_chain;
  std::string session_key; ///< the session exported at its first known index: a secret

  /// {algorithm, forwarding_curve25519_key_chain, sender_claimed_keys, sender_key,
  /// session_key}. Holds a secret.
  [[nodiscard]] nlohmann::json to_json() const;
};

/// The encrypted SessionData as libolm's PkEncryption gives it (unpadded base64 each).
struct encrypted_session_data {
  std::string ephemeral;
  std::string ciphertext;
  std::string mac;
};

/// The spec's KeyBackupData: the clear metadata and the encrypted session.
struct key_backup_data {
  std::int64_t first_message_index = 0;
  std::int64_t forwarded_count = 0;
  bool is_verified = false;
  encrypted_session_data session_data;

  [[nodiscard]] nlohmann::json to_json() const;
};

/// HM_BAD_RESPONSE naming the field when `body` is not a KeyBackupData (negative or
/// missing counts, session_data without ephemeral/ciphertext/mac strings).
[[nodiscard]] result<key_backup_data> parse_key_backup_data(const nlohmann::json& body);

/// `plaintext` (a SessionData's JSON) encrypted to the backup's public key.
[[nodiscard]] result<encrypted_session_data> encrypt_for_backup(const backup_public_key& key,
                                                                std::string_view plaintext);

/// `session` encrypted to the backup's public key, exported at its first known index.
/// `is_verified`: whether the caller trusts the device that created the session (the
/// server keeps a verified copy over an unverified one).
[[nodiscard]] result<key_backup_data> encrypt_session_for_backup(const backup_public_key& key,
                                                                 const inbound_group_session& session,
                                                                 bool is_verified);

/// The SessionData in `data`, decrypted with the backup's private key and checked field
/// by field (a hostile server may have put anything there). HM_UNDECRYPTABLE when it does
/// not decrypt (malformed, or another key: libolm's MAC fails), HM_BAD_PAYLOAD when the
/// plaintext is not a Megolm SessionData. libolm's MAC is an HMAC of the empty string (a
/// quirk Element and matrix-rust-sdk keep for compatibility): it proves the key, not the
/// ciphertext, so the field checks here and the session id check on import are what
/// catch a tampered ciphertext. Anyone who knows the public key (the server does) can
/// write a backup entry, and is_verified is the uploader's word: a restored session is
/// no more trusted than a forwarded key.
[[nodiscard]] result<backup_session_data> decrypt_backed_up_session(const backup_key& key,
                                                                    const key_backup_data& data);

/// The inbound session of `room_id`/`session_id` from a decrypted SessionData: the
/// exported key must be the key of `session_id` (HM_BAD_KEY otherwise), so a server
/// cannot file one room's session under another id. Which room it belongs to is the
/// backup's word (the room is not inside the encrypted part); a room event's payload
/// names its room, and decrypt_megolm checks that.
[[nodiscard]] result<inbound_group_session>
import_backed_up_session(std::string_view room_id, std::string_view session_id,
                         const backup_session_data& data);

/// Which of two copies of a session the backup keeps (spec "Server-side key backups"):
/// the verified one; else the one with the lower first_message_index; else the one with
/// the lower forwarded_count; on a tie the existing one.
enum class backup_choice { keep_existing, take_candidate };
[[nodiscard]] backup_choice choose_better(const key_backup_data& existing,
                                          const key_backup_data& candidate);

// ---- requests and answers --------------------------------------------------------------

/// GET /room_keys/version.
[[nodiscard]] http_request backup_version_request();
/// The current backup, or nullopt when the account has none (404 M_NOT_FOUND).
[[nodiscard]] result<std::optional<backup_version>>
parse_backup_version_response(const http_response& r);

/// One session of an upload or a download.
struct backed_up_session {
  std::string room_id;
  std::string session_id;
  key_backup_data data;
};

/// PUT /room_keys/keys?version=V with {rooms: {room: {sessions: {id: KeyBackupData}}}}.
[[nodiscard]] http_request upload_keys_request(std::string_view version,
                                               const std::vector<backed_up_session>& batch);
/// The answer to an upload: the backup's new count and etag. A 403
/// M_WRONG_ROOM_KEYS_VERSION (another client made a new backup) is the error.
struct backup_upload_result {
  std::int64_t count = 0;
  std::string etag;
};
[[nodiscard]] result<backup_upload_result> parse_upload_keys_response(const http_response& r);

/// GET /room_keys/keys/{room}/{session}?version=V: one session.
[[nodiscard]] http_request session_request(std::string_view version, std::string_view room_id,
                                           std::string_view session_id);
/// The session, or nullopt when the backup does not hold it (404 M_NOT_FOUND).
[[nodiscard]] result<std::optional<key_backup_data>>
parse_session_response(const http_response& r);

/// GET /room_keys/keys?version=V: every session in the backup.
[[nodiscard]] http_request room_keys_request(std::string_view version);
/// Every session of a room_keys answer. One malformed entry does not cost the others:
/// it is listed in `malformed` (room, session and why, no key material).
struct backup_download {
  std::vector<backed_up_session> sessions;
  std::vector<std::string> malformed;
};
[[nodiscard]] result<backup_download> parse_room_keys_response(const http_response& r);

} // namespace hm::matrix::crypto
