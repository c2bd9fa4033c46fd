#pragma once

// What a Matrix request is, without doing it: the caller (the http engine, an actor over
// libcurl) adds the homeserver base URL and the Authorization header. Access tokens
// therefore never pass through matrix/; the one secret that does is a login password,
// and requests carrying it say so (`body_is_secret`) so that nobody logs the body.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hm::matrix {

enum class http_method { get, post, put, delete_ };

/// "GET", "POST", "PUT", "DELETE".
[[nodiscard]] std::string_view to_string(http_method m);

/// The client-server API prefix every builder uses.
inline constexpr std::string_view client_v3 = "/_matrix/client/v3";

struct http_request {
  http_method method = http_method::get;
  /// Path and query relative to the homeserver base URL, e.g.
  /// "/_matrix/client/v3/rooms/%21a%3Ab/send/m.room.message/hm.1". Already encoded.
  std::string target;
  /// JSON body; absent for GET (and sent as nothing, not as "null").
  std::optional<nlohmann::json> body;
  /// Raw bytes instead of JSON (a media upload); a request has `body` or `raw_body`,
  /// never both. Sent with `content_type`.
  std::optional<std::string> raw_body;
  /// The Content-Type of `raw_body` ("application/octet-stream" when empty); unused
  /// with a JSON `body`, which is always application/json.
  std::string content_type;
  /// Whether the caller must add `Authorization: Bearer <token>` (false only for login).
  bool needs_access_token = true;
  /// True when the body holds a secret (a password): never log or trace it.
  bool body_is_secret = false;
  /// How long the caller should let the request run before giving up on it. A long-poll
  /// /sync gets its poll timeout plus slack; everything else the default.
  std::chrono::milliseconds timeout{30'000};
  /// The largest response body the caller may buffer; 0: the engine's default. A media
  /// download sets the profile's limit, so that a hostile server cannot make us hold
  /// more than the file we would accept.
  std::uint64_t max_response_bytes = 0;
};

/// The body as the bytes to send ("" when there is none): `raw_body` as it is, or the
/// JSON `body` serialized. Invalid UTF-8 in JSON strings is replaced by U+FFFD rather
/// than throwing (nlohmann's dump() would).
[[nodiscard]] std::string body_text(const http_request& r);

/// The Content-Type header value for the body, or "" when there is no body.
[[nodiscard]] std::string body_content_type(const http_request& r);

/// Percent-encodes one path segment or query value: everything but RFC 3986 unreserved
/// characters (A-Z a-z 0-9 - . _ ~) becomes %XX, so "!a:b" → "%21a%3Ab", "$x/y" →
/// "%24x%2Fy". A "/" inside an id can therefore never change which endpoint is called.
[[nodiscard]] std::string percent_encode(std::string_view segment);

} // namespace hm::matrix
