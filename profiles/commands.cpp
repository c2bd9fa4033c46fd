#include "profiles/commands.hpp"

#include "profiles/mentions.hpp"

#include <array>
#include <utility>

namespace hm::profiles {

namespace {

struct known_command {
  std::string_view word;
  command_name name;
};

// `reset` is the alias Hermes keeps for `new` (gateway reset_triggers "/new", "/reset").
constexpr std::array<known_command, 11> known{{
    {"help", command_name::help},
    {"status", command_name::status},
    {"new", command_name::new_session},
    {"reset", command_name::new_session},
    {"stop", command_name::stop},
    {"sethome", command_name::sethome},
    {"profile", command_name::profile},
    {"whoami", command_name::whoami},
    {"retry", command_name::retry},
    {"approve", command_name::approve},
    {"deny", command_name::deny},
}};

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = lower(c);
  return out;
}

const known_command* lookup(std::string_view word) {
  for (const auto& k : known)
    if (k.word == word)
      return &k;
  return nullptr;
}

std::string trimmed(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && space(s[b]))
    ++b;
  while (e > b && space(s[e - 1]))
    --e;
  return std::string(s.substr(b, e - b));
}

/// Splits "word rest" at the first whitespace.
std::pair<std::string_view, std::string_view> first_word(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && !space(s[i]))
    ++i;
  return {s.substr(0, i), s.substr(i)};
}

bool bang_name(std::string_view name) {
  // `^!([A-Za-z][A-Za-z0-9_-]*)(?=$|\s)` from Hermes' _MATRIX_BANG_COMMAND_RE.
  if (name.empty())
    return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(name.front()))
    return false;
  for (char c : name)
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-')
      return false;
  return true;
}

} // namespace

const char* to_string(command_name c) {
  switch (c) {
    case command_name::help: return "help";
    case command_name::status: return "status";
    case command_name::new_session: return "new";
    case command_name::stop: return "stop";
    case command_name::sethome: return "sethome";
    case command_name::profile: return "profile";
    case command_name::whoami: return "whoami";
    case command_name::retry: return "retry";
    case command_name::approve: return "approve";
    case command_name::deny: return "deny";
  }
  return "help";
}

std::optional<std::string> approval_choice_of_command(const command& c) {
  auto arg = lowered(trimmed(c.args));
  if (c.name == command_name::deny)
    return std::string{"deny"}; // `/deny <reason>`: the reason is not passed on
  if (c.name != command_name::approve)
    return std::nullopt;
  if (arg.empty() || arg == "once")
    return std::string{"once"};
  if (arg == "session" || arg == "always")
    return arg;
  return std::nullopt;
}

std::optional<std::string> approval_choice_of_reaction(std::string_view key) {
  // Keys with and without the emoji variation selector (U+FE0F), as clients send them.
  if (key == "✅")
    return std::string{"once"};
  if (key == "🌀")
    return std::string{"session"};
  if (key == "♾️" || key == "♾")
    return std::string{"always"};
  if (key == "❌" || key == "❎")
    return std::string{"deny"};
  return std::nullopt;
}

command_parse parse_command(std::string_view text, std::string_view bot_user_id) {
  command_parse none;
  if (text.size() < 2 || (text.front() != '/' && text.front() != '!'))
    return none;
  auto [word, rest] = first_word(text.substr(1));
  if (text.front() == '!') {
    if (!bang_name(word))
      return none;
    // Lower-cased first, then with `_` read as `-` (Hermes `_resolve_matrix_bang_command`).
    std::string name = lowered(word);
    const known_command* k = lookup(name);
    if (k == nullptr) {
      for (char& c : name)
        if (c == '_')
          c = '-';
      k = lookup(name);
    }
    if (k == nullptr)
      return none;
    return {command_parse::kind::command, command{k->name, trimmed(rest)}};
  }
  std::string name = lowered(word);
  std::string addressee;
  if (auto at = name.find('@'); at != std::string::npos) {
    addressee = name.substr(at + 1);
    name.resize(at);
  }
  if (name.find('/') != std::string::npos) // "/usr/bin/env" is a path
    return none;
  const known_command* k = lookup(name);
  if (k == nullptr)
    return none;
  if (!addressee.empty()) {
    // The suffix kept its case in `word`; ids compare without ASCII case here, like names.
    std::string lp = lowered(localpart(bot_user_id));
    std::string full = lowered(bot_user_id);
    bool ours = addressee == lp || "@" + addressee == full || addressee == full;
    if (!ours)
      return {command_parse::kind::other_bot, std::nullopt};
  }
  return {command_parse::kind::command, command{k->name, trimmed(rest)}};
}

} // namespace hm::profiles
