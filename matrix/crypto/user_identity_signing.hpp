#pragma once

// Signing another user's identity after verifying them, sans I/O: with our user's
// user-signing key (secret m.cross_signing.user_signing in secret storage, read with
// MATRIX_RECOVERY_KEY) the bot signs the master key the person MACed in an SAS
// verification, and uploads the signature (/keys/signatures/upload), so that clients of
// our user show the person as verified by the bot's owner. The user-signing key must be
// the one our user publishes, and the master key the one the server publishes for them.
// The caller performs each request asked for and hands back its answer; nothing here
// puts a key into a text.

#include "matrix/crypto/cross_signing.hpp"
#include "matrix/crypto/own_device_signing.hpp"
#include "matrix/crypto/secret_reading.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <optional>
#include <string>
#include <variant>

namespace hm::matrix::crypto {

inline constexpr std::string_view user_signing_secret = "m.cross_signing.user_signing";

class user_identity_signing {
public:
  /// Perform `request` and hand its answer to answer().
  using perform = own_device_signing::perform;
  /// Done: their master key is signed (`newly`: by this run; else it already was).
  struct signed_identity {
    bool newly = false;
  };
  /// Not signed; `text` says why, for the operator.
  using failure = own_device_signing::failure;
  using step = std::variant<perform, signed_identity, failure>;

  /// `our_user_id` signs `their_user_id`'s master key `their_master_key` (unpadded
  /// base64, as verified), with the recovery key as Element shows it.
  user_identity_signing(std::string our_user_id, std::string_view recovery_key,
                        std::string their_user_id, std::string their_master_key);

  [[nodiscard]] step start();
  [[nodiscard]] step answer(const result<http_response>& answer);

private:
  enum class phase { secret, query, upload, done };

  step fail(const std::string& why);
  step read(secret_reading::step got);

  std::string our_user_id_;
  std::string their_user_id_;
  std::string their_master_key_;
  secret_reading reading_;
  std::optional<cross_signing_key> usk_;
  phase phase_ = phase::secret;
};

} // namespace hm::matrix::crypto
