#include "matrix/crypto/account.hpp"

#include <cstring>
#include <string>

#include <olm/olm.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/canonical_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secure_random.hpp"

namespace hm::matrix::crypto {

namespace {

matrix_error olm_failure(OlmAccount* a, std::string_view what) {
  return crypto_error(errcode_olm,
                      std::string{what} + " failed: " + olm_account_last_error(a));
}

// libolm writes its key lists as JSON; ours to read, but read as untrusted anyway.
std::map<std::string, std::string> curve_keys_of(const std::string& text) {
  std::map<std::string, std::string> out;
  auto j = parse_bounded_json(text);
  if (!j)
    return out;
  const auto* curve = object_field(*j, "curve25519");
  if (curve == nullptr)
    return out;
  for (const auto& [id, key] : curve->items())
    if (key.is_string())
      out.emplace(id, key.get<std::string>());
  return out;
}

} // namespace

account::account() : holder_(olm_account_size(), olm_account, olm_clear_account) {}

result<empty_response> account::load_identity() {
  std::string buf(olm_account_identity_keys_length(raw()), '\0');
  auto n = olm_account_identity_keys(raw(), buf.data(), buf.size());
  if (n == olm_error())
    return hm::unexpected{olm_failure(raw(), "reading the identity keys")};
  buf.resize(n);
  auto j = parse_bounded_json(buf);
  auto curve = j ? string_field(*j, "curve25519") : std::nullopt;
  auto ed = j ? string_field(*j, "ed25519") : std::nullopt;
  if (!curve || !ed)
    return hm::unexpected{crypto_error(errcode_olm, "libolm returned unreadable identity keys")};
  identity_ = identity_keys{std::move(*curve), std::move(*ed)};
  return empty_response{};
}

result<account> account::create() {
  account a;
  secret_bytes random{olm_create_account_random_length(a.raw())};
  if (!fill_random(random.data(), random.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for a new account")};
  if (olm_create_account(a.raw(), random.data(), random.size()) == olm_error())
    return hm::unexpected{olm_failure(a.raw(), "creating the account")};
  if (auto r = a.load_identity(); !r)
    return hm::unexpected{r.error()};
  return a;
}

result<account> account::from_random_for_tests(std::string_view random64) {
  account a;
  secret_bytes random{olm_create_account_random_length(a.raw())};
  if (random64.size() != random.size())
    return hm::unexpected{crypto_error(errcode_olm, "wrong amount of random bytes")};
  std::memcpy(random.data(), random64.data(), random.size());
  if (olm_create_account(a.raw(), random.data(), random.size()) == olm_error())
    return hm::unexpected{olm_failure(a.raw(), "creating the account")};
  if (auto r = a.load_identity(); !r)
    return hm::unexpected{r.error()};
  return a;
}

result<account> account::from_pickle(std::string_view pickle, const pickle_key& key) {
  account a;
  std::string buf{pickle}; // libolm decodes in place
  auto r = olm_unpickle_account(a.raw(), key.data(), key.size(), buf.data(), buf.size());
  wipe_memory(buf.data(), buf.size());
  if (r == olm_error()) {
    if (olm_account_last_error_code(a.raw()) == OLM_BAD_ACCOUNT_KEY)
      return hm::unexpected{crypto_error(errcode_bad_pickle_key,
                          "the account pickle was made with a different pickle key")};
    return hm::unexpected{crypto_error(errcode_bad_pickle, std::string{"the account pickle is unreadable: "} +
                                                olm_account_last_error(a.raw()))};
  }
  if (auto li = a.load_identity(); !li)
    return hm::unexpected{li.error()};
  return a;
}

result<std::string> account::pickle(const pickle_key& key) const {
  std::string out(olm_pickle_account_length(raw()), '\0');
  auto n = olm_pickle_account(raw(), key.data(), key.size(), out.data(), out.size());
  if (n == olm_error())
    return hm::unexpected{olm_failure(raw(), "pickling the account")};
  out.resize(n);
  return out;
}

result<std::string> account::sign(std::string_view message) const {
  std::string sig(olm_account_signature_length(raw()), '\0');
  auto n = olm_account_sign(raw(), message.data(), message.size(), sig.data(), sig.size());
  if (n == olm_error())
    return hm::unexpected{olm_failure(raw(), "signing")};
  sig.resize(n);
  return sig;
}

result<nlohmann::json> account::sign_json(nlohmann::json object, std::string_view user_id,
                                          std::string_view device_id) const {
  auto signable = signable_json(object);
  if (!signable)
    return hm::unexpected{signable.error()};
  auto sig = sign(signable.value());
  if (!sig)
    return hm::unexpected{sig.error()};
  try {
    auto& sigs = object["signatures"];
    if (!sigs.is_object())
      sigs = nlohmann::json::object();
    sigs[std::string{user_id}]["ed25519:" + std::string{device_id}] = std::move(sig.value());
    return object;
  } catch (const std::exception&) {
    return hm::unexpected{crypto_error(errcode_olm, "signing: the signatures member is malformed")};
  }
}

result<nlohmann::json> account::device_keys(std::string_view user_id,
                                            std::string_view device_id) const {
  std::string id{device_id};
  nlohmann::json keys = {
      {"user_id", std::string{user_id}},
      {"device_id", id},
      {"algorithms", {std::string{olm_algorithm}, std::string{megolm_algorithm}}},
      {"keys", {{"curve25519:" + id, identity_.curve25519}, {"ed25519:" + id, identity_.ed25519}}},
  };
  return sign_json(std::move(keys), user_id, device_id);
}

std::size_t account::max_one_time_keys() const noexcept {
  return olm_account_max_number_of_one_time_keys(raw());
}

result<empty_response> account::generate_one_time_keys(std::size_t n) {
  if (n == 0)
    return empty_response{};
  secret_bytes random{olm_account_generate_one_time_keys_random_length(raw(), n)};
  if (!fill_random(random.data(), random.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for one-time keys")};
  if (olm_account_generate_one_time_keys(raw(), n, random.data(), random.size()) == olm_error())
    return hm::unexpected{olm_failure(raw(), "generating one-time keys")};
  return empty_response{};
}

std::map<std::string, std::string> account::unpublished_one_time_keys() const {
  std::string buf(olm_account_one_time_keys_length(raw()), '\0');
  auto n = olm_account_one_time_keys(raw(), buf.data(), buf.size());
  if (n == olm_error())
    return {};
  buf.resize(n);
  return curve_keys_of(buf);
}

namespace {

result<nlohmann::json> signed_keys(const account& a, const std::map<std::string, std::string>& keys,
                                   std::string_view user_id, std::string_view device_id,
                                   bool fallback) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [id, key] : keys) {
    nlohmann::json k = {{"key", key}};
    if (fallback)
      k["fallback"] = true;
    auto s = a.sign_json(std::move(k), user_id, device_id);
    if (!s)
      return hm::unexpected{s.error()};
    out[std::string{signed_curve25519} + ":" + id] = std::move(s.value());
  }
  return out;
}

} // namespace

result<nlohmann::json> account::signed_one_time_keys(std::string_view user_id,
                                                     std::string_view device_id) const {
  return signed_keys(*this, unpublished_one_time_keys(), user_id, device_id, false);
}

result<empty_response> account::generate_fallback_key() {
  secret_bytes random{olm_account_generate_fallback_key_random_length(raw())};
  if (!fill_random(random.data(), random.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for a fallback key")};
  if (olm_account_generate_fallback_key(raw(), random.data(), random.size()) == olm_error())
    return hm::unexpected{olm_failure(raw(), "generating a fallback key")};
  return empty_response{};
}

std::map<std::string, std::string> account::unpublished_fallback_key() const {
  std::string buf(olm_account_unpublished_fallback_key_length(raw()), '\0');
  auto n = olm_account_unpublished_fallback_key(raw(), buf.data(), buf.size());
  if (n == olm_error())
    return {};
  buf.resize(n);
  return curve_keys_of(buf);
}

result<nlohmann::json> account::signed_fallback_keys(std::string_view user_id,
                                                     std::string_view device_id) const {
  return signed_keys(*this, unpublished_fallback_key(), user_id, device_id, true);
}

std::size_t account::mark_keys_as_published() {
  return olm_account_mark_keys_as_published(raw());
}

void account::forget_old_fallback_key() { olm_account_forget_old_fallback_key(raw()); }

} // namespace hm::matrix::crypto
