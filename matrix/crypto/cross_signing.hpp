#pragma once

// Cross-signing this device: with the user's self-signing key (read from secret storage
// with the recovery key), sign the device's keys and upload the signature, so that the
// user's other clients show the bot's device as verified.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "matrix/crypto/olm_holder.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

struct OlmPkSigning;

namespace hm::matrix::crypto {

/// A private cross-signing key of our user: the self-signing key (signs our devices)
/// or the user-signing key (signs other users' master keys).
class cross_signing_key {
public:
  /// From the secret as stored (unpadded or padded base64 of the 32-byte seed), for
  /// `usage` ("self_signing" or "user_signing"). HM_BAD_KEY when it is not one.
  [[nodiscard]] static result<cross_signing_key> from_secret(std::string_view secret,
                                                             std::string_view usage = "self_signing");

  /// The public key (unpadded base64): must equal the one the user publishes for this
  /// usage (/keys/query) before anything is signed with it.
  [[nodiscard]] const std::string& public_key() const noexcept { return public_key_; }

  /// Whether `cross_signing_key` (a self_signing_key or user_signing_key object from
  /// /keys/query) is this key, for this usage, of `user_id`.
  [[nodiscard]] bool matches(const nlohmann::json& cross_signing_key,
                             std::string_view user_id) const;

  /// `object` (this device's signed device keys, another user's master key) with this
  /// key's signature added under signatures[user_id]["ed25519:<public key>"].
  [[nodiscard]] result<nlohmann::json> sign(nlohmann::json object,
                                            std::string_view user_id) const;
  [[nodiscard]] result<nlohmann::json> sign_device(nlohmann::json device_keys,
                                                   std::string_view user_id) const {
    return sign(std::move(device_keys), user_id);
  }

private:
  cross_signing_key();
  detail::olm_holder<OlmPkSigning> holder_;
  std::string public_key_;
  std::string usage_;
};

using self_signing_key = cross_signing_key;

/// POST /keys/signatures/upload with `signed_device_keys` for our own device (or, for
/// another user's master key, `user_id` theirs and `device_id` the key's public part).
[[nodiscard]] http_request signatures_upload_request(std::string_view user_id,
                                                     std::string_view device_id,
                                                     nlohmann::json signed_device_keys);

/// Whether the answer to a signatures_upload_request took every signature (a 2xx
/// without failures).
[[nodiscard]] bool signatures_accepted(const result<http_response>& answer);

} // namespace hm::matrix::crypto
