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

class self_signing_key {
public:
  /// From the secret as stored (unpadded or padded base64 of the 32-byte seed).
  /// HM_BAD_KEY when it is not one.
  [[nodiscard]] static result<self_signing_key> from_secret(std::string_view secret);

  /// The public key (unpadded base64): must equal the one in the user's
  /// self_signing_key from /keys/query before anything is signed with it.
  [[nodiscard]] const std::string& public_key() const noexcept { return public_key_; }

  /// Whether `cross_signing_key` (a self_signing_key object from /keys/query) is this
  /// key for `user_id`.
  [[nodiscard]] bool matches(const nlohmann::json& cross_signing_key,
                             std::string_view user_id) const;

  /// `device_keys` (this device's signed device keys) with this key's signature added
  /// under signatures[user_id]["ed25519:<public key>"].
  [[nodiscard]] result<nlohmann::json> sign_device(nlohmann::json device_keys,
                                                   std::string_view user_id) const;

private:
  self_signing_key();
  detail::olm_holder<OlmPkSigning> holder_;
  std::string public_key_;
};

/// POST /keys/signatures/upload with `signed_device_keys` for our own device.
[[nodiscard]] http_request signatures_upload_request(std::string_view user_id,
                                                     std::string_view device_id,
                                                     nlohmann::json signed_device_keys);

} // namespace hm::matrix::crypto
