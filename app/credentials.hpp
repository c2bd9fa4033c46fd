#pragma once

// What `login` and `provision` share: where a profile lives, asking for a
// password without echo, and writing a login's credentials into a .env.

#include "errors/error.hpp"
#include "matrix/client_api.hpp"
#include "profiles/secret.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hm {

/// The directory of profile `name` under `home`: the home itself for
/// "default", else `profiles/<name>`. nullopt when `name` is not a valid
/// Hermes profile name.
[[nodiscard]] std::optional<std::filesystem::path>
profile_directory(const std::filesystem::path& home, const std::string& name);

/// The password: one line from stdin (`from_stdin`), else asked on the
/// controlling terminal with echo off. nullopt (and a message on stderr) when
/// there is no terminal, or nothing was entered.
[[nodiscard]] std::optional<secret> read_password(bool from_stdin, const std::string& prompt);

/// Writes what a login returned (MATRIX_USER_ID, MATRIX_DEVICE_ID,
/// MATRIX_ACCESS_TOKEN) and the `extra` keys into `env_file` in one atomic
/// write (created with mode 0600 when missing). The error names the file,
/// never a value.
[[nodiscard]] hm::expected<void>
write_credentials(const std::filesystem::path& env_file, const matrix::login_response& login,
                  const std::vector<std::pair<std::string, std::string>>& extra = {});

/// Prints "hermes-matrix <command>: <text>" to stderr and returns exit_failure.
int fail(const char* command, const std::string& text);

} // namespace hm
