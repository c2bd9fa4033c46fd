#pragma once

// Synapse's admin API for user accounts (not part of the Matrix spec), as
// `hermes-matrix provision` uses it: see
// https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html
// (its "Override ratelimiting for users" for the message rate limit).
// Builders and parsers like client_api.hpp; the caller adds the admin's token.

#include "matrix/errors.hpp"
#include "matrix/request.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hm::matrix {

/// The admin API's prefix for user accounts.
inline constexpr std::string_view synapse_admin_users = "/_synapse/admin/v2/users/";

/// A user account as the admin API shows it (only what provisioning needs).
struct admin_user {
  std::string name; // the full MXID
  std::optional<std::string> displayname;
  bool admin = false;
  bool deactivated = false;
};

/// GET /_synapse/admin/v2/users/{userId}
[[nodiscard]] http_request admin_get_user_request(std::string_view user_id);
/// The account, or nullopt when there is none (404 M_NOT_FOUND).
[[nodiscard]] result<std::optional<admin_user>> parse_admin_get_user(const http_response& r);

/// PUT /_synapse/admin/v2/users/{userId} with a password, a display name (when
/// given) and admin false: creates the account (201) or, when it exists, sets
/// its password, which also logs out its devices (200). The body is secret.
[[nodiscard]] http_request admin_put_user_request(std::string_view user_id,
                                                  std::string_view password,
                                                  std::optional<std::string_view> displayname);
/// The account after the PUT, and whether it was created (201) or modified (200).
struct admin_put_result {
  admin_user user;
  bool created = false;
};
[[nodiscard]] result<admin_put_result> parse_admin_put_user(const http_response& r);

/// A user's own message rate limit (rc_message); messages_per_second 0 means none.
struct admin_ratelimit {
  std::int64_t messages_per_second = 0;
  std::int64_t burst_count = 0;
};

/// POST /_synapse/admin/v1/users/{userId}/override_ratelimit: sets the user's own
/// message rate limit ({0, 0}: the user is not rate limited at all).
[[nodiscard]] http_request admin_set_ratelimit_request(std::string_view user_id,
                                                       admin_ratelimit limit);
/// The override now in force, as the server answers it.
[[nodiscard]] result<admin_ratelimit> parse_admin_ratelimit(const http_response& r);

} // namespace hm::matrix
