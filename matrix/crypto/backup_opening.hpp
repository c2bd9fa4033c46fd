#pragma once

// Opening the account's key backup with the recovery key, sans I/O: GET
// /room_keys/version (none: nothing to do), then the backup's private key from secret
// storage as Element keeps it (m.secret_storage.default_key names the storage key,
// m.secret_storage.key.<id> proves the recovery key is that key, m.megolm_backup.v1
// holds the backup key), and backup_matches(). A backup the recovery key cannot open,
// or one rotated by another client, is a failure the caller logs; it is never fatal.
// The caller performs each request asked for and hands back its answer; no key ever
// reaches a text.

#include "matrix/crypto/key_backup.hpp"
#include "matrix/crypto/secret_reading.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hm::matrix::crypto {

class backup_opening {
public:
  /// Perform `request` and hand its answer to answer().
  struct perform {
    http_request request;
  };
  /// The backup is ours: back up to `version` with key().
  struct opened {
    backup_version version;
  };
  /// The account has no key backup.
  struct no_backup {};
  /// Not backing up; `text` says why, for the operator. `transient`: the homeserver
  /// could not answer (network, 5xx, 429): worth trying again later.
  struct failure {
    std::string text;
    bool transient = false;
  };
  using step = std::variant<perform, opened, no_backup, failure>;

  /// With the recovery key as Element shows it; the backup key comes from secret storage.
  backup_opening(std::string user_id, std::string_view recovery_key);
  /// With the backup key already read (the backup's version is asked again, e.g. after
  /// the server said M_WRONG_ROOM_KEYS_VERSION).
  explicit backup_opening(std::shared_ptr<const backup_key> key);

  [[nodiscard]] step start();
  [[nodiscard]] step answer(const result<http_response>& answer);
  /// The backup key once read (shared, so that a later re-opening needs no recovery key).
  [[nodiscard]] std::shared_ptr<const backup_key> key() const { return key_; }

private:
  enum class phase { version, secret, done };

  step fail(std::string why);
  step read(secret_reading::step got);
  step check();

  /// The backup key from secret storage; nullopt when the key is given.
  std::optional<secret_reading> reading_;
  std::shared_ptr<const backup_key> key_;
  backup_version version_;
  phase phase_ = phase::version;
};

} // namespace hm::matrix::crypto
