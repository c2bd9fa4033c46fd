#define CAF_SUITE content
#include "caf/test/unit_test.hpp"

#include "matrix/content.hpp"
#include "matrix/events.hpp"

using namespace hm::matrix;
using nlohmann::json;

namespace {

constexpr std::string_view bot = "@bot:example.org";

outgoing_message notice(std::string body) {
  outgoing_message m;
  m.kind = message_kind::notice;
  m.body = std::move(body);
  return m;
}

} // namespace

CAF_TEST(plain_message_always_has_mentions) {
  CAF_CHECK(plain_message_content(notice("hello"), bot) ==
            json::parse(R"({"msgtype":"m.notice","body":"hello","m.mentions":{}})"));
  outgoing_message m;
  m.kind = message_kind::text;
  m.body = "**hi** @alice";
  m.formatted_body = "<strong>hi</strong> <a href=\"https://matrix.to/#/@alice:example.org\">alice</a>";
  m.mention_user_ids = {"@alice:example.org", std::string{bot}, "@alice:example.org"};
  auto c = plain_message_content(m, bot);
  CAF_CHECK(c == json::parse(R"({"msgtype":"m.text","body":"**hi** @alice",
    "format":"org.matrix.custom.html",
    "formatted_body":"<strong>hi</strong> <a href=\"https://matrix.to/#/@alice:example.org\">alice</a>",
    "m.mentions":{"user_ids":["@alice:example.org"]}})"));
  auto only_self = notice("me");
  only_self.mention_user_ids = {std::string{bot}};
  CAF_CHECK(plain_message_content(only_self, bot)["m.mentions"] == json::object());
  auto room = notice("all");
  room.mention_room = true;
  CAF_CHECK(plain_message_content(room, bot)["m.mentions"] == json::parse(R"({"room":true})"));
}

CAF_TEST(reply) {
  auto m = notice("answer");
  m.mention_user_ids = {"@alice:example.org"};
  auto c = reply_content(m, bot, "$question:example.org");
  CAF_CHECK(c == json::parse(R"({"msgtype":"m.notice","body":"answer",
    "m.mentions":{"user_ids":["@alice:example.org"]},
    "m.relates_to":{"m.in_reply_to":{"event_id":"$question:example.org"}}})"));
  // Round trip through our own parser.
  auto parsed = parse_message_content(c);
  CAF_REQUIRE(parsed && parsed->relates_to);
  CAF_CHECK_EQUAL(parsed->relates_to->reply_to().value_or(""), "$question:example.org");
}

CAF_TEST(thread_reply) {
  auto c = thread_content(notice("in thread"), bot, "$root", "$latest");
  CAF_CHECK(c == json::parse(R"({"msgtype":"m.notice","body":"in thread","m.mentions":{},
    "m.relates_to":{"rel_type":"m.thread","event_id":"$root","is_falling_back":true,
                    "m.in_reply_to":{"event_id":"$latest"}}})"));
  auto parsed = parse_message_content(c);
  CAF_REQUIRE(parsed && parsed->relates_to);
  CAF_CHECK_EQUAL(parsed->relates_to->thread_root().value_or(""), "$root");
  CAF_CHECK(!parsed->relates_to->reply_to());
}

CAF_TEST(edit) {
  outgoing_message m;
  m.kind = message_kind::text;
  m.body = "new text";
  m.formatted_body = "<p>new text</p>";
  m.mention_user_ids = {"@alice:example.org", "@carol:example.org", std::string{bot}};
  m.mention_room = true;
  auto c = edit_content(m, bot, "$original", {"@alice:example.org"});
  CAF_CHECK(c == json::parse(R"({
    "msgtype":"m.text","body":"* new text",
    "format":"org.matrix.custom.html","formatted_body":"* <p>new text</p>",
    "m.mentions":{"user_ids":["@carol:example.org"]},
    "m.new_content":{"msgtype":"m.text","body":"new text",
      "format":"org.matrix.custom.html","formatted_body":"<p>new text</p>",
      "m.mentions":{"user_ids":["@alice:example.org","@carol:example.org"],"room":true}},
    "m.relates_to":{"rel_type":"m.replace","event_id":"$original"}})"));
  // A streaming edit with the same mentions pings nobody again.
  auto again = edit_content(notice("more"), bot, "$original", {});
  CAF_CHECK(again["m.mentions"] == json::object());
  CAF_CHECK(again["m.new_content"]["m.mentions"] == json::object());
}

CAF_TEST(reaction) {
  CAF_CHECK(reaction_content("$target", "👀") ==
            json::parse(R"({"m.relates_to":{"rel_type":"m.annotation","event_id":"$target",
                                            "key":"👀"}})"));
}

CAF_TEST(content too large for an event sheds its fallbacks first) {
  using namespace hm::matrix;
  outgoing_message m;
  // Each alone fits an event; together (and twice over in an edit) they do not.
  m.body = std::string(25000, 'a');
  m.formatted_body = "<p>" + std::string(25000, 'a') + "</p>";
  auto edit = edit_content(m, "@bot:hs", "$orig", {});
  fit_content(edit);
  CAF_CHECK_LESS_OR_EQUAL(edit.dump().size(), max_content_bytes);
  // The new content keeps its body; the top level is only the old clients' fallback.
  CAF_CHECK_EQUAL(edit["m.new_content"]["body"], m.body);
  CAF_CHECK_EQUAL(edit["body"], "* …");
  CAF_CHECK(!edit.contains("formatted_body"));
  auto plain = plain_message_content(m, "@bot:hs");
  fit_content(plain);
  CAF_CHECK_EQUAL(plain["body"], m.body);
  CAF_CHECK(!plain.contains("formatted_body"));
  // Small content is left alone.
  outgoing_message small;
  small.body = "hi";
  small.formatted_body = "<b>hi</b>";
  auto c = plain_message_content(small, "@bot:hs");
  auto before = c;
  fit_content(c);
  CAF_CHECK_EQUAL(c, before);
}
