#pragma once

// Syntax of the identifiers a profile names: Matrix user and room ids, and URLs.
// Plain checks on strings; no I/O.

#include <optional>
#include <string>
#include <string_view>

namespace hm::profiles {

enum class id_syntax {
  valid,      // as the current spec allows
  historical, // user id with a localpart only historical ids use (spec: "Historical User IDs")
  invalid,
};

/// `@localpart:server_name` (spec: appendices, "User Identifiers"), at most 255 bytes.
/// Localpart [a-z0-9._=/+-]; other printable ASCII except ':' is historical.
[[nodiscard]] id_syntax user_id_syntax(std::string_view s);

/// `!opaque:server_name`, or `!opaque` alone (room version 12 drops the server part).
[[nodiscard]] bool valid_room_id(std::string_view s);

/// `#alias:server_name`.
[[nodiscard]] bool looks_like_room_alias(std::string_view s);

/// server_name: DNS name, IPv4 address or [IPv6 literal], optional :port.
[[nodiscard]] bool valid_server_name(std::string_view s);

/// What is wrong with `url` as an absolute URL with one of `schemes` (comma separated,
/// lower case, e.g. "http,https") and a host; nullopt when it is fine. The answer never
/// repeats the URL (it may carry credentials).
[[nodiscard]] std::optional<std::string> url_problem(std::string_view url,
                                                     std::string_view schemes);

/// True when `pattern` compiles as a std::regex (ECMAScript grammar), the way the
/// policy code will use MATRIX_IGNORE_USER_PATTERNS.
[[nodiscard]] bool valid_ecmascript_regex(const std::string& pattern);

/// The host of an absolute URL that passed url_problem, lower case.
[[nodiscard]] std::string url_host(std::string_view url);

/// `url` as it may be printed: credentials in its authority ("user:password@") shown as
/// "[redacted]@". Everything else is kept, so that a person still recognises it.
[[nodiscard]] std::string printable_url(std::string_view url);

} // namespace hm::profiles
