#include "matrix/crypto/secret_storage.hpp"

#include <array>
#include <cstring>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/crypto_errors.hpp"

namespace hm::matrix::crypto {

namespace {

constexpr char base58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::size_t key_size = 32;

struct derived_keys {
  secret_bytes aes{32};
  secret_bytes mac{32};
};

bool hkdf(const secret_bytes& key, std::string_view info, derived_keys& out) {
  std::array<std::uint8_t, 32> salt{};
  secret_bytes okm{64};
  std::size_t len = okm.size();
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_derive_init(ctx) > 0 &&
            EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
            EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt.data(), static_cast<int>(salt.size())) > 0 &&
            EVP_PKEY_CTX_set1_hkdf_key(ctx, key.data(), static_cast<int>(key.size())) > 0 &&
            EVP_PKEY_CTX_add1_hkdf_info(ctx, reinterpret_cast<const unsigned char*>(info.data()),
                                        static_cast<int>(info.size())) > 0 &&
            EVP_PKEY_derive(ctx, okm.data(), &len) > 0 && len == 64;
  EVP_PKEY_CTX_free(ctx);
  if (ok) {
    std::memcpy(out.aes.data(), okm.data(), 32);
    std::memcpy(out.mac.data(), okm.data() + 32, 32);
  }
  return ok;
}

// AES-256-CTR is its own inverse.
bool aes_ctr(const secret_bytes& key, const std::uint8_t* iv, const std::uint8_t* in,
             std::size_t n, std::uint8_t* out) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  int fin = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr, key.data(), iv) > 0 &&
            EVP_EncryptUpdate(ctx, out, &len, in, static_cast<int>(n)) > 0 &&
            EVP_EncryptFinal_ex(ctx, out + len, &fin) > 0;
  EVP_CIPHER_CTX_free(ctx);
  return ok && static_cast<std::size_t>(len + fin) == n;
}

std::array<std::uint8_t, 32> hmac_sha256(const secret_bytes& key, const std::vector<std::uint8_t>& data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
       out.data(), &len);
  return out;
}

std::string padded_base64(const std::uint8_t* p, std::size_t n) {
  // Element and the spec's examples write padded base64 here; we read both.
  auto s = base64_encode_unpadded(p, n);
  while (s.size() % 4 != 0)
    s.push_back('=');
  return s;
}

struct encrypted {
  std::vector<std::uint8_t> ciphertext;
  std::array<std::uint8_t, 32> mac{};
};

result<encrypted> encrypt_with_iv(const secret_bytes& key, std::string_view name,
                                  const std::uint8_t* iv, std::string_view plaintext) {
  derived_keys k;
  if (!hkdf(key, name, k))
    return hm::unexpected{crypto_error(errcode_olm, "HKDF failed")};
  encrypted e;
  e.ciphertext.resize(plaintext.size());
  if (!aes_ctr(k.aes, iv, reinterpret_cast<const std::uint8_t*>(plaintext.data()),
               plaintext.size(), e.ciphertext.data()))
    return hm::unexpected{crypto_error(errcode_olm, "AES-CTR failed")};
  e.mac = hmac_sha256(k.mac, e.ciphertext);
  return e;
}

} // namespace

result<secret_bytes> decode_recovery_key(std::string_view text) {
  // Big-number base conversion, 58 → 256, over the digits without whitespace. What
  // was decoded so far is key material: wiped on every way out.
  std::vector<std::uint8_t> bytes;
  auto bad = [&bytes] {
    wipe_memory(bytes.data(), bytes.size());
    return hm::unexpected{crypto_error(errcode_bad_key, "this is not a recovery key")};
  };
  std::size_t leading_ones = 0;
  bool seen_digit = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      continue;
    const char* pos = std::strchr(base58_alphabet, c);
    if (pos == nullptr || c == '\0')
      return bad();
    auto digit = static_cast<unsigned>(pos - base58_alphabet);
    if (!seen_digit && digit == 0) {
      ++leading_ones;
      continue;
    }
    seen_digit = true;
    unsigned carry = digit;
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
      carry += static_cast<unsigned>(*it) * 58u;
      *it = static_cast<std::uint8_t>(carry & 0xFF);
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.insert(bytes.begin(), static_cast<std::uint8_t>(carry & 0xFF));
      carry >>= 8;
    }
    if (bytes.size() > 64)
      return bad();
  }
  bytes.insert(bytes.begin(), leading_ones, 0);
  std::uint8_t parity = 0;
  for (auto b : bytes)
    parity ^= b;
  bool ok = bytes.size() == 2 + key_size + 1 && bytes[0] == 0x8B && bytes[1] == 0x01 &&
            parity == 0;
  if (!ok)
    return bad();
  secret_bytes key{key_size};
  std::memcpy(key.data(), bytes.data() + 2, key_size);
  wipe_memory(bytes.data(), bytes.size());
  return key;
}

