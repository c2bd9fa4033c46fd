#include "matrix/crypto/backup_opening.hpp"

#include "matrix/crypto/secure_random.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secret_storage.hpp"

namespace hm::matrix::crypto {

backup_opening::backup_opening(std::string user_id, std::string_view recovery_key) {
  reading_.emplace(std::move(user_id), recovery_key, std::string{megolm_backup_secret},
                   "key backup key");
}

backup_opening::backup_opening(std::shared_ptr<const backup_key> key) : key_(std::move(key)) {}

backup_opening::step backup_opening::fail(std::string why) {
  phase_ = phase::done;
  return failure{std::move(why)};
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

backup_opening::step backup_opening::read(secret_reading::step got) {
  if (auto* p = std::get_if<secret_reading::perform>(&got))
    return perform{std::move(p->request)};
  if (auto* f = std::get_if<secret_reading::failure>(&got))
    return fail(f->why + ": not backing up");
  auto& secret = std::get<secret_reading::secret>(got).value;
  auto key = backup_key::from_secret(secret);
  wipe_memory(secret.data(), secret.size());
  if (!key)
    return fail("the key backup key in secret storage is not a key: not backing up");
  key_ = std::make_shared<const backup_key>(std::move(key).value());
  return check();
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
      phase_ = phase::secret;
      return read(reading_->start());
    }
    case phase::secret:
      return read(reading_->answer(answer));
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
