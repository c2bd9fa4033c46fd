#pragma once

#include "errors/error.hpp"
#include "profiles/problem.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hm::profiles {

/// One `KEY=value` assignment of a .env file.
struct dotenv_entry {
  std::string key;
  std::string value; // unquoted, escapes resolved
  int line = 0;      // 1-based line of the assignment
};

/// A parsed .env file: the assignments in file order, and what was wrong with it.
/// Lines that cannot be parsed are reported and skipped; the rest still counts.
struct dotenv_file {
  std::filesystem::path path;
  std::vector<dotenv_entry> entries;
  problems issues;

  /// The effective assignment of `key` (the last one, as python-dotenv does).
  [[nodiscard]] const dotenv_entry* find(std::string_view key) const;
};

/// Parses dotenv text. `path` is only used to name the file in problems.
/// Syntax: `KEY=value`, `export KEY=value`, 'single' (literal) and "double" quotes
/// (\n \t \r \" \\ escapes, may span lines), `#` comments (also after an unquoted
/// value), blank lines, CRLF line ends, a UTF-8 BOM.
[[nodiscard]] dotenv_file parse_dotenv(std::string_view text,
                                       const std::filesystem::path& path);

/// python-dotenv's interpolation, which Hermes gets by default (load_dotenv with
/// interpolate=True, override=True): in every value, `${NAME}` and `${NAME:-default}`
/// become the value of NAME from an earlier line of this file, else from
/// `environment` (the process environment in load_profile), else the default or "".
/// Values are replaced in place; a reference to an unset name without a default is a
/// warning. parse_dotenv leaves values literal, so that rewriting keeps them.
void interpolate_dotenv(dotenv_file& file,
                        const std::function<std::optional<std::string>(const std::string&)>& environment);

/// Reads and parses a .env file; an unreadable file is a problem, not an exception.
[[nodiscard]] dotenv_file read_dotenv(const std::filesystem::path& path);

/// How `value` is written after `KEY=` so that parse_dotenv (and python-dotenv) read
/// exactly `value` back: bare when it is plain, else single or double quoted.
/// nullopt when it cannot be written: a NUL byte, invalid UTF-8, `${...}` (Hermes
/// would interpolate it, quoted or not), or, when it needs double quotes, a trailing
/// backslash, which python-dotenv's pattern misreads.
[[nodiscard]] std::optional<std::string> quote_dotenv_value(std::string_view value);

/// Returns `text` with `key` set to `value`: the last assignment of `key` is
/// replaced in place (keeping its `export ` prefix), or a line is appended.
/// Every other line, comment, blank line and line ending is kept byte for byte, and so
/// is a comment after the replaced value. An appended line uses the file's line end.
/// `value` must be writable (quote_dotenv_value); otherwise it is written as empty.
[[nodiscard]] std::string with_dotenv_key(std::string_view text, std::string_view key,
                                          std::string_view value);

/// Sets `key` in the file at `path` atomically (temp file in the same directory,
/// fsync, rename, fsync of the directory) and keeps the file's mode; a missing file is
/// created with mode 0600. An error on failure (invalid_input: a key or value that
/// cannot be written; io: the file system), never holding the value.
[[nodiscard]] hm::expected<void>
write_dotenv_key(const std::filesystem::path& path, std::string_view key,
                 std::string_view value);

/// Sets several keys in one atomic write (as write_dotenv_key does for one), so that
/// credentials that belong together (token, user, device) are never half written.
/// Nothing is written when any key or value is not writable.
[[nodiscard]] hm::expected<void>
write_dotenv_keys(const std::filesystem::path& path,
                  const std::vector<std::pair<std::string_view, std::string_view>>& keys);

} // namespace hm::profiles
