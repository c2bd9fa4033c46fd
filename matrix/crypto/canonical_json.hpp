#pragma once

// Matrix canonical JSON (spec appendix "Canonical JSON"): keys sorted by code point,
// no insignificant whitespace, UTF-8 unescaped except the escapes the grammar requires
// (\" \\ \b \f \n \r \t and \u00XX, lower-case hex, for the other control characters),
// integers only, in [-(2^53)+1, 2^53-1]. These are the bytes every signature covers.

#include <string>

#include <nlohmann/json.hpp>

#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

/// The largest magnitude canonical JSON allows (2^53 - 1).
inline constexpr std::int64_t canonical_int_max = 9007199254740991;

/// The canonical encoding of `value`. Errors (HM_NOT_CANONICAL_JSON): a non-integral
/// number, an integer out of range, a string that is not valid UTF-8, nesting deeper than
/// 128. A float that holds an exact integer (1e10, -0.0) is written as that integer: the
/// spec's own vectors ask for {"a":-0,"b":1e10} → {"a":0,"b":10000000000}.
[[nodiscard]] result<std::string> canonical_json(const nlohmann::json& value);

/// What a signature over `object` covers: its canonical JSON without the top-level
/// `signatures` and `unsigned` members (spec "Signing Details"). Error also when
/// `object` is not an object.
[[nodiscard]] result<std::string> signable_json(const nlohmann::json& object);

} // namespace hm::matrix::crypto
