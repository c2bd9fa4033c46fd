#pragma once

// Cross-signing this device with its owner's self-signing key, sans I/O, so that the
// owner's clients show the bot as verified. The key comes from secret storage (SSSS)
// opened with the recovery key: m.secret_storage.default_key names the storage key,
// m.secret_storage.key.<id> proves the recovery key is that key, and
// m.cross_signing.self_signing holds the encrypted seed. The key must be the one the
// server publishes for the user before this device's keys are signed with it. The
// caller performs each request asked for and hands back its answer; nothing here ever
// puts a key into a text.

#include "matrix/crypto/cross_signing.hpp"
#include "matrix/crypto/secret_reading.hpp"
#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace hm::matrix::crypto {

class own_device_signing {
public:
  /// Perform `request` and hand its answer to answer().
  struct perform {
    http_request request;
  };
  /// Done: the device is signed (`newly`: by this run; else it already was).
  /// `master_key`: the user's published master key, when it signed the self-signing key
  /// we hold; a verification MACs it, so that the other side can trust the bot's user.
  struct signed_device {
    bool newly = false;
    std::optional<std::string> master_key;
  };
  /// Not signed; `text` says why, for the operator ("cannot cross-sign this device: ...").
  struct failure {
    std::string text;
  };
  using step = std::variant<perform, signed_device, failure>;

  /// For `user_id`'s device `device_id`, with the recovery key as Element shows it.
  own_device_signing(std::string user_id, std::string device_id, std::string_view recovery_key);

  [[nodiscard]] step start();
  [[nodiscard]] step answer(const result<http_response>& answer);

private:
  enum class phase { secret, query, upload, done };

  step fail(const std::string& why);
  /// Goes on from what reading the self-signing key asks or gives.
  step read(secret_reading::step got);

  std::string user_id_;
  std::string device_id_;
  secret_reading reading_;
  std::optional<self_signing_key> ssk_;
  std::optional<std::string> master_key_;
  phase phase_ = phase::secret;
};

} // namespace hm::matrix::crypto
