#pragma once

// The event model: events keep their raw JSON (so nothing a newer spec adds is lost, and
// the crypto layer can hash or re-sign exactly what arrived) and offer typed accessors
// for what the bot reads. Content parsers take the `content` object and return nullopt
// when it does not have the required shape; they never throw.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hm::matrix {

/// A room event (timeline or state) with the fields every room event has.
struct room_event {
  nlohmann::json raw;
  std::string type;
  std::string sender;
  std::string event_id;
  std::optional<std::string> state_key; // present: a state event ("" is a valid key)
  std::int64_t origin_server_ts = 0;

  /// raw["content"], or an empty object when that is missing or not an object.
  [[nodiscard]] const nlohmann::json& content() const;
  /// Redacted by the server: `unsigned.redacted_because` is present.
  [[nodiscard]] bool is_redacted() const;
  /// For m.room.redaction: the redacted event id (content.redacts since room v11,
  /// top-level before).
  [[nodiscard]] std::optional<std::string> redacts() const;
  /// `unsigned.transaction_id`: set on our own events as echoed back to this device.
  [[nodiscard]] std::optional<std::string> transaction_id() const;
};

/// A stripped state event (invite_state / knock_state): no event_id, no timestamp.
struct stripped_event {
  nlohmann::json raw;
  std::string type;
  std::string sender;
  std::string state_key;
  [[nodiscard]] const nlohmann::json& content() const;
};

/// Account data, ephemeral (m.typing, m.receipt) and to-device events: type and content;
/// `sender` is set for to-device events only.
struct basic_event {
  nlohmann::json raw;
  std::string type;
  std::string sender;
  [[nodiscard]] const nlohmann::json& content() const;
};

// Validation of raw events. On failure they return nullopt and, when `why` is given,
// say which field is wrong (no content is copied into the reason).
[[nodiscard]] std::optional<room_event> to_room_event(nlohmann::json raw,
                                                      std::string* why = nullptr);
/// A decrypted event's content keeps its own m.relates_to; without one it takes the
/// encrypted wrapper's, which travels in clear beside the ciphertext (spec: "Mixing
/// encrypted and unencrypted content"; matrix-nio moves it out of the payload, Element
/// copies it). `decrypted` is the plaintext event ({type, content, room_id}).
void take_clear_relation(nlohmann::json& decrypted, const room_event& wrapper);
[[nodiscard]] std::optional<stripped_event> to_stripped_event(nlohmann::json raw,
                                                              std::string* why = nullptr);
/// `require_sender`: to-device events must have one, account data has none.
[[nodiscard]] std::optional<basic_event>
to_basic_event(nlohmann::json raw, bool require_sender, std::string* why = nullptr);

// ---- m.room.message content ---------------------------------------------------------

/// m.mentions (intentional mentions). Absent from a message means "legacy client":
/// the caller may fall back to body matching; present and empty means "no one".
struct intentional_mentions {
  std::vector<std::string> user_ids;
  bool room = false;
};

/// m.relates_to, flattened: the relation (rel_type + event_id) and the reply target.
struct relation {
  std::optional<std::string> rel_type; // "m.thread", "m.replace", "m.annotation", ...
  std::optional<std::string> event_id; // the related event (thread root, original, ...)
  std::optional<std::string> key;      // m.annotation: the reaction key
  std::optional<std::string> in_reply_to; // m.in_reply_to.event_id
  bool is_falling_back = false;        // m.thread: the reply is only a fallback

  [[nodiscard]] std::optional<std::string> thread_root() const;
  [[nodiscard]] std::optional<std::string> replaces() const;   // m.replace original
  [[nodiscard]] std::optional<std::string> annotates() const;  // m.annotation target
  /// The event this one really replies to: in_reply_to, unless it is only a thread
  /// fallback (then it is no reply at all).
  [[nodiscard]] std::optional<std::string> reply_to() const;
};

/// The text-bearing part of a message (also the shape of m.new_content).
struct message_body {
  std::string msgtype;                      // "m.text", "m.notice", "m.emote", "m.image", ...
  std::string body;
  std::optional<std::string> format;        // "org.matrix.custom.html"
  std::optional<std::string> formatted_body;
  std::optional<intentional_mentions> mentions; // absent vs present matters, see above
};

struct message_content : message_body {
  std::optional<relation> relates_to;
  std::optional<message_body> new_content; // m.replace: the replacement
};

/// Reads m.room.message content; nullopt when msgtype or body is missing or not a string.
/// A malformed m.relates_to / m.mentions / m.new_content is ignored (treated as absent),
/// not fatal: the message itself is still readable.
[[nodiscard]] std::optional<message_content> parse_message_content(const nlohmann::json& c);
[[nodiscard]] std::optional<message_body> parse_message_body(const nlohmann::json& c);
[[nodiscard]] std::optional<relation> parse_relation(const nlohmann::json& relates_to);
[[nodiscard]] std::optional<intentional_mentions> parse_mentions(const nlohmann::json& m);

/// Removes a reply fallback from a plain body: the leading lines that start with ">"
/// (the quoted original) and the one empty line after them. Bodies without a fallback
/// come back unchanged. Only call it for events that are replies (relation::in_reply_to
/// set): a plain message may legitimately start with a quote. (Fallbacks were removed from the spec in v1.13, but older
/// clients still send them.)
[[nodiscard]] std::string strip_reply_fallback(std::string_view body);
/// Removes the `<mx-reply>…</mx-reply>` block from a formatted body (anywhere; only the
/// first one, as spec'd, and only when it is closed).
[[nodiscard]] std::string strip_reply_fallback_html(std::string_view formatted_body);

// ---- state content --------------------------------------------------------------------

/// m.room.member content.
struct member_content {
  std::string membership; // "invite", "join", "knock", "leave", "ban"
  std::optional<std::string> displayname;
  std::optional<std::string> reason;
  bool is_direct = false; // on an invite: the inviter means it as a DM
};
[[nodiscard]] std::optional<member_content> parse_member_content(const nlohmann::json& c);

/// m.room.encryption content. Rotation defaults (one week, 100 messages) are the
/// caller's business: absent stays absent here.
struct encryption_content {
  std::string algorithm; // "m.megolm.v1.aes-sha2"
  std::optional<std::int64_t> rotation_period_ms;
  std::optional<std::int64_t> rotation_period_msgs;
};
[[nodiscard]] std::optional<encryption_content>
parse_encryption_content(const nlohmann::json& c);

/// m.direct account data content: user id → the DM room ids with them. Entries of the
/// wrong type are skipped.
using direct_rooms = std::vector<std::pair<std::string, std::vector<std::string>>>;
[[nodiscard]] direct_rooms parse_direct_content(const nlohmann::json& c);

} // namespace hm::matrix
