#pragma once

// Policy: which Matrix messages a profile answers, which are commands, and which it
// leaves alone (and why). Sans-I/O: the caller fills plain structs from a parsed event
// and the room state it knows; nothing here talks to a server or keeps state.
//
// Each rule names the Hermes behaviour it mirrors. "inbound_events.py" below is
// plugins/platforms/matrix/inbound_events.py of NousResearch/hermes-agent
// (`_on_room_message`, `_resolve_message_context`), "authz" is gateway/run.py /
// gateway/authz_mixin.py `_is_user_authorized`.

#include "profiles/commands.hpp"
#include "profiles/config.hpp"
#include "profiles/mentions.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hm::profiles {

/// What the caller knows about the room of a message.
struct room_facts {
  std::string room_id;
  bool is_dm = false; // see is_dm() below
  /// The bot has already taken part in the message's thread (it answered there or the
  /// thread was started for it). Hermes (`ThreadParticipationTracker`, inbound_events.py:
  /// `in_bot_thread`) answers in such threads without a new mention.
  bool bot_in_thread = false;
};

/// An m.room.message as the matrix module parsed it.
struct incoming_message {
  std::string event_id;
  std::string sender;
  std::string msgtype;        // m.text, m.notice, m.emote, m.image, ..., "m.sticker" for stickers
  std::string body;           // reply fallback already stripped; for media: the caption ("" for none)
  std::string formatted_body; // may be empty
  bool has_mentions_field = false;             // content has m.mentions
  std::vector<std::string> mentioned_user_ids; // m.mentions.user_ids
  bool mentions_room = false;                  // m.mentions.room
  std::optional<std::string> thread_root;      // m.relates_to rel_type m.thread
  std::optional<std::string> in_reply_to;      // m.relates_to m.in_reply_to
  bool is_edit = false;                        // m.relates_to rel_type m.replace
  bool is_redacted = false;                    // unsigned.redacted_because
};

/// Why a message is left alone. A small fixed set: it becomes a metric label.
enum class ignore_reason {
  own_event,           // sent by the bot itself
  bridge_sender,       // appservice/bridge ghost (`@_telegram_1:server`) or malformed id
  ignored_pattern,     // sender matches MATRIX_IGNORE_USER_PATTERNS
  sender_not_allowed,  // sender not in MATRIX_ALLOWED_USERS (and not allow-all)
  redacted,            // the event was redacted
  room_not_allowed,    // group room outside MATRIX_ALLOWED_ROOMS
  edit,                // m.replace: an edit is not answered again
  notice,              // m.notice without MATRIX_PROCESS_NOTICES
  unsupported_msgtype, // not text, a notice, an emote or media
  not_mentioned,       // group room needs a mention and there is none
  other_bot_command,   // `/cmd@another-bot`
  empty,               // nothing left to answer
};
inline constexpr std::size_t ignore_reason_count = 12;
static_assert(static_cast<std::size_t>(ignore_reason::empty) + 1 == ignore_reason_count,
              "empty stays the last reason; count them all");

[[nodiscard]] const char* to_string(ignore_reason r);

enum class verdict { answer, command, ignore };

[[nodiscard]] const char* to_string(verdict v);

/// What to do with one message.
struct decision {
  verdict what = verdict::ignore;
  std::optional<ignore_reason> reason; // set for verdict::ignore
  std::optional<command> cmd;          // set for verdict::command
  std::string text;                    // for verdict::answer: what the agent gets
  bool mentioned = false;              // the message mentions the bot
};

