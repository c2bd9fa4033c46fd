// decide(): every rule and how they interact (table-driven), sender allowlists, invites,
// DM detection and the busy rule.
#define CAF_SUITE policy
#include "caf/test/unit_test.hpp"

#include "profiles/policy.hpp"

#include <functional>
#include <set>
#include <string>
#include <vector>

using namespace hm::profiles;

namespace {

const bot_identity bot{"@hermes-coder:example.org", "Hermes Coder"};
const std::string alice = "@alice:example.org";
const std::string mallory = "@mallory:evil.org";
const std::string group_room = "!group:example.org";
const std::string free_room = "!free:example.org";
const std::string other_room = "!other:example.org";
const std::string dm_room = "!dm:example.org";

profile_config base_config() {
  profile_config c;
  c.name = "coder";
  c.allowed_users = {alice};
  return c;
}

incoming_message text(std::string body, std::string sender = alice) {
  incoming_message m;
  m.event_id = "$ev";
  m.sender = std::move(sender);
  m.msgtype = "m.text";
  m.body = std::move(body);
  return m;
}

room_facts group() { return room_facts{group_room, false, false}; }
room_facts dm() { return room_facts{dm_room, true, false}; }

struct row {
  row(std::string n, std::function<void(profile_config&)> c, room_facts r, incoming_message m,
      verdict e, std::optional<ignore_reason> why = std::nullopt, std::string t = {})
    : name(std::move(n)), config(std::move(c)), room(std::move(r)), msg(std::move(m)),
      expected(e), reason(why), text(std::move(t)) {}
  std::string name;
  std::function<void(profile_config&)> config;
  room_facts room;
  incoming_message msg;
  verdict expected;
  std::optional<ignore_reason> reason;
  std::string text;
};

std::string describe(const decision& d) {
  std::string s = to_string(d.what);
  if (d.reason)
    s += std::string(" ") + to_string(*d.reason);
  if (d.cmd)
    s += std::string(" /") + to_string(d.cmd->name) + " " + d.cmd->args;
  if (d.what == verdict::answer)
    s += " \"" + d.text + "\"";
  return s;
}

void nothing(profile_config&) {}

template <class F>
incoming_message with(incoming_message m, F f) {
  f(m);
  return m;
}

} // namespace

