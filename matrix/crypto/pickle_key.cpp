#include "matrix/crypto/pickle_key.hpp"

#include <cstring>

#include "matrix/crypto/crypto_errors.hpp"

namespace hm::matrix::crypto {

result<pickle_key> pickle_key::from_bytes(std::string_view bytes) {
  if (bytes.size() < min_size)
    return hm::unexpected{crypto_error(errcode_bad_pickle_key,
                        "the pickle key must be at least " + std::to_string(min_size) +
                            " bytes long")};
  secret_bytes b{bytes.size()};
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return pickle_key{std::move(b)};
}

} // namespace hm::matrix::crypto
