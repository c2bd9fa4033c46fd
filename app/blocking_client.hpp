#pragma once

// The command line's own HTTP client for `login` and `provision`: one blocking
// libcurl request at a time. The service itself never uses it (its requests go
// through the http engine actor); a CLI waiting on one answer may block.

#include "matrix/errors.hpp"
#include "matrix/request.hpp"
#include "profiles/secret.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace hm {

class blocking_client {
public:
  /// `base_url`: the homeserver, without a trailing '/'. `proxy`: MATRIX_PROXY or "".
  blocking_client(std::string base_url, std::string proxy = {});

  /// The token sent as `Authorization: Bearer` on requests that need one.
  void set_access_token(secret token) { token_ = std::move(token); }

  /// Performs `request` and hands the response to `parse` (a matrix/ parse_*
  /// function); a request that got no response becomes a network error. A 429
  /// (Synapse limits logins to a burst of 3) is waited out as the server says
  /// (Retry-After or retry_after_ms, 1 s when it says nothing, at most 30 s a time)
  /// and sent again, for up to two minutes in all; each wait is told on stderr.
  template <class Parse>
  auto call(const matrix::http_request& request, Parse parse)
    -> decltype(parse(std::declval<const matrix::http_response&>())) {
    std::chrono::milliseconds waited{0};
    for (;;) {
      auto got = perform(request);
      if (got.status == 0)
        return hm::unexpected{matrix::network_error(got.transport_error)};
      matrix::http_response view;
      view.status = got.status;
      view.body = got.body;
      if (got.retry_after)
        view.retry_after_header = *got.retry_after;
      view.received_at = std::chrono::system_clock::now();
      if (got.status == 429) {
        if (auto wait = rate_limit_wait(view, waited)) {
          waited += *wait;
          continue;
        }
      }
      return parse(view);
    }
  }

  /// Certificates to trust for an https base URL instead of the system's (a
  /// self-signed admin API certificate); empty: the system's.
  void set_ca_file(std::string path) { ca_file_ = std::move(path); }

  /// One answer as it came, for callers that read it themselves (`status`).
  struct response {
    int status = 0; // 0: no response
    std::string body;
    std::optional<std::string> retry_after;
    std::string transport_error;
  };
  /// Performs `request` once (no 429 waiting).
  [[nodiscard]] response perform(const matrix::http_request& request) const;

private:
  /// For a 429: how long was waited before asking again (the wait is over when this
  /// returns), or nullopt when the two minutes are used up.
  static std::optional<std::chrono::milliseconds>
  rate_limit_wait(const matrix::http_response& r, std::chrono::milliseconds waited);

  std::string base_url_;
  std::string proxy_;
  std::string ca_file_;
  secret token_;
};

} // namespace hm
