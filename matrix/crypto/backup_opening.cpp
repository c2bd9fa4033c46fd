#include "matrix/crypto/backup_opening.hpp"

#include "matrix/crypto/secure_random.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secret_storage.hpp"

namespace hm::matrix::crypto {

backup_opening::backup_opening(std::string user_id, std::string_view recovery_key)
  : user_id_(std::move(user_id)) {
  if (auto key = decode_recovery_key(recovery_key))
    storage_key_.emplace(std::move(key).value());
  else
    bad_recovery_key_ = true;
}

backup_opening::backup_opening(std::shared_ptr<const backup_key> key) : key_(std::move(key)) {}

backup_opening::step backup_opening::fail(std::string why) {
  phase_ = phase::done;
  return failure{std::move(why)};
}

backup_opening::step backup_opening::read(const std::string& type) {
  return perform{get_account_data_request(user_id_, type)};
}

backup_opening::step backup_opening::start() {
  phase_ = phase::version;
  return perform{backup_version_request()};
}

backup_opening::step backup_opening::check() {
  phase_ = phase::done;
  if (auto matches = backup_matches(version_, *key_); !matches) {
    if (matches.error().errcode == errcode_unsupported_backup)
      return failure{"the key backup on the server (version " + version_.version + ") uses "
                     + version_.algorithm + ", not " + std::string{megolm_backup_algorithm}
                     + ": not backing up"};
    return failure{"the key backup on the server (version " + version_.version
                   + ") uses another key: not backing up (rotated by another client?)"};
  }
  return opened{version_};
}

backup_opening::step backup_opening::answer(const result<http_response>& answer) {
  if (!answer && phase_ != phase::done && classify(answer.error()) == error_action::retry) {
    phase_ = phase::done;
    return failure{"cannot open the key backup (" + to_string(answer.error())
                     + "); trying again later",
                   true};
  }
  switch (phase_) {
    case phase::version: {
      if (!answer && answer.error().errcode == "M_NOT_FOUND") {
        phase_ = phase::done;
        return no_backup{};
      }
      if (!answer)
        return fail("cannot read the key backup's version (" + to_string(answer.error()) + ")");
      auto version = parse_backup_version_response(answer.value());
      if (!version)
        return fail("cannot read the key backup's version (" + to_string(version.error()) + ")");
      if (!version.value()) {
        phase_ = phase::done;
        return no_backup{};
      }
      version_ = std::move(*version.value());
      if (key_)
        return check();
      if (bad_recovery_key_)
        return fail("MATRIX_RECOVERY_KEY is not a recovery key (it looks like 'EsT1 H3Wm ...', "
                    "as Element shows it): not backing up");
      phase_ = phase::default_key;
      return read("m.secret_storage.default_key");
    }
    case phase::default_key: {
      auto def = default_key_id(answer);
      if (def.id.empty())
        return fail(def.why + ": not backing up");
      key_id_ = def.id;
      phase_ = phase::key_description;
      return read("m.secret_storage.key." + key_id_);
    }
    case phase::key_description: {
      if (auto why = storage_key_problem(*storage_key_, answer); !why.empty())
        return fail(why + ": not backing up");
      phase_ = phase::backup_secret;
      return read(std::string{megolm_backup_secret});
    }
    case phase::backup_secret: {
      auto stored = account_data_content(answer, "no key backup key in secret storage");
      if (auto* why = std::get_if<std::string>(&stored))
        return fail(*why + ": not backing up");
      auto secret = decrypt_secret(*storage_key_, key_id_, megolm_backup_secret,
                                   std::get<nlohmann::json>(stored));
      auto key = secret ? backup_key::from_secret(secret.value())
                        : result<backup_key>{secret.error()};
      if (secret)
        wipe_memory(secret->data(), secret->size());
      if (!key)
        return fail("the key backup key in secret storage cannot be read with "
                    "MATRIX_RECOVERY_KEY: not backing up");
      key_ = std::make_shared<const backup_key>(std::move(key).value());
      return check();
    }
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
