#pragma once

// Room key requests (m.room_key_request, sent in clear over /sendToDevice) and the
// answer to them (m.forwarded_room_key, over Olm). We ask when an event's Megolm session
// is missing; we answer only our own devices that the caller vouches for (a bot's keys
// are not for anyone who asks). Plus the rate limit for replacing a broken Olm session.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "matrix/crypto/megolm.hpp"
#include "matrix/errors.hpp"

namespace hm::matrix::crypto {

/// Which session is missing (the `body` of a request).
struct requested_key {
  std::string room_id;
  std::string session_id;
  std::string sender_key; // the session creator's curve25519 (deprecated, still sent)
};

/// m.room_key_request content asking for `key`. `request_id` must be stable for the
/// missing session (so that a restart re-sends rather than multiplies requests) and
/// unique among our requests; derive it with derive_txn_id(session_id, 0, "keyreq").
[[nodiscard]] nlohmann::json room_key_request_content(const requested_key& key,
                                                      std::string_view request_id,
                                                      std::string_view own_device_id);
/// m.room_key_request content cancelling `request_id` (the key arrived).
[[nodiscard]] nlohmann::json room_key_request_cancellation(std::string_view request_id,
                                                           std::string_view own_device_id);
/// The /sendToDevice messages map for a request: all our own devices ("*") and the
/// device that sent the event, when known.
[[nodiscard]] nlohmann::json room_key_request_messages(const nlohmann::json& content,
                                                       std::string_view own_user_id,
                                                       std::string_view sender_user_id,
                                                       std::optional<std::string_view> sender_device);

/// An m.room_key_request someone sent us.
struct incoming_key_request {
  bool cancellation = false;
  std::string requesting_device_id;
  std::string request_id;
  std::optional<requested_key> key; // set for a request (not for a cancellation)
};
/// HM_BAD_KEY when the content is neither a Megolm request nor a cancellation.
[[nodiscard]] result<incoming_key_request> parse_room_key_request(const nlohmann::json& content);

enum class key_share_decision {
  share,                 // answer with forwarded_room_key_content over Olm
  ignore_own_request,    // this device asked (to-device echo)
  refuse_other_user,     // not our user: never
  refuse_unverified,     // our user, but a device the caller does not vouch for
  refuse_unknown_session // we do not have the session either
};
[[nodiscard]] std::string_view to_string(key_share_decision d);

/// Whether to answer a request from `sender` (the to-device event's sender).
[[nodiscard]] key_share_decision decide_key_share(const incoming_key_request& request,
                                                  std::string_view sender,
                                                  std::string_view own_user_id,
                                                  std::string_view own_device_id,
                                                  bool requesting_device_verified,
                                                  bool have_session);

/// The m.forwarded_room_key content for `session`, exported from its first known index,
/// with the forwarding chain it came with. Holds a secret.
[[nodiscard]] result<nlohmann::json> forwarded_room_key_content(const inbound_group_session& session);

/// Whether a new Olm session (and an m.dummy over it) may replace a broken one with a
/// device now: at most once an hour per device (spec "Recovering from unable to decrypt
/// errors"); `last_ms` is when we last did it for that device, if ever.
[[nodiscard]] bool may_replace_broken_session(std::optional<std::int64_t> last_ms,
                                              std::int64_t now_ms);
inline constexpr std::int64_t broken_session_interval_ms = 60LL * 60 * 1000;

} // namespace hm::matrix::crypto
