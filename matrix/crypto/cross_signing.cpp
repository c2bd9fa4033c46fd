#include "matrix/crypto/cross_signing.hpp"

#include <olm/olm.h>
#include <olm/pk.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/secret_storage.hpp"
#include "matrix/crypto/canonical_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secure_random.hpp"

namespace hm::matrix::crypto {

cross_signing_key::cross_signing_key()
    : holder_(olm_pk_signing_size(), olm_pk_signing, olm_clear_pk_signing) {}

result<cross_signing_key> cross_signing_key::from_secret(std::string_view secret,
                                                       std::string_view usage) {
  auto seed = decode_secret_key(secret, olm_pk_signing_seed_length());
  if (!seed)
    return hm::unexpected{crypto_error(errcode_bad_key, "the cross-signing secret is not a 32-byte key")};
  cross_signing_key k;
  k.usage_ = std::string{usage};
  std::string pub(olm_pk_signing_public_key_length(), '\0');
  auto r = olm_pk_signing_key_from_seed(k.holder_.get(), pub.data(), pub.size(), seed->data(),
                                        seed->size());
  if (r == olm_error())
    return hm::unexpected{crypto_error(errcode_olm, std::string{"loading the cross-signing key failed: "} +
                                         olm_pk_signing_last_error(k.holder_.get()))};
  k.public_key_ = std::move(pub);
  return k;
}

bool cross_signing_key::matches(const nlohmann::json& csk, std::string_view user_id) const {
  if (string_field(csk, "user_id") != std::string{user_id})
    return false;
  const auto* usage = array_field(csk, "usage");
  bool for_usage = false;
  if (usage != nullptr)
    for (const auto& u : *usage)
      for_usage = for_usage || u == usage_;
  const auto* keys = object_field(csk, "keys");
  return for_usage && keys != nullptr &&
         string_field(*keys, "ed25519:" + public_key_) == public_key_;
}

result<nlohmann::json> cross_signing_key::sign(nlohmann::json device_keys,
                                               std::string_view user_id) const {
  auto signable = signable_json(device_keys);
  if (!signable)
    return hm::unexpected{signable.error()};
  std::string sig(olm_pk_signature_length(), '\0');
  const auto& msg = signable.value();
  auto n = olm_pk_sign(holder_.get(), reinterpret_cast<const std::uint8_t*>(msg.data()),
                       msg.size(), reinterpret_cast<std::uint8_t*>(sig.data()), sig.size());
  if (n == olm_error())
    return hm::unexpected{crypto_error(errcode_olm, std::string{"cross-signing failed: "} +
                                         olm_pk_signing_last_error(holder_.get()))};
  sig.resize(n);
  try {
    auto& sigs = device_keys["signatures"];
    if (!sigs.is_object())
      sigs = nlohmann::json::object();
    sigs[std::string{user_id}]["ed25519:" + public_key_] = std::move(sig);
  } catch (const std::exception&) {
    return hm::unexpected{crypto_error(errcode_olm, "cross-signing: the signatures member is malformed")};
  }
  return device_keys;
}

http_request signatures_upload_request(std::string_view user_id, std::string_view device_id,
                                       nlohmann::json signed_device_keys) {
  http_request r;
  r.method = http_method::post;
  r.target = std::string{client_v3} + "/keys/signatures/upload";
  nlohmann::json body;
  body[std::string{user_id}][std::string{device_id}] = std::move(signed_device_keys);
  r.body = std::move(body);
  return r;
}

bool signatures_accepted(const result<http_response>& answer) {
  auto parsed = answer && answer->status / 100 == 2 ? parse_bounded_json(answer->body)
                                                    : std::nullopt;
  return parsed && parsed->is_object()
         && parsed->value("failures", nlohmann::json::object()).empty();
}

} // namespace hm::matrix::crypto
