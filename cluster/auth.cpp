#include "cluster/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>

namespace hm {

namespace {

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

// Binds the proof to this protocol, so it cannot be replayed in another one.
constexpr const char* proof_context = "hermes-matrix cluster join v1";

} // namespace

store::secret_text read_cluster_secret(const std::filesystem::path& file) {
  return store::read_secret_file(file, "the cluster secret file", 16);
}

std::string make_nonce() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error{"no randomness for a cluster nonce"};
  return to_hex(bytes.data(), bytes.size());
}

std::string cluster_proof(const std::string& secret, const std::string& node,
                          const std::string& nonce) {
  std::string input = proof_context;
  input += '\n';
  input += node;
  input += '\n';
  input += nonce;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &size);
  return to_hex(mac.data(), size);
}

bool proof_matches(const std::string& secret, const std::string& node,
                   const std::string& nonce, const std::string& proof) {
  auto expected = cluster_proof(secret, node, nonce);
  return proof.size() == expected.size()
         && CRYPTO_memcmp(proof.data(), expected.data(), expected.size()) == 0;
}

} // namespace hm
