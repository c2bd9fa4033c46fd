#pragma once

// The bearer token of the admin HTTP API: read from a file (--admin-token-file), or
// generated once into a private file under the Hermes home. Only the file's path is
// ever logged or printed, never the token.

#include <filesystem>
#include <string>
#include <string_view>

namespace hm {

/// A token read from (or written to) a file, or why that failed.
struct admin_token {
  std::string value; ///< empty when `error` is set
  std::string error; ///< user-facing, names the file; never holds the token
};

/// Where `run` keeps the generated token and `status` looks for it by default:
/// <hermes home>/hermes-matrix/admin-token.
[[nodiscard]] std::filesystem::path default_admin_token_path(const std::filesystem::path& home);

/// The token in `path` (surrounding whitespace trimmed), or a user-facing error
/// naming the file: missing, a symbolic link, not ours, readable by others (it must be
/// mode 0600), empty, more than one word, or shorter than 16 characters.
[[nodiscard]] admin_token read_admin_token(const std::filesystem::path& path);

/// The token in `path`; when the file does not exist, a new random token is written
/// there first (mode 0600, its directory 0700). An error text on failure.
[[nodiscard]] admin_token read_or_create_admin_token(const std::filesystem::path& path);

/// Compares a presented token with the expected one in time that depends only on
/// the expected token's length, never on where they differ.
[[nodiscard]] bool same_token(std::string_view presented, std::string_view expected);

/// The token of an "Authorization: Bearer <token>" header value; empty when the
/// value is not a bearer credential.
[[nodiscard]] std::string_view bearer_token(std::string_view authorization);

} // namespace hm
