#define CAF_SUITE events
#include "caf/test/unit_test.hpp"

#include "matrix/bounded_json.hpp"
#include "matrix/events.hpp"

#include "fixture.hpp"

using namespace hm::matrix;
using hm::matrix::test::read_fixture;
using nlohmann::json;

namespace {

room_event event_fixture(std::string_view name) {
  auto e = to_room_event(json::parse(read_fixture(name)));
  return e ? *e : room_event{};
}

} // namespace

CAF_TEST(thread_reply_with_fallback) {
  auto ev = event_fixture("message_thread_reply.json");
  auto m = parse_message_content(ev.content());
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->msgtype, "m.text");
  CAF_CHECK_EQUAL(m->format.value_or(""), "org.matrix.custom.html");
  CAF_REQUIRE(m->relates_to);
  CAF_CHECK_EQUAL(m->relates_to->thread_root().value_or(""), "$root");
  CAF_CHECK_EQUAL(m->relates_to->in_reply_to.value_or(""), "$event:example.org");
  CAF_CHECK(!m->relates_to->is_falling_back);
  CAF_CHECK_EQUAL(m->relates_to->reply_to().value_or(""), "$event:example.org");
  CAF_CHECK(!m->relates_to->replaces());
  CAF_REQUIRE(m->mentions);
  CAF_CHECK_EQUAL(m->mentions->user_ids.size(), 2u);
  CAF_CHECK(!m->mentions->room);
  CAF_CHECK_EQUAL(strip_reply_fallback(m->body), "This is where the reply goes");
  CAF_CHECK_EQUAL(strip_reply_fallback_html(*m->formatted_body), "This is where the reply goes");
}

CAF_TEST(thread_fallback_is_not_a_reply) {
  auto rel = parse_relation(json::parse(R"({"rel_type":"m.thread","event_id":"$root",
    "is_falling_back":true,"m.in_reply_to":{"event_id":"$latest"}})"));
  CAF_REQUIRE(rel);
  CAF_CHECK(rel->is_falling_back);
  CAF_CHECK_EQUAL(rel->in_reply_to.value_or(""), "$latest");
  CAF_CHECK(!rel->reply_to());
  CAF_CHECK_EQUAL(rel->thread_root().value_or(""), "$root");
}

CAF_TEST(edit_and_annotation) {
  auto ev = event_fixture("message_edit.json");
  auto m = parse_message_content(ev.content());
  CAF_REQUIRE(m);
  CAF_REQUIRE(m->relates_to);
  CAF_CHECK_EQUAL(m->relates_to->replaces().value_or(""), "$some_event_id");
  CAF_REQUIRE(m->new_content);
  CAF_CHECK_EQUAL(m->new_content->body, "Hello! My name is bar");
  CAF_REQUIRE(m->new_content->mentions);
  CAF_CHECK(m->new_content->mentions->user_ids.empty());
  auto reaction = parse_relation(json::parse(
      R"({"rel_type":"m.annotation","event_id":"$target","key":"👍"})"));
  CAF_REQUIRE(reaction);
  CAF_CHECK_EQUAL(reaction->annotates().value_or(""), "$target");
  CAF_CHECK_EQUAL(reaction->key.value_or(""), "👍");
}

CAF_TEST(message_content_shapes) {
  CAF_CHECK(!parse_message_content(json::parse(R"({"body":"no msgtype"})")));
  CAF_CHECK(!parse_message_content(json::parse(R"({"msgtype":"m.text","body":5})")));
  CAF_CHECK(!parse_message_content(json::parse(R"("string")")));
  // Legacy client: no m.mentions at all, which differs from an empty one.
  auto legacy = parse_message_content(json::parse(R"({"msgtype":"m.text","body":"hi"})"));
  CAF_REQUIRE(legacy);
  CAF_CHECK(!legacy->mentions);
  CAF_CHECK(!legacy->relates_to);
  // Malformed optional parts are ignored, not fatal.
  auto odd = parse_message_content(json::parse(R"({"msgtype":"m.text","body":"hi",
    "m.relates_to":"x","m.mentions":{"user_ids":["@a:b",5],"room":"yes"},
    "m.new_content":{"body":"no type"}})"));
  CAF_REQUIRE(odd);
  CAF_CHECK(!odd->relates_to);
  CAF_REQUIRE(odd->mentions);
  CAF_CHECK_EQUAL(odd->mentions->user_ids.size(), 1u);
  CAF_CHECK(!odd->mentions->room);
  CAF_CHECK(!odd->new_content);
  // A rel_type without event_id is no relation; a reply alone still is.
  CAF_CHECK(!parse_relation(json::parse(R"({"rel_type":"m.replace"})")));
  auto reply = parse_relation(json::parse(R"({"m.in_reply_to":{"event_id":"$x"}})"));
  CAF_REQUIRE(reply);
  CAF_CHECK_EQUAL(reply->reply_to().value_or(""), "$x");
  auto room_ping = parse_mentions(json::parse(R"({"room":true})"));
  CAF_REQUIRE(room_ping);
  CAF_CHECK(room_ping->room);
}

CAF_TEST(reply_fallback_stripping) {
  CAF_CHECK_EQUAL(strip_reply_fallback("> <@a:b> quoted\n> more\n\nanswer"), "answer");
  CAF_CHECK_EQUAL(strip_reply_fallback("> <@a:b> quoted\nanswer"), "answer");
  CAF_CHECK_EQUAL(strip_reply_fallback("no fallback\n> later quote"),
                  "no fallback\n> later quote");
  CAF_CHECK_EQUAL(strip_reply_fallback("> only a quote"), "");
  CAF_CHECK_EQUAL(strip_reply_fallback(""), "");
  CAF_CHECK_EQUAL(strip_reply_fallback(">\n\nline"), "line");
  CAF_CHECK_EQUAL(strip_reply_fallback("> q\n\n\nkeeps second blank"), "\nkeeps second blank");
  CAF_CHECK_EQUAL(strip_reply_fallback_html("<mx-reply>x</mx-reply><p>hi</p>"), "<p>hi</p>");
  CAF_CHECK_EQUAL(strip_reply_fallback_html("<p>hi</p>"), "<p>hi</p>");
  CAF_CHECK_EQUAL(strip_reply_fallback_html("<mx-reply>unclosed"), "<mx-reply>unclosed");
}

