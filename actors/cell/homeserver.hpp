#pragma once

// How a cell's actors reach their homeserver: matrix/ describes a request, the
// node's http engine performs it. Only here does the access token meet a request.

#include "matrix/errors.hpp"
#include "matrix/request.hpp"
#include "messages/http.hpp"
#include "messages/interfaces.hpp"
#include "profiles/secret.hpp"

#include <string>

namespace hm {

/// Where and as whom one profile talks to its homeserver.
struct homeserver_link {
  http_engine_actor engine;
  std::string base_url; ///< MATRIX_HOMESERVER, no trailing '/'
  secret access_token;
  std::string proxy;    ///< MATRIX_PROXY, empty for the standard variables
};

/// The http_call for `request` (base URL, token, timeout, proxy added).
[[nodiscard]] http_call to_http_call(const homeserver_link& link,
                                     const matrix::http_request& request, uint64_t id);

/// The view of a result that matrix/'s parsers take. Valid while `result` lives.
[[nodiscard]] matrix::http_response to_matrix_response(const http_result& result);

/// The error of a failed result: a network error (no response) or the parsed
/// Matrix error body. Precondition: the result is not a 2xx response.
[[nodiscard]] matrix::matrix_error to_matrix_error(const http_result& result);

/// The result as the sans-I/O machines of matrix/ take an answer: the response of a
/// 2xx, else its error. Valid while `result` lives.
[[nodiscard]] matrix::result<matrix::http_response> to_matrix_result(const http_result& result);

/// True for a 2xx response.
[[nodiscard]] inline bool succeeded(const http_result& r) {
  return r.status >= 200 && r.status < 300;
}

} // namespace hm
