#pragma once

// The command line's way to a running service's admin API (`status`, `verify`): which
// URL, which token file (the service's own by default), which CA; the errors a user can
// act on are printed here, prefixed with the command's name. Never prints the token.

#include "app/blocking_client.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

namespace hm {

struct admin_access {
  std::filesystem::path hermes_home;      // for the default token file
  std::string admin_url;
  std::filesystem::path admin_token_file; // empty: <home>/hermes-matrix/admin-token
  std::filesystem::path admin_ca_file;    // trusted for an https admin URL
};

/// A client for the admin API that sends the service's token; or, when the token
/// cannot be read or the URL is no URL, the exit code (the reason is printed).
[[nodiscard]] std::variant<blocking_client, int> admin_client(const admin_access& access,
                                                              std::string_view command);

/// Performs `request` against the admin API: the answer's JSON (any HTTP status, the
/// status put under "http_status"), or the exit code when the service cannot be
/// reached, refuses the token or answers no JSON (the reason is printed).
[[nodiscard]] std::variant<nlohmann::json, int>
admin_call(const blocking_client& client, const admin_access& access,
           const matrix::http_request& request, std::string_view command);

} // namespace hm
