#pragma once

#include "profiles/secret.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hm {

/// One HTTP header (name as written; compared case-insensitively).
using http_header = std::pair<std::string, std::string>;

/// An HTTP request for the node's http engine. Built by the actors from the
/// sans-I/O request descriptions of matrix/ and agent/.
struct http_call {
  /// Chosen by the requester; with the requester's address it names the call
  /// for streamed chunks and for cancellation.
  uint64_t id = 0;
  std::string method = "GET";
  std::string url;
  /// Never credentials: those go into `authorization`.
  std::vector<http_header> headers;
  /// The whole Authorization header value ("Bearer ..."), empty for none.
  /// Held as a secret so that no printout of a call shows it.
  secret authorization;
  std::string body;
  /// The whole call, connect to last byte (a sync long-poll needs its
  /// server-side timeout plus a margin).
  caf::timespan timeout = std::chrono::seconds{30};
  /// Proxy URL; empty: the standard proxy variables (https_proxy, ...) apply.
  std::string proxy;
  /// Deliver the body as http_chunk messages while it arrives (SSE).
  bool stream = false;
  /// A larger body fails the call (a hostile or broken server cannot make us
  /// buffer without bound).
  uint64_t max_body_bytes = 64ull * 1024 * 1024;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_call& x) {
  return f(caf::meta::type_name("http_call"), x.id, x.method, x.url, x.headers,
           x.authorization, x.body, x.timeout, x.proxy, x.stream, x.max_body_bytes);
}

/// The end of an http_call: the response (status > 0) or why there is none.
struct http_result {
  uint64_t id = 0;
  /// HTTP status; 0 when no response arrived (network error, timeout, cancel).
  int status = 0;
  /// Response headers, names lower-cased.
  std::vector<http_header> headers;
  /// The body; empty for streamed calls (it went out as chunks).
  std::string body;
  /// Why the call failed without a response ("" when status > 0), user-facing.
  std::string error;
  /// The call failed because the body passed its max_body_bytes.
  bool body_too_large = false;
  /// Time from the call reaching the engine to its end.
  caf::timespan elapsed{0};

  /// The value of header `name` (lower-case), or "".
  [[nodiscard]] std::string header(const std::string& name) const {
    for (auto& [k, v] : headers)
      if (k == name)
        return v;
    return {};
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_result& x) {
  return f(caf::meta::type_name("http_result"), x.id, x.status, x.headers, x.body, x.error,
           x.body_too_large, x.elapsed);
}

/// A piece of a streamed response body, in order.
struct http_chunk {
  uint64_t id = 0;
  std::string data;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_chunk& x) {
  return f(caf::meta::type_name("http_chunk"), x.id, x.data);
}

} // namespace hm
