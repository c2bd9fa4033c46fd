#include "matrix/crypto/own_device_signing.hpp"

#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/own_device_check.hpp"

namespace hm::matrix::crypto {

own_device_signing::own_device_signing(std::string user_id, std::string device_id,
                                       std::string_view recovery_key)
  : user_id_(std::move(user_id)), device_id_(std::move(device_id)) {
  if (auto key = decode_recovery_key(recovery_key))
    storage_key_.emplace(std::move(key).value());
}

own_device_signing::step own_device_signing::fail(const std::string& why) {
  phase_ = phase::done;
  return failure{"cannot cross-sign this device: " + why};
}

own_device_signing::step own_device_signing::read(const std::string& type) {
  return perform{get_account_data_request(user_id_, type)};
}

own_device_signing::step own_device_signing::start() {
  if (!storage_key_)
    return fail("MATRIX_RECOVERY_KEY is not a recovery key (it looks like 'EsT1 H3Wm ...', "
                "as Element shows it)");
  phase_ = phase::default_key;
  return read("m.secret_storage.default_key");
}

own_device_signing::step own_device_signing::answer(const result<http_response>& answer) {
  switch (phase_) {
    case phase::default_key: {
      auto def = default_key_id(answer);
      if (def.id.empty())
        return fail(def.why);
      key_id_ = def.id;
      phase_ = phase::key_description;
      return read("m.secret_storage.key." + key_id_);
    }
    case phase::key_description: {
      if (auto why = storage_key_problem(*storage_key_, answer); !why.empty())
        return fail(why);
      phase_ = phase::self_signing;
      return read("m.cross_signing.self_signing");
    }
    case phase::self_signing: {
      auto stored = account_data_content(answer, "no self-signing key in secret storage");
      if (auto* why = std::get_if<std::string>(&stored))
        return fail(*why);
      auto seed = decrypt_secret(*storage_key_, key_id_, "m.cross_signing.self_signing",
                                 std::get<nlohmann::json>(stored));
      auto ssk = seed ? self_signing_key::from_secret(seed.value())
                      : result<self_signing_key>{seed.error()};
      if (!ssk)
        return fail("the self-signing key in secret storage cannot be read with this key");
      ssk_.emplace(std::move(ssk).value());
      // What the server holds for this device, and the user's published key.
      phase_ = phase::query;
      return perform{own_device_query({user_id_, device_id_})};
    }
    case phase::query: {
      auto body = answer ? parse_bounded_json(answer->body) : std::nullopt;
      if (!body || !body->is_object())
        return fail("/keys/query failed");
      auto published = body->value("/self_signing_keys"_json_pointer / user_id_, nlohmann::json{});
      if (!ssk_->matches(published, user_id_))
        return fail("the self-signing key in secret storage is not the one " + user_id_
                    + " publishes");
      auto device = body->value("/device_keys"_json_pointer / user_id_ / device_id_,
                                nlohmann::json{});
      if (!device.is_object())
        return fail("the server holds no keys for it");
      auto key_id = "ed25519:" + ssk_->public_key();
      if (auto sigs = device.find("signatures"); sigs != device.end() && sigs->is_object()
                                                 && sigs->contains(user_id_)
                                                 && (*sigs)[user_id_].contains(key_id)) {
        phase_ = phase::done;
        return signed_device{false};
      }
      device.erase("unsigned");
      auto signed_keys = ssk_->sign_device(std::move(device), user_id_);
      if (!signed_keys)
        return fail(signed_keys.error().errcode);
      phase_ = phase::upload;
      return perform{
        signatures_upload_request(user_id_, device_id_, std::move(signed_keys).value())};
    }
    case phase::upload: {
      auto parsed = answer ? parse_bounded_json(answer->body) : std::nullopt;
      if (!parsed || !parsed->is_object()
          || !parsed->value("failures", nlohmann::json::object()).empty())
        return fail("the server refused the signature");
      phase_ = phase::done;
      return signed_device{true};
    }
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
