#include "matrix/crypto/own_device_signing.hpp"

#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/own_device_check.hpp"
#include "matrix/crypto/signatures.hpp"

namespace hm::matrix::crypto {

namespace {

/// The ed25519 key of `user_id`'s published master key, when it signed the published
/// self-signing key `ssk` (the chain a verifier's client checks); nullopt otherwise.
std::optional<std::string> master_key_of(const nlohmann::json& body, const std::string& user_id,
                                         const nlohmann::json& ssk) {
  auto keys = body.value("/master_keys"_json_pointer / user_id / "keys", nlohmann::json{});
  if (!keys.is_object() || keys.size() != 1 || !keys.begin().value().is_string())
    return std::nullopt;
  auto key = keys.begin().value().get<std::string>();
  if (keys.begin().key() != "ed25519:" + key || !verify_signature(key, ssk, user_id, key))
    return std::nullopt;
  return key;
}

} // namespace

own_device_signing::own_device_signing(std::string user_id, std::string device_id,
                                       std::string_view recovery_key)
  : user_id_(std::move(user_id)), device_id_(std::move(device_id)),
    reading_(user_id_, recovery_key, std::string{self_signing_secret}, "self-signing key") {
}

own_device_signing::step own_device_signing::fail(const std::string& why) {
  phase_ = phase::done;
  return failure{"cannot cross-sign this device: " + why};
}

own_device_signing::step own_device_signing::start() {
  phase_ = phase::secret;
  return read(reading_.start());
}

own_device_signing::step own_device_signing::read(secret_reading::step got) {
  if (auto* p = std::get_if<secret_reading::perform>(&got))
    return perform{std::move(p->request)};
  if (auto* f = std::get_if<secret_reading::failure>(&got))
    return fail(f->why);
  auto ssk = self_signing_key::from_secret(std::get<secret_reading::secret>(got).value);
  if (!ssk)
    return fail("the self-signing key in secret storage cannot be read with this key");
  ssk_.emplace(std::move(ssk).value());
  // What the server holds for this device, and the user's published key.
  phase_ = phase::query;
  return perform{own_device_query({user_id_, device_id_})};
}

own_device_signing::step own_device_signing::answer(const result<http_response>& answer) {
  switch (phase_) {
    case phase::secret:
      return read(reading_.answer(answer));
    case phase::query: {
      auto body = answer ? parse_bounded_json(answer->body) : std::nullopt;
      if (!body || !body->is_object())
        return fail("/keys/query failed");
      auto published = body->value("/self_signing_keys"_json_pointer / user_id_, nlohmann::json{});
      if (!ssk_->matches(published, user_id_))
        return fail("the self-signing key in secret storage is not the one " + user_id_
                    + " publishes");
      master_key_ = master_key_of(*body, user_id_, published);
      auto device = body->value("/device_keys"_json_pointer / user_id_ / device_id_,
                                nlohmann::json{});
      if (!device.is_object())
        return fail("the server holds no keys for it");
      auto key_id = "ed25519:" + ssk_->public_key();
      if (auto sigs = device.find("signatures"); sigs != device.end() && sigs->is_object()
                                                 && sigs->contains(user_id_)
                                                 && (*sigs)[user_id_].contains(key_id)) {
        phase_ = phase::done;
        return signed_device{false, master_key_};
      }
      device.erase("unsigned");
      auto signed_keys = ssk_->sign_device(std::move(device), user_id_);
      if (!signed_keys)
        return fail(signed_keys.error().errcode);
      phase_ = phase::upload;
      return perform{
        signatures_upload_request(user_id_, device_id_, std::move(signed_keys).value())};
    }
    case phase::upload:
      if (!signatures_accepted(answer))
        return fail("the server refused the signature");
      phase_ = phase::done;
      return signed_device{true, master_key_};
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