/// Decides about one message. Order (first match wins), each as Hermes does:
///  1. own_event: sender is the bot (compared ignoring case; a bot whose own id is not
///     known yet answers nothing), inbound_events.py `_is_self_sender`.
///  2. bridge_sender: the sender's localpart is empty or starts with `_`, the appservice
///     convention for bridge puppets and server bots (inbound_events.py
///     `_is_system_or_bridge_sender`: a bridge relays the bot's answers back as new
///     messages, "the hall of mirrors", Hermes #15763). Unlike Hermes, an exact entry in
///     MATRIX_ALLOWED_USERS overrides this, so an operator can let one bridged person in.
///  3. ignored_pattern: a MATRIX_IGNORE_USER_PATTERNS regex is *found* in the sender
///     (`pattern.search(sender)`, not a full match), inbound_events.py.
///  4. sender_not_allowed: see sender_allowed(). Hermes checks this in the gateway after
///     the adapter's gates; the verdict is the same, we check it early so that a
///     stranger's message never gets as far as command parsing.
///  5. redacted: `redacted_because` in unsigned, inbound_events.py.
///  6. room_not_allowed: MATRIX_ALLOWED_ROOMS set, room not in it, not a DM
///     ("whitelist first: non-listed rooms are dropped even when @mentioned (DMs
///     exempt)", inbound_events.py).
///  7. edit: m.replace is not answered again (Hermes' default; MATRIX_PROCESS_EDITS is
///     not supported here).
///  8. notice: m.notice unless MATRIX_PROCESS_NOTICES ("prevents bot-to-bot loops").
///  9. unsupported_msgtype: m.text, m.notice, m.emote and media (is_media_msgtype) are
///     taken; anything else (m.location, a custom msgtype) is not.
/// 10. empty: empty body (media without a caption is not empty: the file is the message).
/// 11. a known command (commands.hpp; not in m.emote or a caption) -> verdict::command,
///     whether or not the bot is mentioned ("commands bypass the mention requirement");
///     other_bot_command for `/cmd@someone-else`.
/// 12. not_mentioned: group room, MATRIX_REQUIRE_MENTION, not a free-response room, not a
///     thread the bot takes part in, and mentions_bot() is false (inbound_events.py).
///     Unlike Hermes, an unknown `/foo` needs a mention like any text: Hermes lets every
///     `/`-prefixed body through the mention gate, which in a room shared with other
///     bots answers their commands.
/// 13. answer, with text = strip_mention(body) (empty after stripping -> empty). Hermes
///     strips only when MATRIX_REQUIRE_MENTION is on; we strip a mention whenever there
///     is one, so "Hermes Coder: do x" in a free-response room reaches the agent as "do x".
///     Hermes labels m.emote text for the agent; we give it as "* <sender> <body>", the
///     way clients without emote rendering show it.
/// m.image, m.audio, m.video, m.file and stickers: a file the agent gets (issue 15).
/// In a group room that needs a mention, the caption must mention the bot, as in Hermes.
[[nodiscard]] bool is_media_msgtype(std::string_view msgtype);

[[nodiscard]] decision decide(const profile_config& config, const bot_identity& bot,
                              const room_facts& room, const incoming_message& msg);

/// May `user_id` talk to the bot (and invite it)? As Hermes' authz: allow-all
/// (MATRIX_ALLOW_ALL_USERS or GATEWAY_ALLOW_ALL_USERS, both read into allow_all_users),
/// or `*` in MATRIX_ALLOWED_USERS, or an exact entry. An empty list without allow-all
/// allows nobody (Hermes: "no allowlists configured -- check global allow-all flag",
/// default deny; its pairing flow is not offered here).
[[nodiscard]] bool sender_allowed(const profile_config& config, std::string_view user_id);

/// True when a MATRIX_IGNORE_USER_PATTERNS regex (ECMAScript) is found in `user_id`.
/// A pattern that does not compile matches nothing (config validation reports it).
[[nodiscard]] bool sender_ignored(const profile_config& config, std::string_view user_id);

/// Join a room `inviter` invited the bot to? Only when the inviter may talk to the bot
/// and is neither ignored nor a bridge ghost (the same sender rules as decide());
/// otherwise the caller declines (leaves) the invite, which Hermes
/// does not (it only logs). Hermes joined pending invites found at start-up without
/// checking the inviter (#87258; later fixed in plugins/platforms/matrix/invites.py
/// `_schedule_pending_invite_joins`, "an inviter missing from the stripped invite state
/// fails closed"): the caller asks this for those too, and an empty inviter is refused.
[[nodiscard]] bool should_join(const profile_config& config, std::string_view inviter);

/// A room is a DM when it is in the bot's `m.direct` account data or has at most two
/// joined members (Hermes `_resolve_room_identity`: "<=2 members is necessarily a DM").
/// `joined_members` 0 means unknown.
[[nodiscard]] bool is_dm(bool in_m_direct, std::size_t joined_members);

/// What to do with a message for a session that is still answering the one before.
/// Hermes' `display.busy_input_mode` (config defaults in hermes_cli, also
/// HERMES_GATEWAY_BUSY_INPUT_MODE) defaults to `interrupt`: the running turn is stopped
/// and the new message is answered next. `queue` keeps it for later; Hermes' third mode,
/// `steer` (inject into the running turn), needs the agent in-process and is not offered.
/// Commands never come here (they bypass the busy queue).
enum class busy_input_mode { interrupt, queue };
enum class busy_action { interrupt, queue, reject_full };

[[nodiscard]] const char* to_string(busy_action a);

/// At most this many messages wait for one session in queue mode.
inline constexpr std::size_t max_queued_messages = 32;

/// `queued`: messages already waiting for the session.
[[nodiscard]] busy_action on_busy(busy_input_mode mode, std::size_t queued);

} // namespace hm::profiles