CAF_TEST(decide table) {
  auto mentioned = text("Hermes Coder: do x");
  const std::vector<row> rows{
      // Who sent it.
      {"own event", nothing, dm(), text("hi", bot.user_id), verdict::ignore, ignore_reason::own_event},
      {"own event, other case", nothing, dm(), text("hi", "@Hermes-Coder:example.org"), verdict::ignore,
       ignore_reason::own_event},
      {"own event even if allow-all", [](auto& c) { c.allow_all_users = true; }, dm(),
       text("hi", bot.user_id), verdict::ignore, ignore_reason::own_event},
      {"bridge ghost", [](auto& c) { c.allow_all_users = true; }, dm(),
       text("hi", "@_telegram_123:example.org"), verdict::ignore, ignore_reason::bridge_sender},
      {"bridge ghost with * allowlist", [](auto& c) { c.allowed_users = {"*"}; }, dm(),
       text("hi", "@_discord_9:example.org"), verdict::ignore, ignore_reason::bridge_sender},
      {"bridged person listed exactly", [](auto& c) { c.allowed_users = {"@_telegram_123:example.org"}; },
       dm(), text("hi", "@_telegram_123:example.org"), verdict::answer, std::nullopt, "hi"},
      {"malformed sender", [](auto& c) { c.allow_all_users = true; }, dm(), text("hi", "@:example.org"),
       verdict::ignore, ignore_reason::bridge_sender},
      {"empty sender", [](auto& c) { c.allow_all_users = true; }, dm(), text("hi", ""),
       verdict::ignore, ignore_reason::bridge_sender},
      {"underscore inside a localpart is fine", [](auto& c) { c.allow_all_users = true; }, dm(),
       text("hi", "@a_b:example.org"), verdict::answer, std::nullopt, "hi"},
      {"ignored pattern (search, not full match)",
       [](auto& c) { c.ignore_user_patterns = {"^@telegram_", "bot"}; c.allowed_users = {"*"}; },
       dm(), text("hi", "@whatsbot_1:example.org"), verdict::ignore, ignore_reason::ignored_pattern},
      {"ignored pattern anchored", [](auto& c) { c.ignore_user_patterns = {"^@telegram_"}; },
       dm(), text("hi", "@telegram_123:example.org"), verdict::ignore, ignore_reason::ignored_pattern},
      {"ignored pattern wins over allowlist", [](auto& c) { c.ignore_user_patterns = {"alice"}; },
       dm(), text("hi"), verdict::ignore, ignore_reason::ignored_pattern},
      {"pattern not matching", [](auto& c) { c.ignore_user_patterns = {"^@telegram_"}; }, dm(),
       text("hi"), verdict::answer, std::nullopt, "hi"},
      {"broken pattern ignores nobody", [](auto& c) { c.ignore_user_patterns = {"(["}; }, dm(),
       text("hi"), verdict::answer, std::nullopt, "hi"},
      {"stranger", nothing, dm(), text("hi", mallory), verdict::ignore, ignore_reason::sender_not_allowed},
      {"stranger's command", nothing, dm(), text("/new", mallory), verdict::ignore,
       ignore_reason::sender_not_allowed},
      {"stranger mentioning the bot", nothing, group(), text("Hermes Coder: hi", mallory),
       verdict::ignore, ignore_reason::sender_not_allowed},
      {"empty allowlist allows nobody", [](auto& c) { c.allowed_users.clear(); }, dm(), text("hi"),
       verdict::ignore, ignore_reason::sender_not_allowed},
      {"allow-all", [](auto& c) { c.allowed_users.clear(); c.allow_all_users = true; }, dm(),
       text("hi", mallory), verdict::answer, std::nullopt, "hi"},
      {"* in the allowlist", [](auto& c) { c.allowed_users = {"*"}; }, dm(), text("hi", mallory),
       verdict::answer, std::nullopt, "hi"},
      {"allowlist is exact", nothing, dm(), text("hi", "@Alice:example.org"), verdict::ignore,
       ignore_reason::sender_not_allowed},
      // What it is and where.
      {"redacted", nothing, dm(), with(text("hi"), [](auto& m) { m.is_redacted = true; }),
       verdict::ignore, ignore_reason::redacted},
      {"room not allowed", [](auto& c) { c.allowed_rooms = {other_room}; }, group(), mentioned,
       verdict::ignore, ignore_reason::room_not_allowed},
      {"room not allowed, command too", [](auto& c) { c.allowed_rooms = {other_room}; }, group(),
       text("/new"), verdict::ignore, ignore_reason::room_not_allowed},
      {"room allowed", [](auto& c) { c.allowed_rooms = {group_room}; }, group(), mentioned,
       verdict::answer, std::nullopt, "do x"},
      {"DMs exempt from the room allowlist", [](auto& c) { c.allowed_rooms = {other_room}; }, dm(),
       text("hi"), verdict::answer, std::nullopt, "hi"},
      {"edit", nothing, dm(), with(text("* hi"), [](auto& m) { m.is_edit = true; }), verdict::ignore,
       ignore_reason::edit},
      {"edit of a command", nothing, dm(), with(text("/new"), [](auto& m) { m.is_edit = true; }),
       verdict::ignore, ignore_reason::edit},
      {"notice", nothing, dm(), with(text("hi"), [](auto& m) { m.msgtype = "m.notice"; }),
       verdict::ignore, ignore_reason::notice},
      {"notice with process_notices", [](auto& c) { c.process_notices = true; }, dm(),
       with(text("hi"), [](auto& m) { m.msgtype = "m.notice"; }), verdict::answer, std::nullopt, "hi"},
      {"image without a caption in a DM", nothing, dm(),
       with(text(""), [](auto& m) { m.msgtype = "m.image"; }), verdict::answer, std::nullopt, ""},
      {"voice in a DM", nothing, dm(), with(text(""), [](auto& m) { m.msgtype = "m.audio"; }),
       verdict::answer, std::nullopt, ""},
      {"file with a caption", nothing, dm(),
       with(text("summarise this"), [](auto& m) { m.msgtype = "m.file"; }), verdict::answer,
       std::nullopt, "summarise this"},
      {"sticker", nothing, dm(), with(text(""), [](auto& m) { m.msgtype = "m.sticker"; }),
       verdict::answer, std::nullopt, ""},
      {"image in a group room needs a mention in its caption", nothing, group(),
       with(text(""), [](auto& m) { m.msgtype = "m.image"; }), verdict::ignore,
       ignore_reason::not_mentioned},
      {"image with a mention in its caption", nothing, group(),
       with(text("Hermes Coder: what is this?"), [](auto& m) { m.msgtype = "m.image"; }),
       verdict::answer, std::nullopt, "what is this?"},
      {"a caption is never a command", nothing, dm(),
       with(text("/new"), [](auto& m) { m.msgtype = "m.video"; }), verdict::answer, std::nullopt,
       "/new"},
      {"location", nothing, dm(), with(text("geo:1,2"), [](auto& m) { m.msgtype = "m.location"; }),
       verdict::ignore, ignore_reason::unsupported_msgtype},
      {"no msgtype", nothing, dm(), with(text("hi"), [](auto& m) { m.msgtype.clear(); }),
       verdict::ignore, ignore_reason::unsupported_msgtype},
      {"empty body", nothing, dm(), text(""), verdict::ignore, ignore_reason::empty},
      {"blank body", nothing, dm(), text(" \n\t"), verdict::ignore, ignore_reason::empty},
      {"only the mention", nothing, group(), text("Hermes Coder:"), verdict::ignore,
       ignore_reason::empty},
      {"emote", nothing, dm(), with(text("waves"), [](auto& m) { m.msgtype = "m.emote"; }),
       verdict::answer, std::nullopt, "* @alice:example.org waves"},
      {"emote is never a command", nothing, dm(),
       with(text("/new"), [](auto& m) { m.msgtype = "m.emote"; }), verdict::answer, std::nullopt,
       "* @alice:example.org /new"},
      // Commands bypass the mention gate; unknown ones do not.
      {"command in a group room", nothing, group(), text("/new"), verdict::command},
      {"bang command in a group room", nothing, group(), text("!status"), verdict::command},
      {"command after the mention", nothing, group(), text("Hermes Coder: /stop"), verdict::command},
      {"command for another bot", nothing, group(), text("/new@hermes-writer"), verdict::ignore,
       ignore_reason::other_bot_command},
      {"command for another bot in a DM", nothing, dm(), text("/new@hermes-writer"),
       verdict::ignore, ignore_reason::other_bot_command},
      {"unknown /foo needs a mention", nothing, group(), text("/foo"), verdict::ignore,
       ignore_reason::not_mentioned},
      {"unknown /foo in a DM is text", nothing, dm(), text("/foo bar"), verdict::answer,
       std::nullopt, "/foo bar"},
      {"unknown !foo is text", nothing, dm(), text("!foo"), verdict::answer, std::nullopt, "!foo"},
      {"notice command without process_notices", nothing, dm(),
       with(text("/new"), [](auto& m) { m.msgtype = "m.notice"; }), verdict::ignore,
       ignore_reason::notice},
      // The mention gate.
      {"group, no mention", nothing, group(), text("do x"), verdict::ignore,
       ignore_reason::not_mentioned},
      {"group, mention", nothing, group(), mentioned, verdict::answer, std::nullopt, "do x"},
      {"group, m.mentions only", nothing, group(), with(text("do x"), [](auto& m) {
         m.has_mentions_field = true;
         m.mentioned_user_ids = {bot.user_id};
       }),
       verdict::answer, std::nullopt, "do x"},
      {"group, m.mentions without the bot, name in body", nothing, group(),
       with(text("hermes-coder: do x"), [](auto& m) { m.has_mentions_field = true; }),
       verdict::answer, std::nullopt, "do x"},
      {"group, @room is not a mention", nothing, group(),
       with(text("@room meeting"), [](auto& m) { m.has_mentions_field = true; m.mentions_room = true; }),
       verdict::ignore, ignore_reason::not_mentioned},
      {"group, pill only in formatted_body", nothing, group(), with(text("Coder do x"), [](auto& m) {
         m.formatted_body = "<a href=\"https://matrix.to/#/%40hermes-coder%3Aexample.org\">Coder</a> do x";
       }),
       verdict::answer, std::nullopt, "Coder do x"},
      {"group, require_mention off", [](auto& c) { c.require_mention = false; }, group(),
       text("do x"), verdict::answer, std::nullopt, "do x"},
      {"group, require_mention off, still stripped", [](auto& c) { c.require_mention = false; },
       group(), mentioned, verdict::answer, std::nullopt, "do x"},
      {"free-response room", [](auto& c) { c.free_response_rooms = {free_room}; },
       room_facts{free_room, false, false}, text("do x"), verdict::answer, std::nullopt, "do x"},
      {"free-response room elsewhere", [](auto& c) { c.free_response_rooms = {free_room}; },
       group(), text("do x"), verdict::ignore, ignore_reason::not_mentioned},
      {"DM needs no mention", nothing, dm(), text("do x"), verdict::answer, std::nullopt, "do x"},
      {"thread the bot is in", nothing, room_facts{group_room, false, true},
       with(text("and y?"), [](auto& m) { m.thread_root = "$root"; }), verdict::answer,
       std::nullopt, "and y?"},
      {"thread the bot is not in", nothing, group(),
       with(text("and y?"), [](auto& m) { m.thread_root = "$root"; }), verdict::ignore,
       ignore_reason::not_mentioned},
      {"bot_in_thread without a thread", nothing, room_facts{group_room, false, true}, text("hi"),
       verdict::ignore, ignore_reason::not_mentioned},
      {"reply is not a mention by itself", nothing, group(),
       with(text("yes"), [](auto& m) { m.in_reply_to = "$bots-message"; }), verdict::ignore,
       ignore_reason::not_mentioned},
  };
  for (const auto& r : rows) {
    CAF_MESSAGE("row: " << r.name);
    auto c = base_config();
    r.config(c);
    auto d = decide(c, bot, r.room, r.msg);
    CAF_CHECK(d.what == r.expected);
    if (d.what != r.expected)
      CAF_MESSAGE("got " << describe(d));
    CAF_CHECK(d.reason == r.reason);
    if (r.expected == verdict::answer)
      CAF_CHECK_EQUAL(d.text, r.text);
    CAF_CHECK_EQUAL(d.cmd.has_value(), r.expected == verdict::command);
  }
}

