#pragma once

// Creating a key backup the way Element does when a user sets up secure backup, sans
// I/O (MATRIX_KEY_BACKUP=create, no MATRIX_RECOVERY_KEY): a new secret storage key
// (m.secret_storage.key.<id> with its MAC check, made the default with
// m.secret_storage.default_key), the backup's private key stored in it as the secret
// m.megolm_backup.v1, and a backup version (m.megolm_backup.v1.curve25519-aes-sha2)
// whose auth_data carries this device's signature. Only for an account that has
// neither a backup nor secret storage: replacing a user's default key would hide the
// secrets stored under it from their other clients. The recovery key is handed to the
// caller to keep (a file) before anything reaches the server, so a crash never leaves
// a backup whose key is lost.

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/key_backup.hpp"
#include "matrix/crypto/secure_random.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hm::matrix::crypto {

class backup_creation {
public:
  /// Perform `request` and hand its answer to answer().
  struct perform {
    http_request request;
  };
  /// Keep `recovery_key` (a secret: never log it) where the user finds it, then call
  /// kept(). Nothing is on the server yet.
  struct keep_recovery_key {
    std::string recovery_key;
  };
  /// Done: back up to `version` with key().
  struct created {
    backup_version version;
  };
  /// Nothing created: the account has a backup or secret storage already (`text`
  /// says which and what to do).
  struct declined {
    std::string text;
  };
  struct failure {
    std::string text;
  };
  using step = std::variant<perform, keep_recovery_key, created, declined, failure>;

  /// For `user_id`'s device `device_id`, whose `olm_account` signs the backup's
  /// auth_data (it must outlive this object).
  backup_creation(std::string user_id, std::string device_id, const account& olm_account);

  [[nodiscard]] step start();
  [[nodiscard]] step answer(const result<http_response>& answer);
  /// The recovery key is kept: the account data and the backup version are written.
  [[nodiscard]] step kept();
  [[nodiscard]] std::shared_ptr<const backup_key> key() const { return key_; }

private:
  enum class phase { version, default_key, keeping, writing, version_created, done };

  step fail(std::string why);
  step make_keys();
  step next_write();

  std::string user_id_;
  std::string device_id_;
  const account* account_;
  std::shared_ptr<const backup_key> key_;
  std::string recovery_key_;
  /// The account data to write, in order (the default key last: a client never sees a
  /// default key whose description is not there yet), then the version's body.
  std::vector<std::pair<std::string, nlohmann::json>> writes_;
  nlohmann::json version_body_;
  phase phase_ = phase::version;
};

/// POST /room_keys/version with {algorithm, auth_data}.
[[nodiscard]] http_request create_backup_version_request(const nlohmann::json& body);

} // namespace hm::matrix::crypto
