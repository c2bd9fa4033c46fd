#pragma once

// The key libolm encrypts every pickle with (account, Olm and Megolm sessions). It comes
// from the caller (MATRIX_PICKLE_KEY or a key file), never from the database the pickles
// live in, so that a copied database alone reveals no session.

#include <cstdint>
#include <string_view>

#include "matrix/crypto/secure_random.hpp"
#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

class pickle_key {
public:
  /// At least this many bytes: libolm accepts any length (it runs the key through
  /// HKDF), but a short key is a guessable key.
  static constexpr std::size_t min_size = 16;

  /// Copies `bytes` (wiped again when the pickle_key goes). Error HM_BAD_PICKLE_KEY when
  /// shorter than min_size; the text says how long it must be, never what it was.
  [[nodiscard]] static result<pickle_key> from_bytes(std::string_view bytes);

  [[nodiscard]] const std::uint8_t* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }

private:
  explicit pickle_key(secret_bytes b) : bytes_(std::move(b)) {}
  secret_bytes bytes_;
};

} // namespace hm::matrix::crypto