CAF_TEST(command decisions carry the command) {
  auto c = base_config();
  auto d = decide(c, bot, group(), text("Hermes Coder: /new fresh start"));
  CAF_REQUIRE(d.cmd.has_value());
  CAF_CHECK(d.cmd->name == command_name::new_session);
  CAF_CHECK_EQUAL(d.cmd->args, "fresh start");
  CAF_CHECK(d.mentioned);
  d = decide(c, bot, dm(), text("!sethome"));
  CAF_REQUIRE(d.cmd.has_value());
  CAF_CHECK(d.cmd->name == command_name::sethome);
  CAF_CHECK(!d.mentioned);
}

CAF_TEST(a bot whose id is unknown answers nothing) {
  auto c = base_config();
  auto d = decide(c, bot_identity{}, dm(), text("hi"));
  CAF_CHECK(d.reason == ignore_reason::own_event);
}

CAF_TEST(reasons are a small fixed set with distinct names) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < ignore_reason_count; ++i)
    names.insert(to_string(static_cast<ignore_reason>(i)));
  CAF_CHECK_EQUAL(names.size(), ignore_reason_count);
  CAF_CHECK(names.count("own_event") == 1);
  CAF_CHECK(names.count("not_mentioned") == 1);
  CAF_CHECK(names.count("bridge_sender") == 1);
  CAF_CHECK_EQUAL(std::string(to_string(verdict::command)), "command");
}

