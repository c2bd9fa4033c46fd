#pragma once

// Matrix error responses (`{errcode, error}` with an HTTP status), what we could not
// even read, and what to do about each. Parsing never throws and never copies more than
// a short, cleaned excerpt of a body that is not JSON into the error text.

#include "errors/expected.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace hm::matrix {

/// Local errcodes for failures that have no Matrix errcode. "HM_" keeps them apart from
/// the spec's "M_" namespace.
inline constexpr std::string_view errcode_network = "HM_NETWORK";           // no response
inline constexpr std::string_view errcode_bad_response = "HM_BAD_RESPONSE"; // 2xx, unreadable

struct matrix_error {
  int http_status = 0;      // 0 when no response arrived (network, timeout)
  std::string errcode;      // "M_FORBIDDEN", "M_UNKNOWN" for non-JSON bodies, or HM_*
  std::string error;        // human-readable; never contains a token or password
  std::optional<std::chrono::milliseconds> retry_after; // how long to wait, when told
  bool soft_logout = false; // M_UNKNOWN_TOKEN with soft_logout: log in again, same device
  bool body_was_json = true; // false: an HTML page from a proxy, a truncated body, ...
};

/// An HTTP response as the caller got it: only what parsing needs.
struct http_response {
  int status = 0;
  std::string_view body;
  /// The raw `Retry-After` header value, when the response had one.
  std::optional<std::string_view> retry_after_header;
  /// When the response arrived; needed to turn a Retry-After HTTP-date into a delay.
  std::chrono::system_clock::time_point received_at{};
};

/// Reads an error response (any status; usually 4xx/5xx). Retry-After: the header wins
/// over the body's `retry_after_ms`, as the spec says since v1.10 (MSC4041 deprecated the
/// body field; servers send both for old clients). A body that is not a JSON object gives
/// errcode "M_UNKNOWN", body_was_json=false and an excerpt of at most 120 printable chars.
[[nodiscard]] matrix_error parse_matrix_error(const http_response& r);

/// A request that got no response at all (connect failure, TLS, timeout). `what` is the
/// transport's description; it must not contain the URL's query (it has no tokens, but
/// keep it short).
[[nodiscard]] matrix_error network_error(std::string what);

/// A 2xx response whose body we could not use (not JSON, required field missing).
[[nodiscard]] matrix_error bad_response(int status, std::string what);

/// Retry-After: delay-seconds ("120") or an HTTP-date in IMF-fixdate form ("Wed, 21 Oct
/// 2015 07:28:00 GMT"; the obsolete RFC 850 and asctime date forms are not accepted).
/// A date in the past gives 0 ms; anything over a day is clamped to a day. Nullopt when
/// unreadable.
[[nodiscard]] std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view header, std::chrono::system_clock::time_point now);

/// What the caller should do about an error.
enum class error_action {
  retry,        // 429, 5xx, network, unreadable 2xx: back off (or wait retry_after), resend
  stop_profile, // M_UNKNOWN_TOKEN, M_MISSING_TOKEN, 401: this profile stops and says so
  restart_sync, // M_UNKNOWN_POS: sync again without `since` (and replay nothing)
  fail_request, // everything else (M_FORBIDDEN on a send, M_NOT_FOUND, ...): this request only
};

[[nodiscard]] error_action classify(const matrix_error& e);
[[nodiscard]] std::string_view to_string(error_action a);

/// "M_FORBIDDEN (HTTP 403): You are not allowed to send here" — for logs and users.
[[nodiscard]] std::string to_string(const matrix_error& e);

/// The outcome of parsing a response: the value, or why there is none
/// (`return hm::unexpected{parse_matrix_error(r)};`).
template <class T>
using result = hm::expected<T, matrix_error>;

/// For endpoints whose success body carries nothing we need ("{}").
struct empty_response {};

} // namespace hm::matrix
