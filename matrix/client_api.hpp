#pragma once

// Builders and response parsers for the client-server API endpoints the bot uses
// (/_matrix/client/v3). A builder returns an http_request; the caller performs it and
// hands the response to the matching parse_* function, which returns the typed value or
// a matrix_error (parsed from a non-2xx response, or HM_BAD_RESPONSE for an unusable
// 2xx body). Ids in paths are percent-encoded here; callers pass them raw.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/errors.hpp"
#include "matrix/events.hpp"
#include "matrix/request.hpp"

namespace hm::matrix {

/// The JSON object of a 2xx response; for another status the parsed Matrix error, for
/// a 2xx body that is not a JSON object HM_BAD_RESPONSE starting with `what`. For
/// parsers of endpoints outside this file (media uploads, ...).
[[nodiscard]] result<nlohmann::json> success_object(const http_response& r,
                                                    std::string_view what);

/// The device display name the bot gives a new device at login.
inline constexpr std::string_view default_device_display_name = "Hermes Agent";

// ---- account --------------------------------------------------------------------------

/// GET /account/whoami
[[nodiscard]] http_request whoami_request();
struct whoami_response {
  std::string user_id;
  std::optional<std::string> device_id; // absent for appservice tokens without a device
  bool is_guest = false;
};
[[nodiscard]] result<whoami_response> parse_whoami(const http_response& r);

/// POST /login with m.login.password (identifier m.id.user). `device_id` reuses an
/// existing device (keeps its E2EE identity); empty lets the server create one. The
/// request is marked body_is_secret and needs no access token.
[[nodiscard]] http_request password_login_request(
    std::string_view user, std::string_view password,
    std::optional<std::string_view> device_id = std::nullopt,
    std::string_view initial_device_display_name = default_device_display_name);
struct login_response {
  std::string user_id;
  std::string access_token; // a secret: store it, never log it
  std::string device_id;
  std::optional<std::string> homeserver_base_url; // well_known."m.homeserver".base_url
};
[[nodiscard]] result<login_response> parse_login(const http_response& r);

/// GET /profile/{userId}/displayname
[[nodiscard]] http_request displayname_request(std::string_view user_id);
/// The display name, or nullopt when the user has none set (the field may be absent).
[[nodiscard]] result<std::optional<std::string>> parse_displayname(const http_response& r);

// ---- filter and sync ------------------------------------------------------------------

/// What a bot wants from /sync: a bounded timeline, lazy-loaded members (big rooms stay
/// cheap; the server sends the members of the senders in the timeline), no presence,
/// and no receipts or typing unless asked for.
struct sync_filter_options {
  unsigned timeline_limit = 50;
  bool lazy_load_members = true;
  bool include_ephemeral = false; // m.typing / m.receipt of other users
};
[[nodiscard]] nlohmann::json bot_sync_filter(const sync_filter_options& o = {});

/// POST /user/{userId}/filter
[[nodiscard]] http_request create_filter_request(std::string_view user_id,
                                                 const nlohmann::json& filter);
/// The filter_id.
[[nodiscard]] result<std::string> parse_create_filter(const http_response& r);

struct sync_options {
  std::optional<std::string> since;  // absent: initial sync
  std::optional<std::string> filter; // a filter id (or inline JSON filter text)
  std::chrono::milliseconds timeout{30'000}; // long-poll time the server may hold us
  bool full_state = false;
  bool set_presence_offline = true; // a bot is never "online" for presence purposes
};
/// GET /sync?... The request's timeout hint is the poll timeout plus 30 s of slack.
/// Parse the response with parse_sync (sync.hpp) or parse_matrix_error.
[[nodiscard]] http_request sync_request(const sync_options& o);

// ---- rooms ----------------------------------------------------------------------------

/// POST /join/{roomIdOrAlias}; `via`: servers to join through (for a room id).
[[nodiscard]] http_request join_request(std::string_view room_id_or_alias,
                                        const std::vector<std::string>& via = {},
                                        std::optional<std::string_view> reason = {});
/// The joined room's id.
[[nodiscard]] result<std::string> parse_join(const http_response& r);

/// POST /rooms/{roomId}/leave (also declines an invite).
[[nodiscard]] http_request leave_request(std::string_view room_id,
                                         std::optional<std::string_view> reason = {});

/// PUT /rooms/{roomId}/send/{eventType}/{txnId}
[[nodiscard]] http_request send_request(std::string_view room_id, std::string_view event_type,
                                        std::string_view txn_id,
                                        const nlohmann::json& content);
/// PUT /rooms/{roomId}/redact/{eventId}/{txnId}
[[nodiscard]] http_request redact_request(std::string_view room_id, std::string_view event_id,
                                          std::string_view txn_id,
                                          std::optional<std::string_view> reason = {});
/// The event_id of a send or redact.
[[nodiscard]] result<std::string> parse_event_id(const http_response& r);

/// PUT /rooms/{roomId}/typing/{userId}; `typing` false ignores `timeout`.
[[nodiscard]] http_request typing_request(std::string_view room_id, std::string_view user_id,
                                          bool typing,
                                          std::chrono::milliseconds timeout =
                                              std::chrono::seconds{30});

/// POST /rooms/{roomId}/receipt/m.read/{eventId}; `thread_id` for threaded receipts
/// ("main" or a thread root).
[[nodiscard]] http_request read_receipt_request(std::string_view room_id,
                                                std::string_view event_id,
                                                std::optional<std::string_view> thread_id = {});

/// GET /rooms/{roomId}/messages?dir=b&from=&to=&limit=: older events, newest first.
/// Used to fill the gap a `limited` sync timeline leaves (from = its prev_batch, to =
/// the sync token before it).
[[nodiscard]] http_request messages_before_request(std::string_view room_id,
                                                   std::string_view from, std::string_view to,
                                                   unsigned limit);

struct messages_page {
  std::vector<room_event> chunk; // newest first (dir=b)
  std::optional<std::string> end; // absent: nothing more in this direction
};
/// Malformed events in the chunk are dropped.
[[nodiscard]] result<messages_page> parse_messages(const http_response& r);

/// GET /rooms/{roomId}/joined_members
[[nodiscard]] http_request joined_members_request(std::string_view room_id);
struct joined_member {
  std::string user_id;
  std::optional<std::string> display_name;
};
[[nodiscard]] result<std::vector<joined_member>> parse_joined_members(const http_response& r);

/// GET /rooms/{roomId}/state: the full current state.
[[nodiscard]] http_request room_state_request(std::string_view room_id);
/// Malformed state events are dropped (they cannot be acted on anyway).
[[nodiscard]] result<std::vector<room_event>> parse_room_state(const http_response& r);

/// GET /rooms/{roomId}/state/{eventType}/{stateKey}: one state event's content
/// (`state_key` may be empty; the URL then ends in "/").
[[nodiscard]] http_request state_event_request(std::string_view room_id,
                                               std::string_view event_type,
                                               std::string_view state_key = {});
/// The content object (404 M_NOT_FOUND: no such state, an error value).
[[nodiscard]] result<nlohmann::json> parse_state_event(const http_response& r);

// ---- account data ---------------------------------------------------------------------

/// GET /user/{userId}/account_data/{type}
[[nodiscard]] http_request get_account_data_request(std::string_view user_id,
                                                    std::string_view type);
/// PUT /user/{userId}/account_data/{type}
[[nodiscard]] http_request put_account_data_request(std::string_view user_id,
                                                    std::string_view type,
                                                    const nlohmann::json& content);
/// The content object of a GET.
[[nodiscard]] result<nlohmann::json> parse_account_data(const http_response& r);
/// m.direct content with `room_id` added to `user_id`'s list (no duplicate).
[[nodiscard]] nlohmann::json add_direct_room(const nlohmann::json& m_direct,
                                             std::string_view user_id,
                                             std::string_view room_id);

// ---- to-device ------------------------------------------------------------------------

/// PUT /sendToDevice/{eventType}/{txnId}; `messages` is {user_id: {device_id: content}}.
[[nodiscard]] http_request send_to_device_request(std::string_view event_type,
                                                  std::string_view txn_id,
                                                  const nlohmann::json& messages);

/// For endpoints whose 2xx body we do not need (leave, typing, receipt, account data PUT,
/// to-device): success, or the error.
[[nodiscard]] result<empty_response> parse_empty(const http_response& r);

} // namespace hm::matrix