CAF_TEST(invites) {
  auto c = base_config();
  CAF_CHECK(should_join(c, alice));
  CAF_CHECK(!should_join(c, mallory));
  CAF_CHECK(!should_join(c, ""));
  c.allowed_users.clear();
  CAF_CHECK(!should_join(c, alice)); // nobody is allowed: join nothing
  c.allow_all_users = true;
  CAF_CHECK(should_join(c, mallory));
  c.ignore_user_patterns = {"evil\\.org$"};
  CAF_CHECK(!should_join(c, mallory)); // an ignored inviter is not joined even with allow-all
  CAF_CHECK(should_join(c, alice));
  CAF_CHECK(!should_join(c, "@_telegram_1:example.org")); // bridge ghost, even with allow-all
  c.allow_all_users = false;
  c.allowed_users = {"@_telegram_1:example.org"};
  CAF_CHECK(should_join(c, "@_telegram_1:example.org")); // unless listed exactly
}

CAF_TEST(dm detection) {
  CAF_CHECK(is_dm(true, 0));
  CAF_CHECK(is_dm(true, 5));
  CAF_CHECK(is_dm(false, 2));
  CAF_CHECK(is_dm(false, 1));
  CAF_CHECK(!is_dm(false, 3));
  CAF_CHECK(!is_dm(false, 0)); // unknown member count, not in m.direct
}

CAF_TEST(busy rule) {
  CAF_CHECK(on_busy(busy_input_mode::interrupt, 0) == busy_action::interrupt);
  CAF_CHECK(on_busy(busy_input_mode::interrupt, 100) == busy_action::interrupt);
  CAF_CHECK(on_busy(busy_input_mode::queue, 0) == busy_action::queue);
  CAF_CHECK(on_busy(busy_input_mode::queue, max_queued_messages - 1) == busy_action::queue);
  CAF_CHECK(on_busy(busy_input_mode::queue, max_queued_messages) == busy_action::reject_full);
  CAF_CHECK_EQUAL(std::string(to_string(busy_action::reject_full)), "reject_full");
  CAF_CHECK_EQUAL(max_queued_messages, 32u);
}
