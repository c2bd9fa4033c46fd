#pragma once

// The gateway commands a Matrix user can send to a profile (`/new`, `!new`, ...).
// Plain string parsing; no I/O. Which sender may use them is policy.hpp's business.

#include <optional>
#include <string>
#include <string_view>

namespace hm::profiles {

/// The commands Hermes users know (hermes-compat.md, "Gateway commands users know").
/// `/reset` is an alias of `/new` and parses as `command_name::new_session`.
/// `approve` (args "", "session", "always") and `deny` answer the agent's request to
/// run a dangerous command (Hermes' approval prompt).
enum class command_name {
  help, status, new_session, stop, sethome, profile, whoami, retry, approve, deny
};

/// The name a user types: "help", "status", "new", "stop", ...
[[nodiscard]] const char* to_string(command_name c);

/// A parsed command: which one and the text after it (trimmed, may be empty).
struct command {
  command_name name;
  std::string args;

  friend bool operator==(const command&, const command&) = default;
};

/// The approval answer of `/approve [once|session|always]` or `/deny`: "once",
/// "session", "always", "deny"; nullopt for other commands or arguments.
[[nodiscard]] std::optional<std::string> approval_choice_of_command(const command& c);

/// The approval answer a reaction key stands for (Hermes' prompt: ✅ once, 🌀 session,
/// ♾️ always, ❌ or ❎ deny); nullopt for any other key.
[[nodiscard]] std::optional<std::string> approval_choice_of_reaction(std::string_view key);

/// What a message body is, as far as commands go.
struct command_parse {
  enum class kind {
    none,       // not a command: an ordinary message (also `/foo` and `!foo` unknown)
    command,    // a known command for this bot
    other_bot,  // `/new@someone-else`: a known command addressed to another bot
  };
  kind what = kind::none;
  std::optional<command> cmd; // set when what == kind::command
};

/// Parses `text` (reply fallback and leading mention already stripped).
///
/// Mirrors Hermes:
/// - `/name args`: the first word without its `/`, lower-cased (gateway/platforms/base.py
///   MessageEvent.get_command); a word with another `/` in it is a path, not a command.
/// - `/name@bot args`: Hermes drops everything after `@` (Telegram style). Here the suffix
///   must name this bot (its localpart or full user id, case-insensitive), otherwise the
///   command belongs to another bot in the room (kind::other_bot): with several Hermes
///   profiles in one room, `/new@hermes-writer` must not reset hermes-coder's session.
/// - `!name args`: an alias only for known commands (plugins/platforms/matrix/adapter.py
///   `_normalize_matrix_bang_command`: `^!([A-Za-z][A-Za-z0-9_-]*)(?=$|\s)(.*)$`, name
///   lower-cased, `_` also tried as `-`), so "!important" stays chat text.
/// - an unknown `/foo` is an ordinary message (kind::none): hermes-matrix serves only the
///   commands above; everything else goes to the agent like any text.
[[nodiscard]] command_parse parse_command(std::string_view text, std::string_view bot_user_id);

} // namespace hm::profiles
