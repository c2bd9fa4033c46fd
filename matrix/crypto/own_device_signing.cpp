#include "matrix/crypto/own_device_signing.hpp"

#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/own_device_check.hpp"

namespace hm::matrix::crypto {

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
    case phase::upload:
      if (!signatures_accepted(answer))
        return fail("the server refused the signature");
      phase_ = phase::done;
      return signed_device{true};
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
