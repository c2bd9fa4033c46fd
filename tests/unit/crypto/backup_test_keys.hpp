#pragma once

// Backup keys for the key backup suites: random ones (libolm PkDecryption) and their
// public halves (PkEncryption).

#include "caf/test/unit_test.hpp"

#include "matrix/crypto/key_backup.hpp"
#include "matrix/crypto/secure_random.hpp"

namespace hm::matrix::crypto::test {

inline secret_bytes random_bytes() {
  secret_bytes bytes{32};
  CAF_REQUIRE(fill_random(bytes.data(), bytes.size()));
  return bytes;
}

inline backup_key key_from(const secret_bytes& bytes) {
  auto k = backup_key::from_private(bytes);
  CAF_REQUIRE(k);
  return std::move(k).value();
}

inline backup_key random_key() {
  return key_from(random_bytes());
}

inline backup_public_key public_of(const backup_key& k) {
  auto p = backup_public_key::from_base64(k.public_key());
  CAF_REQUIRE(p);
  return std::move(p).value();
}

} // namespace hm::matrix::crypto::test
