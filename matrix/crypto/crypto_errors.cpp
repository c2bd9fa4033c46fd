#include "matrix/crypto/crypto_errors.hpp"

namespace hm::matrix::crypto {

matrix_error crypto_error(std::string_view errcode, std::string what) {
  matrix_error e;
  e.http_status = 0;
  e.errcode = std::string{errcode};
  e.error = std::move(what);
  e.body_was_json = true;
  return e;
}

} // namespace hm::matrix::crypto
