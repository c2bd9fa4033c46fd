#include "profiles/sha256.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace hm::profiles {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &size, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error{"OpenSSL could not compute a SHA-256"}; // out of memory only
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 0x0f];
  }
  return hex;
}

} // namespace hm::profiles
