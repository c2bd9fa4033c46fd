#pragma once

// This device's Olm account: its identity keys (curve25519 for Olm, ed25519 for
// signing), its one-time and fallback keys. An RAII owner of libolm's OlmAccount. Every
// method that changes the account says so; after it the caller pickles the account and
// stores the pickle in the same transaction as whatever caused the change.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "matrix/crypto/olm_holder.hpp"
#include "matrix/crypto/pickle_key.hpp"
#include "matrix/errors.hpp"

struct OlmAccount;

namespace hm::matrix::crypto {

inline constexpr std::string_view olm_algorithm = "m.olm.v1.curve25519-aes-sha2";
inline constexpr std::string_view megolm_algorithm = "m.megolm.v1.aes-sha2";
inline constexpr std::string_view signed_curve25519 = "signed_curve25519";

/// The public identity keys, unpadded base64.
struct identity_keys {
  std::string curve25519;
  std::string ed25519;
};

class account {
public:
  /// A new account with fresh identity keys. Error HM_NO_RANDOMNESS, HM_OLM.
  [[nodiscard]] static result<account> create();
  /// An account from its pickle. Error HM_BAD_PICKLE_KEY when the pickle was made with
  /// another key, HM_BAD_PICKLE when it is not a pickle at all.
  [[nodiscard]] static result<account> from_pickle(std::string_view pickle,
                                                   const pickle_key& key);
  /// Builds an account from exactly the random bytes libolm asks for (64: the ed25519
  /// seed, then the curve25519 key). For test vectors only; use create().
  [[nodiscard]] static result<account> from_random_for_tests(std::string_view random64);


  /// The pickle (base64 text, encrypted with `key`).
  [[nodiscard]] result<std::string> pickle(const pickle_key& key) const;

  [[nodiscard]] const identity_keys& identity() const noexcept { return identity_; }

  /// ed25519 signature (unpadded base64) over `message`.
  [[nodiscard]] result<std::string> sign(std::string_view message) const;
  /// `object` with signatures[user_id]["ed25519:<device_id>"] added (existing signatures
  /// are kept), signed over its signable JSON.
  [[nodiscard]] result<nlohmann::json> sign_json(nlohmann::json object,
                                                 std::string_view user_id,
                                                 std::string_view device_id) const;

  /// The signed `device_keys` object for /keys/upload: user_id, device_id, algorithms
  /// (Olm and Megolm), keys {curve25519:<device>, ed25519:<device>}.
  [[nodiscard]] result<nlohmann::json> device_keys(std::string_view user_id,
                                                   std::string_view device_id) const;

  // ---- one-time and fallback keys ---------------------------------------------------

  /// How many one-time keys libolm keeps (the oldest go when more are generated).
  [[nodiscard]] std::size_t max_one_time_keys() const noexcept;
  /// Generates `n` one-time keys (changes the account).
  [[nodiscard]] result<empty_response> generate_one_time_keys(std::size_t n);
  /// The one-time keys not yet marked published: key id → curve25519 key.
  [[nodiscard]] std::map<std::string, std::string> unpublished_one_time_keys() const;
  /// Those keys as /keys/upload's one_time_keys: {"signed_curve25519:<id>": {key,
  /// signatures}}.
  [[nodiscard]] result<nlohmann::json> signed_one_time_keys(std::string_view user_id,
                                                            std::string_view device_id) const;
  /// Generates a new fallback key (changes the account; the previous one is kept until
  /// forget_old_fallback_key(), for messages already on their way).
  [[nodiscard]] result<empty_response> generate_fallback_key();
  /// The fallback key not yet published, as key id → curve25519 key (at most one).
  [[nodiscard]] std::map<std::string, std::string> unpublished_fallback_key() const;
  /// Those as /keys/upload's fallback_keys: {"signed_curve25519:<id>": {key,
  /// fallback: true, signatures}}.
  [[nodiscard]] result<nlohmann::json> signed_fallback_keys(std::string_view user_id,
                                                            std::string_view device_id) const;
  /// After a successful upload: the keys are no longer "unpublished" (changes the
  /// account). Returns how many one-time keys that were.
  std::size_t mark_keys_as_published();
  /// Drops the previous fallback key (changes the account).
  void forget_old_fallback_key();

  /// For the session code in this library; not for callers.
  [[nodiscard]] OlmAccount* raw() const noexcept { return holder_.get(); }

private:
  account();
  result<empty_response> load_identity();

  detail::olm_holder<OlmAccount> holder_;
  identity_keys identity_;
};

} // namespace hm::matrix::crypto
