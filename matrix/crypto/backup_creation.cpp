#include "matrix/crypto/backup_creation.hpp"

#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/secret_storage.hpp"

namespace hm::matrix::crypto {

http_request create_backup_version_request(const nlohmann::json& body) {
  http_request r;
  r.method = http_method::post;
  r.target = "/_matrix/client/v3/room_keys/version";
  r.body = body;
  return r;
}

backup_creation::backup_creation(std::string user_id, std::string device_id,
                                 const account& olm_account)
  : user_id_(std::move(user_id)), device_id_(std::move(device_id)), account_(&olm_account) {}

backup_creation::step backup_creation::fail(std::string why) {
  phase_ = phase::done;
  wipe_memory(recovery_key_.data(), recovery_key_.size());
  return failure{"cannot create a key backup: " + std::move(why)};
}

backup_creation::step backup_creation::start() {
  phase_ = phase::version;
  return perform{backup_version_request()};
}

backup_creation::step backup_creation::make_keys() {
  secret_bytes storage_key{32};
  secret_bytes backup_private{32};
  secret_bytes id_bytes{18};
  if (!fill_random(storage_key.data(), storage_key.size())
      || !fill_random(backup_private.data(), backup_private.size())
      || !fill_random(id_bytes.data(), id_bytes.size()))
    return fail("the system has no source of randomness");
  auto key = backup_key::from_private(backup_private);
  if (!key)
    return fail("libolm cannot make a backup key");
  key_ = std::make_shared<const backup_key>(std::move(key).value());
  // A key id as Element makes them: random, URL-safe.
  auto key_id = base64url_encode_unpadded(std::string_view{
    reinterpret_cast<const char*>(id_bytes.data()), id_bytes.size()});
  auto check = encrypt_secret(storage_key, "", std::string(32, '\0'));
  auto secret_text = base64_encode_unpadded(backup_private.data(), backup_private.size());
  auto stored = encrypt_secret(storage_key, megolm_backup_secret, secret_text);
  wipe_memory(secret_text.data(), secret_text.size());
  if (!check || !stored)
    return fail("cannot encrypt the backup key for secret storage");
  nlohmann::json auth_data = {{"public_key", key_->public_key()}};
  auto signed_auth = account_->sign_json(auth_data, user_id_, device_id_);
  if (!signed_auth)
    return fail("cannot sign the backup's auth_data");
  writes_ = {
    {"m.secret_storage.key." + key_id,
     {{"algorithm", std::string{secret_storage_algorithm}},
      {"name", "hermes-matrix"},
      {"iv", check.value()["iv"]},
      {"mac", check.value()["mac"]}}},
    {std::string{megolm_backup_secret}, {{"encrypted", {{key_id, stored.value()}}}}},
    {"m.secret_storage.default_key", {{"key", key_id}}},
  };
  version_body_ = {{"algorithm", std::string{megolm_backup_algorithm}},
                   {"auth_data", std::move(signed_auth).value()}};
  recovery_key_ = encode_recovery_key(storage_key);
  phase_ = phase::keeping;
  return keep_recovery_key{recovery_key_};
}

backup_creation::step backup_creation::kept() {
  if (phase_ != phase::keeping)
    return fail("kept() was called when no recovery key was to be kept");
  wipe_memory(recovery_key_.data(), recovery_key_.size());
  recovery_key_.clear();
  phase_ = phase::writing;
  return next_write();
}

backup_creation::step backup_creation::next_write() {
  if (!writes_.empty()) {
    auto [type, content] = std::move(writes_.front());
    writes_.erase(writes_.begin());
    return perform{put_account_data_request(user_id_, type, content)};
  }
  phase_ = phase::version_created;
  return perform{create_backup_version_request(version_body_)};
}

backup_creation::step backup_creation::answer(const result<http_response>& answer) {
  switch (phase_) {
    case phase::version: {
      if (answer) {
        phase_ = phase::done;
        return declined{"the account has a key backup already; set MATRIX_RECOVERY_KEY to "
                        "back up to it"};
      }
      if (answer.error().errcode != "M_NOT_FOUND")
        return fail("cannot read the key backup's version (" + to_string(answer.error()) + ")");
      phase_ = phase::default_key;
      return perform{get_account_data_request(user_id_, "m.secret_storage.default_key")};
    }
    case phase::default_key: {
      if (answer) {
        phase_ = phase::done;
        return declined{"the account has secret storage already (set up by another "
                        "client); set MATRIX_RECOVERY_KEY to its recovery key, or make the "
                        "backup there"};
      }
      if (answer.error().errcode != "M_NOT_FOUND")
        return fail("cannot read the account's secret storage (" + to_string(answer.error())
                    + ")");
      return make_keys();
    }
    case phase::writing: {
      if (!answer)
        return fail("cannot write the account data (" + to_string(answer.error()) + ")");
      return next_write();
    }
    case phase::version_created: {
      if (!answer)
        return fail("cannot create the backup version (" + to_string(answer.error()) + ")");
      auto body = parse_bounded_json(answer->body);
      auto version = body && body->is_object() ? body->value("version", std::string{})
                                               : std::string{};
      if (version.empty())
        return fail("the server's answer names no version");
      phase_ = phase::done;
      backup_version v;
      v.version = version;
      v.algorithm = std::string{megolm_backup_algorithm};
      v.public_key = key_->public_key();
      v.auth_data = version_body_["auth_data"];
      return created{std::move(v)};
    }
    case phase::keeping:
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
