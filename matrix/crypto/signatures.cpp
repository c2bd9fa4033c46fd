#include "matrix/crypto/signatures.hpp"

#include <memory>
#include <string>
#include <vector>

#include <olm/olm.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/canonical_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"

namespace hm::matrix::crypto {

namespace {

// libolm checks the key's length but not the signature's: an empty or short signature
// must not reach it (it reads 64 bytes from it).
constexpr std::size_t ed25519_key_b64_size = 43;
constexpr std::size_t ed25519_signature_b64_size = 86;

} // namespace

bool ed25519_verify(std::string_view ed25519_key, std::string_view message,
                    std::string_view signature) {
  if (ed25519_key.size() != ed25519_key_b64_size ||
      signature.size() != ed25519_signature_b64_size)
    return false;
  std::vector<std::uint8_t> memory(olm_utility_size());
  OlmUtility* utility = olm_utility(memory.data());
  // olm_ed25519_verify may scribble on the signature buffer: give it a copy.
  std::string sig{signature};
  auto r = olm_ed25519_verify(utility, ed25519_key.data(), ed25519_key.size(), message.data(),
                              message.size(), sig.data(), sig.size());
  olm_clear_utility(utility);
  return r != olm_error();
}

result<empty_response> verify_signature(std::string_view ed25519_key,
                                        const nlohmann::json& object,
                                        std::string_view user_id, std::string_view key_name) {
  const auto* sigs = object_field(object, "signatures");
  const auto* by_user = sigs ? object_field(*sigs, user_id) : nullptr;
  auto key_id = "ed25519:" + std::string{key_name};
  auto sig = by_user ? string_field(*by_user, key_id) : std::nullopt;
  if (!sig)
    return hm::unexpected{crypto_error(errcode_bad_signature, "no signature by " + std::string{user_id} +
                                                   " with " + key_id)};
  auto signable = signable_json(object);
  if (!signable)
    return hm::unexpected{signable.error()};
  if (!ed25519_verify(ed25519_key, signable.value(), *sig))
    return hm::unexpected{crypto_error(errcode_bad_signature, "signature by " + std::string{user_id} +
                                                   " with " + key_id + " does not verify")};
  return empty_response{};
}

} // namespace hm::matrix::crypto
