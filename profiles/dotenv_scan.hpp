#pragma once

// The .env scanner shared by parse_dotenv (which wants values) and with_dotenv_key
// (which also needs to know where each assignment sits in the text).
// Internal to profiles/; other layers use dotenv.hpp.

#include "profiles/problem.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hm::profiles::detail {

/// One assignment, with byte offsets into the scanned text (after the BOM).
struct dotenv_binding {
  std::string key;
  std::string value;
  int line = 0;               // line of the key
  std::size_t start = 0;      // first byte of `export ` or the key
  std::size_t key_start = 0;  // first byte of the key
  std::size_t value_end = 0;  // one past the value (after a closing quote)
  std::size_t content_end = 0;// one past the line's content (before its line end)
  bool no_value = false;      // a bare `KEY` line: cancels earlier assignments of KEY
};

struct dotenv_scan {
  std::size_t bom = 0; // 3 when the text starts with a UTF-8 BOM, else 0
  std::vector<dotenv_binding> bindings;
  /// A value was closed by python-dotenv's backtracking to the last quote of the text
  /// (`A="x\"` with no later quote): adding a quote after it changes what it means.
  bool fragile = false;
};

/// Scans `text` the way python-dotenv's parser does (see dotenv.cpp) and appends
/// every problem to `issues`, naming `path`.
[[nodiscard]] dotenv_scan scan_dotenv(std::string_view text, const std::filesystem::path& path,
                                      problems& issues);

/// True for `[A-Za-z_][A-Za-z0-9_.]*`, the names we write and echo in problems.
[[nodiscard]] bool portable_key(std::string_view key);

/// `[A-Z_][A-Z0-9_]*` with a '_', at most 64 bytes: safe to echo even without '='.
[[nodiscard]] bool env_style(std::string_view key);

/// Offset of the first byte that is not valid UTF-8, or npos.
[[nodiscard]] std::size_t invalid_utf8_at(std::string_view s);

} // namespace hm::profiles::detail
