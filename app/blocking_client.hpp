#pragma once

// The command line's own HTTP client for `login` and `provision`: one blocking
// libcurl request at a time. The service itself never uses it (its requests go
// through the http engine actor); a CLI waiting on one answer may block.

#include "matrix/errors.hpp"
#include "matrix/request.hpp"
#include "profiles/secret.hpp"

#include <string>

namespace hm {

class blocking_client {
public:
  /// `base_url`: the homeserver, without a trailing '/'. `proxy`: MATRIX_PROXY or "".
  blocking_client(std::string base_url, std::string proxy = {});

  /// The token sent as `Authorization: Bearer` on requests that need one.
  void set_access_token(secret token) { token_ = std::move(token); }

  /// Performs `request` and hands the response to `parse` (a matrix/ parse_*
  /// function); a request that got no response becomes a network error.
  template <class Parse>
  auto call(const matrix::http_request& request, Parse parse)
    -> decltype(parse(std::declval<const matrix::http_response&>())) {
    auto got = perform(request);
    if (got.status == 0)
      return matrix::network_error(got.transport_error);
    matrix::http_response view;
    view.status = got.status;
    view.body = got.body;
    if (got.retry_after)
      view.retry_after_header = *got.retry_after;
    view.received_at = std::chrono::system_clock::now();
    return parse(view);
  }

private:
  struct response {
    int status = 0; // 0: no response
    std::string body;
    std::optional<std::string> retry_after;
    std::string transport_error;
  };
  response perform(const matrix::http_request& request) const;

  std::string base_url_;
  std::string proxy_;
  secret token_;
};

} // namespace hm
