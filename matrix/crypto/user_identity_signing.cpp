#include "matrix/crypto/user_identity_signing.hpp"

#include "matrix/bounded_json.hpp"

namespace hm::matrix::crypto {

user_identity_signing::user_identity_signing(std::string our_user_id,
                                             std::string_view recovery_key,
                                             std::string their_user_id,
                                             std::string their_master_key)
  : our_user_id_(std::move(our_user_id)), their_user_id_(std::move(their_user_id)),
    their_master_key_(std::move(their_master_key)),
    reading_(our_user_id_, recovery_key, std::string{user_signing_secret}, "user-signing key") {
}

user_identity_signing::step user_identity_signing::fail(const std::string& why) {
  phase_ = phase::done;
  return failure{"cannot sign " + their_user_id_ + "'s identity: " + why};
}

user_identity_signing::step user_identity_signing::start() {
  phase_ = phase::secret;
  return read(reading_.start());
}

user_identity_signing::step user_identity_signing::read(secret_reading::step got) {
  if (auto* p = std::get_if<secret_reading::perform>(&got))
    return perform{std::move(p->request)};
  if (auto* f = std::get_if<secret_reading::failure>(&got))
    return fail(f->why);
  auto usk = cross_signing_key::from_secret(std::get<secret_reading::secret>(got).value,
                                            "user_signing");
  if (!usk)
    return fail("the user-signing key in secret storage cannot be read with this key");
  usk_.emplace(std::move(usk).value());
  // Our published user-signing key and their published master key.
  phase_ = phase::query;
  http_request q;
  q.method = http_method::post;
  q.target = std::string{client_v3} + "/keys/query";
  q.body = nlohmann::json{
    {"device_keys", {{our_user_id_, nlohmann::json::array()}, {their_user_id_, nlohmann::json::array()}}}};
  return perform{std::move(q)};
}

user_identity_signing::step user_identity_signing::answer(const result<http_response>& answer) {
  switch (phase_) {
    case phase::secret:
      return read(reading_.answer(answer));
    case phase::query: {
      auto body = answer && answer->status / 100 == 2 ? parse_bounded_json(answer->body)
                                                      : std::nullopt;
      if (!body || !body->is_object())
        return fail("/keys/query failed");
      auto published = body->value("/user_signing_keys"_json_pointer / our_user_id_,
                                   nlohmann::json{});
      if (!usk_->matches(published, our_user_id_))
        return fail("the user-signing key in secret storage is not the one " + our_user_id_
                    + " publishes");
      auto master = body->value("/master_keys"_json_pointer / their_user_id_, nlohmann::json{});
      auto key_id = "ed25519:" + their_master_key_;
      if (!master.is_object() || master.value("user_id", std::string{}) != their_user_id_
          || !master.contains("keys") || !master["keys"].is_object()
          || master["keys"].value(key_id, std::string{}) != their_master_key_)
        return fail("the master key they verified with is not the one the server publishes "
                    "for them");
      auto our_id = "ed25519:" + usk_->public_key();
      if (auto sigs = master.find("signatures"); sigs != master.end() && sigs->is_object()
                                                 && sigs->contains(our_user_id_)
                                                 && (*sigs)[our_user_id_].is_object()
                                                 && (*sigs)[our_user_id_].contains(our_id)) {
        phase_ = phase::done;
        return signed_identity{false};
      }
      master.erase("unsigned");
      auto signed_master = usk_->sign(std::move(master), our_user_id_);
      if (!signed_master)
        return fail(signed_master.error().errcode);
      phase_ = phase::upload;
      return perform{signatures_upload_request(their_user_id_, their_master_key_,
                                               std::move(signed_master).value())};
    }
    case phase::upload:
      if (!signatures_accepted(answer))
        return fail("the server refused the signature");
      phase_ = phase::done;
      return signed_identity{true};
    case phase::done:
      break;
  }
  return fail("an answer came when no request was asked for");
}

} // namespace hm::matrix::crypto
