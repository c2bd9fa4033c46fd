#pragma once

// Parsing JSON that a homeserver (or anyone in a room) wrote: bounded in depth and size,
// never throwing. Everything in matrix/ that reads bytes goes through here.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hm::matrix {

/// Limits for untrusted JSON. Nesting is what can hurt (recursive algorithms over the
/// tree: dump, comparison, our own walkers); Matrix events are shallow, a sync body
/// is about 10 levels, so 64 leaves ample room while keeping recursion trivially safe.
struct json_limits {
  std::size_t max_depth = 64;
  std::size_t max_bytes = 256u * 1024u * 1024u; // a very large initial sync still fits
  /// Drop values nested deeper than max_depth (their member or array slot goes) instead
  /// of refusing the whole text. For bodies that carry other people's events (a sync, a
  /// page of /messages): one sender's deeply nested content must not make every later
  /// sync fail, which would stop the profile for good.
  bool prune_too_deep = false;
  /// Replace `\uD800`-style escapes of lone UTF-16 surrogates (which JSON's grammar
  /// allows, Python's json emits, and nlohmann refuses) with U+FFFD before parsing, for
  /// the same reason: one sender's message must not make the whole body unreadable.
  bool repair_lone_surrogates = false;
};

/// `text` with every escaped lone surrogate inside a JSON string replaced by `\uFFFD`;
/// escaped pairs and everything else unchanged.
[[nodiscard]] std::string repair_lone_surrogates(std::string_view text);

/// Parses `text` as JSON, or nullopt when it is not JSON, nests deeper than the limit, or
/// is larger than allowed. `why` (when given) receives a short reason without content.
[[nodiscard]] std::optional<nlohmann::json>
parse_bounded_json(std::string_view text, const json_limits& limits = {},
                   std::string* why = nullptr);

/// Nesting depth of the JSON text (objects and arrays), scanning bytes only: strings and
/// escapes are skipped, so `"[[["` counts 0. Stops counting at `stop_at` + 1.
[[nodiscard]] std::size_t json_nesting_depth(std::string_view text, std::size_t stop_at);

// Type-checked field access: nullopt instead of an exception when the field is missing
// or of another JSON type. Integers must be JSON integers (no floats, per canonical JSON).
[[nodiscard]] const nlohmann::json* find_field(const nlohmann::json& obj, std::string_view key);
[[nodiscard]] std::optional<std::string> string_field(const nlohmann::json& obj,
                                                      std::string_view key);
[[nodiscard]] std::optional<std::int64_t> int_field(const nlohmann::json& obj,
                                                    std::string_view key);
/// The value itself as an integer (same rules as int_field).
[[nodiscard]] std::optional<std::int64_t> int_value(const nlohmann::json& v);
[[nodiscard]] std::optional<bool> bool_field(const nlohmann::json& obj, std::string_view key);
/// The object at `key`, or nullptr when absent or not an object.
[[nodiscard]] const nlohmann::json* object_field(const nlohmann::json& obj,
                                                 std::string_view key);
/// The array at `key`, or nullptr when absent or not an array.
[[nodiscard]] const nlohmann::json* array_field(const nlohmann::json& obj,
                                                std::string_view key);

} // namespace hm::matrix
