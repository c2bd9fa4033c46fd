// parse_command: `/cmd`, `!cmd` aliases only for known commands, `/cmd@bot`, unknown ones.
#define CAF_SUITE commands
#include "caf/test/unit_test.hpp"

#include "profiles/commands.hpp"

#include <string>
#include <vector>

using namespace hm::profiles;
using kind = command_parse::kind;

namespace {

const std::string bot = "@hermes-coder:example.org";

struct row {
  row(std::string t, kind w, command_name n = command_name::help, std::string a = {})
    : text(std::move(t)), what(w), name(n), args(std::move(a)) {}
  std::string text;
  kind what;
  command_name name;
  std::string args;
};

} // namespace

CAF_TEST(table) {
  const std::vector<row> rows{
      // Every known command, with and without arguments.
      {"/help", kind::command, command_name::help, ""},
      {"/status", kind::command, command_name::status, ""},
      {"/new", kind::command, command_name::new_session, ""},
      {"/reset", kind::command, command_name::new_session, ""},
      {"/stop", kind::command, command_name::stop, ""},
      {"/sethome", kind::command, command_name::sethome, ""},
      {"/profile", kind::command, command_name::profile, ""},
      {"/whoami", kind::command, command_name::whoami, ""},
      {"/retry", kind::command, command_name::retry, ""},
      {"/new  start over please ", kind::command, command_name::new_session, "start over please"},
      {"/retry\nwith more detail", kind::command, command_name::retry, "with more detail"},
      // Hermes lower-cases the command word.
      {"/HELP", kind::command, command_name::help, ""},
      {"/Status now", kind::command, command_name::status, "now"},
      // `!` aliases: known commands only, lower-cased, `_` read as `-`.
      {"!new", kind::command, command_name::new_session, ""},
      {"!RESET", kind::command, command_name::new_session, ""},
      {"!status please", kind::command, command_name::status, "please"},
      {"!foo", kind::none},
      {"!important: read this", kind::none},  // not followed by space or end
      {"!new!", kind::none},
      {"! new", kind::none},
      {"!1new", kind::none},
      // Unknown `/foo` and paths are ordinary messages.
      {"/foo bar", kind::none},
      {"/usr/bin/env python", kind::none},
      {"/", kind::none},
      {"", kind::none},
      {"new", kind::none},
      {" /new", kind::none}, // the caller strips; a leading space is not a command
      {"please /new", kind::none},
      // `/cmd@bot`: ours by localpart or full id (any case), another bot's otherwise.
      {"/new@hermes-coder", kind::command, command_name::new_session, ""},
      {"/new@Hermes-Coder args", kind::command, command_name::new_session, "args"},
      {"/new@hermes-coder:example.org", kind::command, command_name::new_session, ""},
      {"/new@@hermes-coder:example.org", kind::command, command_name::new_session, ""},
      {"/new@hermes-writer", kind::other_bot},
      {"/new@hermes-coder:other.org", kind::other_bot},
      {"/foo@hermes-coder", kind::none},
  };
  for (const auto& r : rows) {
    CAF_MESSAGE("text: " << r.text);
    auto p = parse_command(r.text, bot);
    CAF_CHECK(p.what == r.what);
    CAF_CHECK_EQUAL(p.cmd.has_value(), r.what == kind::command);
    if (r.what == kind::command && p.cmd) {
      CAF_CHECK_EQUAL(to_string(p.cmd->name), std::string(to_string(r.name)));
      CAF_CHECK_EQUAL(p.cmd->args, r.args);
    }
  }
}

CAF_TEST(names) {
  CAF_CHECK_EQUAL(std::string(to_string(command_name::new_session)), "new");
  CAF_CHECK_EQUAL(std::string(to_string(command_name::sethome)), "sethome");
  CAF_CHECK_EQUAL(std::string(to_string(command_name::whoami)), "whoami");
}

CAF_TEST(approval answers typed and by reaction) {
  auto choice = [&](std::string_view text) {
    auto p = parse_command(text, bot);
    return p.cmd ? approval_choice_of_command(*p.cmd) : std::nullopt;
  };
  CAF_CHECK_EQUAL(choice("/approve"), std::optional<std::string>{"once"});
  CAF_CHECK_EQUAL(choice("!approve Session"), std::optional<std::string>{"session"});
  CAF_CHECK_EQUAL(choice("/approve always"), std::optional<std::string>{"always"});
  CAF_CHECK_EQUAL(choice("/deny because no"), std::optional<std::string>{"deny"});
  CAF_CHECK_EQUAL(choice("/approve maybe"), std::nullopt);
  CAF_CHECK_EQUAL(choice("/status"), std::nullopt);
  CAF_CHECK_EQUAL(approval_choice_of_reaction("✅"), std::optional<std::string>{"once"});
  CAF_CHECK_EQUAL(approval_choice_of_reaction("🌀"), std::optional<std::string>{"session"});
  CAF_CHECK_EQUAL(approval_choice_of_reaction("♾️"), std::optional<std::string>{"always"});
  CAF_CHECK_EQUAL(approval_choice_of_reaction("♾"), std::optional<std::string>{"always"});
  CAF_CHECK_EQUAL(approval_choice_of_reaction("❎"), std::optional<std::string>{"deny"});
  CAF_CHECK_EQUAL(approval_choice_of_reaction("👍"), std::nullopt);
}
