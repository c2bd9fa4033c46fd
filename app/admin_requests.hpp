#pragma once

// The admin API's decisions about a request, without actors or sockets: which
// endpoint it is, whether its token is the service's, and what a notification body
// says. admin_server.cpp asks the actors; the admin_request fuzz target drives these
// through the real HTTP server.

#include "errors/error.hpp"
#include "httpd/server.hpp"
#include "messages/notification.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hm {

/// The longest notification text: the homeserver takes events up to 64 KiB, and the
/// HTML of Markdown (or the ciphertext of an encrypted event) is larger than its text.
inline constexpr size_t max_notify_body = 16 * 1024;
/// The longest request body read: a notification's JSON with its escapes.
inline constexpr size_t max_admin_request_body = 4 * max_notify_body;

/// What a request asks for, by its method and path.
struct admin_route {
  enum class kind { healthz, readyz, status, notify, verifications, verification_action };
  kind what = kind::healthz;
  std::string profile; ///< the {name} of /v1/profiles/{name}/...
  std::string flow_id; ///< for verification_action: the {flow_id} of .../verifications/{flow_id}
};

/// The route of `req`, or the answer for a request that has none (404 for an unknown
/// path, 405 with Allow for a method the path does not take).
[[nodiscard]] std::variant<admin_route, httpd::response> route_of(const httpd::request& req);

/// Whether `route` needs the bearer token (everything but the probes).
[[nodiscard]] bool needs_token(const admin_route& route);

/// The 401 for a request without the right bearer token; nullopt when it has it.
[[nodiscard]] std::optional<httpd::response> refused(const httpd::request& req,
                                                     std::string_view token);

/// Reads {"body": "...", "format": "markdown", "idempotency_key": "..."} (the last two
/// optional); an invalid_input error otherwise.
[[nodiscard]] hm::expected<notification> read_notification(const std::string& text);

/// The operator's word on a verification. (Not named verification_action: that is the
/// message that carries it to the crypto actor, messages/profile_status.hpp.)
enum class verification_choice { confirm, reject, cancel, timeout };

/// "confirm", "reject", "cancel", "timeout": the word as the request and the message carry it.
[[nodiscard]] std::string_view to_string(verification_choice c);

/// Reads {"action": "confirm" | "reject" | "cancel"} ("timeout" too, which
/// `hermes-matrix verify` sends when nobody answered); the choice, or an
/// invalid_input error.
[[nodiscard]] hm::expected<verification_choice> read_verification_action(const std::string& text);

/// A JSON answer (pretty, invalid UTF-8 replaced).
[[nodiscard]] httpd::response reply_json(int status, const nlohmann::json& body);

} // namespace hm
