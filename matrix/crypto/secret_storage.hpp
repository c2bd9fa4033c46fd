#pragma once

// Secret storage (spec "Secrets", m.secret_storage.v1.aes-hmac-sha2): secrets such as
// the cross-signing private keys live encrypted in account data under a key the user
// holds as a recovery key. Per secret, HKDF-SHA-256 (salt: 32 zero bytes, info: the
// secret's name) turns the key into an AES-256-CTR key and an HMAC-SHA-256 key.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "matrix/crypto/secure_random.hpp"
#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

inline constexpr std::string_view secret_storage_algorithm = "m.secret_storage.v1.aes-hmac-sha2";
inline constexpr std::string_view self_signing_secret = "m.cross_signing.self_signing";

/// The 32-byte key of a recovery key as users see it ("EsT1 H3Wm ..."): base58, spaces
/// ignored, prefix 0x8B 0x01, parity byte. HM_BAD_KEY (never echoing the input) when it
/// is not one.
[[nodiscard]] result<secret_bytes> decode_recovery_key(std::string_view text);
/// A secret that is a key (self-signing seed, key backup private key) from its base64
/// text: `size` bytes, or nullopt. Nothing decoded stays behind unwiped.
[[nodiscard]] std::optional<secret_bytes> decode_secret_key(std::string_view base64,
                                                            std::size_t size);
/// The display form of a 32-byte key (groups of four).
[[nodiscard]] std::string encode_recovery_key(const secret_bytes& key);

/// Whether `key` is the key `description` (the m.secret_storage.key.<id> account data
/// content) describes: its mac is that of 32 zero bytes encrypted under the name "".
[[nodiscard]] bool secret_storage_key_matches(const secret_bytes& key,
                                              const nlohmann::json& description);

/// The secret `name` from its account data `content` ({encrypted: {<key_id>: {iv,
/// ciphertext, mac}}}), decrypted with `key`. HM_BAD_KEY when the content has no entry
/// for `key_id`; HM_BAD_SIGNATURE when the MAC does not match (wrong key, tampering).
[[nodiscard]] result<std::string> decrypt_secret(const secret_bytes& key,
                                                 std::string_view key_id,
                                                 std::string_view name,
                                                 const nlohmann::json& content);

/// The {iv, ciphertext, mac} object for `plaintext` under `key` (a fresh random IV).
[[nodiscard]] result<nlohmann::json> encrypt_secret(const secret_bytes& key, std::string_view name,
                                                    std::string_view plaintext);

} // namespace hm::matrix::crypto
