#pragma once

// Reading one secret from secret storage (SSSS) with the recovery key, sans I/O:
// m.secret_storage.default_key names the storage key, m.secret_storage.key.<id> proves
// the recovery key is that key, and the secret's own account data holds it encrypted.
// Cross-signing this device (own_device_signing: the self-signing key) and signing
// another user's identity (user_identity_signing: the user-signing key) both start so.
// Nothing here puts a key into a text.

#include "matrix/crypto/secret_storage.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <optional>
#include <string>
#include <variant>

namespace hm::matrix::crypto {

class secret_reading {
public:
  /// Perform `request` and hand its answer to answer().
  struct perform {
    http_request request;
  };
  /// The secret, decrypted (for a key: its base64 text).
  struct secret {
    std::string value;
  };
  /// Not read; `why` says why, for the operator.
  struct failure {
    std::string why;
  };
  using step = std::variant<perform, secret, failure>;

  /// `user_id`'s secret `name` ("m.cross_signing.user_signing"), `what` naming it in
  /// failures ("user-signing key"), with the recovery key as Element shows it.
  secret_reading(std::string user_id, std::string_view recovery_key, std::string name,
                 std::string what);

  [[nodiscard]] step start();
  [[nodiscard]] step answer(const result<http_response>& answer);

private:
  enum class phase { default_key, key_description, secret, done };

  step read(const std::string& type);

  std::string user_id_;
  std::string name_;
  std::string what_;
  std::optional<secret_bytes> storage_key_; ///< nullopt: the recovery key was unreadable
  std::string key_id_;
  phase phase_ = phase::default_key;
};

} // namespace hm::matrix::crypto