std::optional<secret_bytes> decode_secret_key(std::string_view base64, std::size_t size) {
  auto bytes = base64_decode(base64);
  if (!bytes)
    return std::nullopt;
  std::optional<secret_bytes> key;
  if (bytes->size() == size) {
    key.emplace(size);
    std::memcpy(key->data(), bytes->data(), size);
  }
  wipe_memory(bytes->data(), bytes->size());
  return key;
}

std::string encode_recovery_key(const secret_bytes& key) {
  std::vector<std::uint8_t> bytes{0x8B, 0x01};
  bytes.insert(bytes.end(), key.data(), key.data() + key.size());
  std::uint8_t parity = 0;
  for (auto b : bytes)
    parity ^= b;
  bytes.push_back(parity);
  // 256 → 58, digits least significant first.
  std::vector<std::uint8_t> digits;
  for (auto b : bytes) {
    unsigned carry = b;
    for (auto& d : digits) {
      carry += static_cast<unsigned>(d) << 8;
      d = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(static_cast<std::uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string plain;
  for (auto b : bytes) {
    if (b != 0)
      break;
    plain.push_back('1');
  }
  for (auto it = digits.rbegin(); it != digits.rend(); ++it)
    plain.push_back(base58_alphabet[*it]);
  wipe_memory(bytes.data(), bytes.size());
  std::string out;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    if (i > 0 && i % 4 == 0)
      out.push_back(' ');
    out.push_back(plain[i]);
  }
  wipe_memory(plain.data(), plain.size());
  return out;
}

bool secret_storage_key_matches(const secret_bytes& key, const nlohmann::json& description) {
  if (string_field(description, "algorithm") != std::string{secret_storage_algorithm})
    return false;
  auto iv = base64_decode(string_field(description, "iv").value_or(""));
  auto mac = base64_decode(string_field(description, "mac").value_or(""));
  if (!iv || iv->size() != 16 || !mac || mac->size() != 32)
    return false;
  std::array<char, 32> zeros{};
  auto e = encrypt_with_iv(key, "", iv->data(), std::string_view{zeros.data(), zeros.size()});
  return e && CRYPTO_memcmp(e->mac.data(), mac->data(), 32) == 0;
}

result<std::string> decrypt_secret(const secret_bytes& key, std::string_view key_id,
                                   std::string_view name, const nlohmann::json& content) {
  const auto* all = object_field(content, "encrypted");
  const auto* entry = all ? object_field(*all, key_id) : nullptr;
  if (entry == nullptr)
    return hm::unexpected{crypto_error(errcode_bad_key, "the secret " + std::string{name} +
                                             " is not stored under key " + std::string{key_id})};
  auto iv = base64_decode(string_field(*entry, "iv").value_or(""));
  auto ct = base64_decode(string_field(*entry, "ciphertext").value_or("-"));
  auto mac = base64_decode(string_field(*entry, "mac").value_or(""));
  if (!iv || iv->size() != 16 || !ct || !mac || mac->size() != 32)
    return hm::unexpected{crypto_error(errcode_bad_key, "the secret " + std::string{name} + " is malformed")};
  derived_keys k;
  if (!hkdf(key, name, k))
    return hm::unexpected{crypto_error(errcode_olm, "HKDF failed")};
  auto expected = hmac_sha256(k.mac, *ct);
  if (CRYPTO_memcmp(expected.data(), mac->data(), 32) != 0)
    return hm::unexpected{crypto_error(errcode_bad_signature,
                        "the secret " + std::string{name} +
                            " does not match its MAC (wrong recovery key, or tampered)")};
  std::string plain(ct->size(), '\0');
  if (!aes_ctr(k.aes, iv->data(), ct->data(), ct->size(),
               reinterpret_cast<std::uint8_t*>(plain.data())))
    return hm::unexpected{crypto_error(errcode_olm, "AES-CTR failed")};
  return plain;
}

result<nlohmann::json> encrypt_secret(const secret_bytes& key, std::string_view name,
                                      std::string_view plaintext) {
  std::array<std::uint8_t, 16> iv{};
  if (!fill_random(iv.data(), iv.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for an IV")};
  iv[8] &= 0x7F; // spec: clear bit 63 so that the counter cannot wrap (Android's AES-CTR)
  auto e = encrypt_with_iv(key, name, iv.data(), plaintext);
  if (!e)
    return hm::unexpected{e.error()};
  return nlohmann::json{{"iv", padded_base64(iv.data(), iv.size())},
                        {"ciphertext", padded_base64(e->ciphertext.data(), e->ciphertext.size())},
                        {"mac", padded_base64(e->mac.data(), e->mac.size())}};
}

} // namespace hm::matrix::crypto
