#pragma once

// Is a Matrix message addressed to the bot, and the text without that address.
// Plain string work on the event's body/formatted_body/m.mentions; no I/O.

#include <string>
#include <string_view>
#include <vector>

namespace hm::profiles {

/// Who the bot is on Matrix: `@hermes-coder:example.org`, "Hermes Coder".
struct bot_identity {
  std::string user_id;
  std::string display_name; // may be empty
};

/// `@hermes-coder:example.org` -> `hermes-coder`; empty when `user_id` has no `:`.
[[nodiscard]] std::string localpart(std::string_view user_id);

/// The parts of an m.room.message that can mention someone.
struct mention_sources {
  std::string_view body;            // reply fallback already stripped
  std::string_view formatted_body;  // org.matrix.custom.html, may be empty
  /// m.mentions.user_ids; null or empty when the event has no m.mentions. Whether the
  /// field is present does not matter (see mentions_bot).
  const std::vector<std::string>* mentioned_user_ids = nullptr;
};

/// True when the message mentions the bot. Any one of these counts:
/// 1. `m.mentions.user_ids` holds the bot's user id;
/// 2. the body holds the full user id (not as part of a longer id);
/// 3. the body holds the localpart or the display name as a whole word, ignoring ASCII
///    case: not inside another word, where `-`, `_` and digits are word characters (so
///    `hermes-coder-2` does not mention `hermes-coder`) and `.` `/` `=` `+` count as
///    inside a word only when a letter or digit follows (`hermes-coder.` at the end of
///    a sentence is a mention);
/// 4. formatted_body links to the bot: `https://matrix.to/#/@bot:server` (also
///    percent-encoded, e.g. `%40bot%3Aserver`, and with `?via=` parameters) or a
///    `matrix:u/bot:server` URI.
///
/// Hermes (plugins/platforms/matrix/adapter.py `_is_bot_mentioned`) does 1, 2, the
/// localpart part of 3 (`\b` word boundaries, re.IGNORECASE) and an unencoded 4; the
/// display name and percent-encoded pills are ours (Element puts the display name into
/// the body of a pill, and some clients encode the link).
///
/// `m.mentions` present without the bot: the body is still searched. The spec's
/// intentional mentions (v1.7, "User and room mentions") let *push rules* skip body
/// matching when `m.mentions` is present, so that quoting or talking about someone does
/// not notify them. Hermes treats `m.mentions` as authoritative only when it names the
/// bot and we do the same: Element sends `m.mentions: {}` with every message, so a user
/// who types "hermes-coder, what about x?" without picking the pill would otherwise be
/// ignored without a word, the most common way people address a bot in a room. Reply
/// fallbacks (where a quoted `<@bot:server>` would be an accidental mention) are
/// stripped before this is called. `@room` (m.mentions.room) does not address the bot.
[[nodiscard]] bool mentions_bot(const mention_sources& m, const bot_identity& bot);

/// The text for the agent: `body` without the address to the bot.
/// - A leading address is removed with the `:` or `,` after it: the full user id,
///   `@localpart`, the localpart or the display name ("Hermes Coder: do x" -> "do x").
/// - Elsewhere, the full user id and `@localpart` tokens are removed, as Hermes'
///   `_strip_mention` does; a bare localpart or display name in the middle of a sentence
///   stays ("ask Hermes about it" keeps its meaning).
/// - Hermes collapses every run of spaces in the whole body and strips it; we only tidy
///   the places where something was removed, so indentation in code survives.
[[nodiscard]] std::string strip_mention(std::string_view body, const bot_identity& bot);

} // namespace hm::profiles