CAF_TEST(membership_and_encryption) {
  auto m = parse_member_content(json::parse(
      R"({"membership":"invite","displayname":"Bot","is_direct":true,"reason":"hi"})"));
  CAF_REQUIRE(m);
  CAF_CHECK_EQUAL(m->membership, "invite");
  CAF_CHECK_EQUAL(m->displayname.value_or(""), "Bot");
  CAF_CHECK_EQUAL(m->reason.value_or(""), "hi");
  CAF_CHECK(m->is_direct);
  CAF_CHECK(!parse_member_content(json::parse(R"({"displayname":"x"})")));
  auto state = json::parse(read_fixture("room_state.json"));
  auto enc = parse_encryption_content(state[1]["content"]);
  CAF_REQUIRE(enc);
  CAF_CHECK_EQUAL(enc->algorithm, "m.megolm.v1.aes-sha2");
  CAF_CHECK_EQUAL(enc->rotation_period_ms.value_or(0), 604800000);
  CAF_CHECK_EQUAL(enc->rotation_period_msgs.value_or(0), 100);
  auto bare = parse_encryption_content(json::parse(R"({"algorithm":"m.megolm.v1.aes-sha2",
    "rotation_period_ms":1.5})"));
  CAF_REQUIRE(bare);
  CAF_CHECK(!bare->rotation_period_ms); // floats are not integers
  CAF_CHECK(!bare->rotation_period_msgs);
  CAF_CHECK(!parse_encryption_content(json::parse("{}")));
}

CAF_TEST(redacted_and_redaction_events) {
  auto redacted = event_fixture("redacted_event.json");
  CAF_CHECK(redacted.is_redacted());
  CAF_CHECK(!parse_message_content(redacted.content()));
  auto v11 = to_room_event(json::parse(R"({"type":"m.room.redaction","sender":"@m:b",
    "event_id":"$r","content":{"redacts":"$target"}})"));
  CAF_REQUIRE(v11);
  CAF_CHECK_EQUAL(v11->redacts().value_or(""), "$target");
  CAF_CHECK(!v11->is_redacted());
  auto old = to_room_event(json::parse(R"({"type":"m.room.redaction","sender":"@m:b",
    "event_id":"$r","redacts":"$older","content":{}})"));
  CAF_REQUIRE(old);
  CAF_CHECK_EQUAL(old->redacts().value_or(""), "$older");
  auto echo = to_room_event(json::parse(R"({"type":"m.room.message","sender":"@bot:b",
    "event_id":"$e","content":{},"unsigned":{"transaction_id":"hm.1.0.reply"}})"));
  CAF_REQUIRE(echo);
  CAF_CHECK_EQUAL(echo->transaction_id().value_or(""), "hm.1.0.reply");
  CAF_CHECK_EQUAL(echo->origin_server_ts, 0);
}

CAF_TEST(event_validation_reasons) {
  std::string why;
  CAF_CHECK(!to_room_event(json::parse(R"({"type":"t","sender":"s","event_id":"e"})"), &why));
  CAF_CHECK_EQUAL(why, "missing or non-object content");
  CAF_CHECK(!to_stripped_event(json::parse(R"({"type":"t","sender":"s","content":{}})"), &why));
  CAF_CHECK_EQUAL(why, "missing or non-string state_key");
  CAF_CHECK(!to_basic_event(json::parse(R"({"type":"t","content":{}})"), true, &why));
  CAF_CHECK_EQUAL(why, "missing or non-string sender");
  CAF_CHECK(to_basic_event(json::parse(R"({"type":"t","content":{}})"), false));
}

CAF_TEST(direct_content) {
  auto d = parse_direct_content(json::parse(R"({"@a:b":["!1:b",2,"!2:b"],"@c:d":"bad"})"));
  CAF_REQUIRE_EQUAL(d.size(), 1u);
  CAF_CHECK_EQUAL(d[0].second.size(), 2u);
  CAF_CHECK(parse_direct_content(json::parse("[]")).empty());
}

CAF_TEST(a decrypted event takes the clear relation of the wrapper only when it has none) {
  auto wrapper = to_room_event(json{
    {"type", "m.room.encrypted"}, {"sender", "@u:hs"}, {"event_id", "$w"},
    {"origin_server_ts", 1},
    {"content", {{"algorithm", "m.megolm.v1.aes-sha2"},
                 {"m.relates_to", {{"rel_type", "m.annotation"}, {"event_id", "$p"}}}}}});
  CAF_REQUIRE(wrapper);
  json bare = {{"type", "m.reaction"}, {"content", json::object()}};
  take_clear_relation(bare, *wrapper);
  CAF_CHECK_EQUAL(bare["content"]["m.relates_to"]["event_id"], "$p");
  json own = {{"type", "m.room.message"},
              {"content", {{"body", "x"}, {"m.relates_to", {{"event_id", "$own"}}}}}};
  take_clear_relation(own, *wrapper);
  CAF_CHECK_EQUAL(own["content"]["m.relates_to"]["event_id"], "$own");
  json odd = "not an object";
  take_clear_relation(odd, *wrapper); // left alone, no throw
  CAF_CHECK(odd.is_string());
}
