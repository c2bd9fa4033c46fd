#include "matrix/crypto/attachment.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secure_random.hpp"

namespace hm::matrix::crypto {

namespace {

constexpr std::size_t key_size = 32;
constexpr std::size_t iv_size = 16;
constexpr std::size_t block_size = 16;
// EVP_EncryptUpdate takes an int length; larger inputs go in pieces of this size.
constexpr std::size_t update_piece = std::size_t{1} << 30;

const std::uint8_t* bytes_of(std::string_view s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

std::array<std::uint8_t, 32> sha256(std::string_view data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

// AES-256-CTR over `n` bytes starting with `counter_block`, the counter being its last 8
// bytes only (see the header). OpenSSL carries into all 16 bytes, so the input is split
// where the 64-bit count wraps, and the second part starts again from count 0.
bool aes_ctr64(const std::uint8_t* key, const std::uint8_t* counter_block,
               const std::uint8_t* in, std::size_t n, std::uint8_t* out) {
  std::array<std::uint8_t, iv_size> counter{};
  std::memcpy(counter.data(), counter_block, iv_size);
  while (n > 0) {
    std::uint64_t low = 0;
    for (std::size_t i = 8; i < iv_size; ++i)
      low = (low << 8) | counter[i];
    std::size_t segment = n;
    std::uint64_t blocks_before_wrap = ~low + 1; // 2^64 - low; low 0 never wraps here
    if (low != 0 && (n - 1) / block_size >= blocks_before_wrap)
      segment = static_cast<std::size_t>(blocks_before_wrap) * block_size;
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    bool ok = ctx != nullptr &&
              EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr, key, counter.data()) > 0;
    for (std::size_t done = 0; ok && done < segment;) {
      auto piece = std::min(segment - done, update_piece);
      int len = 0;
      ok = EVP_EncryptUpdate(ctx, out + done, &len, in + done, static_cast<int>(piece)) > 0 &&
           static_cast<std::size_t>(len) == piece;
      done += piece;
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
      return false;
    in += segment;
    out += segment;
    n -= segment;
    std::memset(counter.data() + 8, 0, 8);
  }
  return true;
}

} // namespace

result<std::string> decrypt_attachment(std::string_view ciphertext, const encrypted_file& file) {
  if (file.key.size() != key_size || file.iv.size() != iv_size || file.sha256.size() != 32)
    return hm::unexpected{crypto_error(errcode_bad_key,
                        "attachment key, IV or hash has the wrong length")};
  auto actual = sha256(ciphertext);
  if (CRYPTO_memcmp(actual.data(), file.sha256.data(), actual.size()) != 0)
    return hm::unexpected{crypto_error(errcode_bad_attachment_hash,
                        "the attachment's SHA-256 does not match its event: refused")};
  std::string plaintext(ciphertext.size(), '\0');
  if (!aes_ctr64(bytes_of(file.key), bytes_of(file.iv), bytes_of(ciphertext),
                 ciphertext.size(), reinterpret_cast<std::uint8_t*>(plaintext.data())))
    return hm::unexpected{crypto_error(errcode_olm, "AES-CTR failed")};
  return plaintext;
}

result<encrypted_attachment> encrypt_attachment(std::string_view plaintext) {
  secret_bytes key{key_size};
  std::array<std::uint8_t, iv_size> iv{}; // the last 8 bytes, the count, stay zero
  if (!fill_random(key.data(), key.size()) || !fill_random(iv.data(), 8))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no random bytes for an attachment key")};
  encrypted_attachment a;
  a.ciphertext.resize(plaintext.size());
  if (!aes_ctr64(key.data(), iv.data(), bytes_of(plaintext), plaintext.size(),
                 reinterpret_cast<std::uint8_t*>(a.ciphertext.data())))
    return hm::unexpected{crypto_error(errcode_olm, "AES-CTR failed")};
  auto hash = sha256(a.ciphertext);
  a.file.key.assign(reinterpret_cast<const char*>(key.data()), key.size());
  a.file.iv.assign(reinterpret_cast<const char*>(iv.data()), iv.size());
  a.file.sha256.assign(reinterpret_cast<const char*>(hash.data()), hash.size());
  return a;
}

} // namespace hm::matrix::crypto
