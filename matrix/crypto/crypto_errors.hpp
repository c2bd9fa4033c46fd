#pragma once

// Errors of the crypto layer, carried in the same result<T>/matrix_error as the rest of
// matrix/ (http_status 0: nothing came over HTTP). Texts name what failed and, for
// libolm failures, libolm's error code ("BAD_MESSAGE_MAC"); never a key, a pickle, a
// plaintext or a ciphertext.

#include <string>
#include <string_view>

#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

// "HM_" codes, apart from the spec's "M_" ones (see matrix/errors.hpp).
inline constexpr std::string_view errcode_not_canonical = "HM_NOT_CANONICAL_JSON";
inline constexpr std::string_view errcode_bad_pickle_key = "HM_BAD_PICKLE_KEY";
inline constexpr std::string_view errcode_bad_pickle = "HM_BAD_PICKLE";
inline constexpr std::string_view errcode_no_randomness = "HM_NO_RANDOMNESS";
inline constexpr std::string_view errcode_bad_signature = "HM_BAD_SIGNATURE";
inline constexpr std::string_view errcode_bad_key = "HM_BAD_KEY";         // malformed key object
inline constexpr std::string_view errcode_olm = "HM_OLM";                 // other libolm failure
inline constexpr std::string_view errcode_undecryptable = "HM_UNDECRYPTABLE";
inline constexpr std::string_view errcode_bad_payload = "HM_BAD_PAYLOAD"; // decrypted, but wrong
inline constexpr std::string_view errcode_replay = "HM_REPLAY";
inline constexpr std::string_view errcode_unknown_index = "HM_UNKNOWN_MESSAGE_INDEX";
// Key backup: the server's backup is not one we can use with the key we hold.
inline constexpr std::string_view errcode_unsupported_backup = "HM_UNSUPPORTED_BACKUP";
inline constexpr std::string_view errcode_backup_key_mismatch = "HM_BACKUP_KEY_MISMATCH";
// The crypto store refused a commit (its text says why; the caller stops the profile).
inline constexpr std::string_view errcode_store_failed = "HM_STORE_FAILED";

/// A matrix_error with http_status 0 and the given code. `what` must hold no secret.
[[nodiscard]] matrix_error crypto_error(std::string_view errcode, std::string what);

} // namespace hm::matrix::crypto
