#pragma once

// Checking ed25519 signatures on signed JSON (device keys, one-time keys, cross-signing
// keys): spec appendix "Checking for a Signature". Signing is the account's (account.hpp).

#include <string_view>

#include <nlohmann/json.hpp>

#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

/// Verifies that `object` carries signatures[user_id]["ed25519:<key_name>"] made by
/// `ed25519_key` (unpadded base64) over its signable JSON. `key_name` is the device id
/// for device and one-time keys. Error HM_BAD_SIGNATURE when the signature is missing,
/// not base64 of the right size, or does not verify; HM_NOT_CANONICAL_JSON when the
/// object cannot be encoded canonically.
[[nodiscard]] result<empty_response> verify_signature(std::string_view ed25519_key,
                                                      const nlohmann::json& object,
                                                      std::string_view user_id,
                                                      std::string_view key_name);

/// Verifies a raw ed25519 signature over `message` (all unpadded base64 but message).
[[nodiscard]] bool ed25519_verify(std::string_view ed25519_key, std::string_view message,
                                  std::string_view signature);

} // namespace hm::matrix::crypto
