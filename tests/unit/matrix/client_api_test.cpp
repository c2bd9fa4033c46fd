#define CAF_SUITE client_api
#include "caf/test/unit_test.hpp"
// This suite's binary gets its main() here (and only here).
#include "caf/test/unit_test_impl.hpp"

#include "matrix/client_api.hpp"

#include "fixture.hpp"

using namespace hm::matrix;
using hm::matrix::test::read_fixture;
using hm::matrix::test::response;
using nlohmann::json;

namespace {

std::string method(const http_request& r) { return std::string{to_string(r.method)}; }

} // namespace

CAF_TEST(percent_encoding) {
  CAF_CHECK_EQUAL(percent_encode("!a:b"), "%21a%3Ab");
  CAF_CHECK_EQUAL(percent_encode("$x/y+z"), "%24x%2Fy%2Bz");
  CAF_CHECK_EQUAL(percent_encode("@alice:example.org"), "%40alice%3Aexample.org");
  CAF_CHECK_EQUAL(percent_encode("#room:example.org"), "%23room%3Aexample.org");
  CAF_CHECK_EQUAL(percent_encode("hm.abc-_~.0.reply"), "hm.abc-_~.0.reply");
  CAF_CHECK_EQUAL(percent_encode("a b?c&d=e%"), "a%20b%3Fc%26d%3De%25");
  CAF_CHECK_EQUAL(percent_encode("\xC3\xA9"), "%C3%A9"); // é, UTF-8 bytes
  CAF_CHECK_EQUAL(percent_encode(""), "");
}

CAF_TEST(whoami) {
  auto req = whoami_request();
  CAF_CHECK_EQUAL(method(req), "GET");
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/account/whoami");
  CAF_CHECK(!req.body);
  CAF_CHECK(req.needs_access_token);
  CAF_CHECK_EQUAL(body_text(req), "");
  auto ok = parse_whoami(response(
      200, R"({"device_id":"ABCDEFG","is_guest":false,"user_id":"@joe:example.org"})"));
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(ok->user_id, "@joe:example.org");
  CAF_CHECK_EQUAL(ok->device_id.value_or(""), "ABCDEFG");
  CAF_CHECK(!ok->is_guest);
  auto missing = parse_whoami(response(200, R"({"device_id":"X"})"));
  CAF_REQUIRE(!missing);
  CAF_CHECK_EQUAL(missing.error().errcode, "HM_BAD_RESPONSE");
  auto unknown = parse_whoami(response(
      401, R"({"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed."})"));
  CAF_REQUIRE(!unknown);
  CAF_CHECK_EQUAL(unknown.error().errcode, "M_UNKNOWN_TOKEN");
  CAF_CHECK(classify(unknown.error()) == error_action::stop_profile);
}

CAF_TEST(password_login) {
  auto req = password_login_request("bot", "hunter2", std::string_view{"DEVICEID"});
  CAF_CHECK_EQUAL(method(req), "POST");
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/login");
  CAF_CHECK(!req.needs_access_token);
  CAF_CHECK(req.body_is_secret);
  CAF_REQUIRE(req.body);
  CAF_CHECK_EQUAL(*req.body, json::parse(R"({
    "type": "m.login.password",
    "identifier": {"type": "m.id.user", "user": "bot"},
    "password": "hunter2",
    "device_id": "DEVICEID",
    "initial_device_display_name": "Hermes Agent"
  })"));
  auto fresh = password_login_request("@bot:example.org", "pw");
  CAF_CHECK(!fresh.body->contains("device_id"));
  auto body = read_fixture("login_response.json");
  auto ok = parse_login(response(200, body));
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(ok->user_id, "@cheeky_monkey:matrix.org");
  CAF_CHECK_EQUAL(ok->access_token, "abc123");
  CAF_CHECK_EQUAL(ok->device_id, "GHTYAJCE");
  CAF_CHECK_EQUAL(ok->homeserver_base_url.value_or(""), "https://example.org");
  auto forbidden = parse_login(
      response(403, R"({"errcode":"M_FORBIDDEN","error":"Invalid password"})"));
  CAF_REQUIRE(!forbidden);
  CAF_CHECK_EQUAL(forbidden.error().errcode, "M_FORBIDDEN");
  CAF_CHECK_EQUAL(forbidden.error().http_status, 403);
}

CAF_TEST(filter) {
  auto f = bot_sync_filter();
  CAF_CHECK_EQUAL(f, json::parse(R"({
    "room": {
      "timeline": {"limit": 50, "lazy_load_members": true},
      "state": {"lazy_load_members": true},
      "ephemeral": {"not_types": ["*"]}
    },
    "presence": {"not_types": ["*"]}
  })"));
  auto with_ephemeral = bot_sync_filter({10, false, true});
  CAF_CHECK_EQUAL(with_ephemeral["room"]["timeline"], json::parse(R"({"limit": 10})"));
  CAF_CHECK(!with_ephemeral["room"].contains("ephemeral"));
  auto req = create_filter_request("@bot:example.org", f);
  CAF_CHECK_EQUAL(method(req), "POST");
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/user/%40bot%3Aexample.org/filter");
  CAF_CHECK_EQUAL(*req.body, f);
  auto id = parse_create_filter(response(200, R"({"filter_id":"66696p746572"})"));
  CAF_REQUIRE(id);
  CAF_CHECK_EQUAL(id.value(), "66696p746572");
  CAF_CHECK(!parse_create_filter(response(200, R"({"filter_id":7})")));
}

CAF_TEST(sync_request) {
  sync_options o;
  auto initial = sync_request(o);
  CAF_CHECK_EQUAL(method(initial), "GET");
  CAF_CHECK_EQUAL(initial.target, "/_matrix/client/v3/sync?timeout=30000&set_presence=offline");
  CAF_CHECK_EQUAL(initial.timeout.count(), 60000);
  o.since = "s72595_4483_1934";
  o.filter = "66696p746572";
  o.full_state = true;
  o.timeout = std::chrono::milliseconds{0};
  auto next = sync_request(o);
  CAF_CHECK_EQUAL(next.target, "/_matrix/client/v3/sync?filter=66696p746572"
                               "&since=s72595_4483_1934&timeout=0&full_state=true"
                               "&set_presence=offline");
  o.filter = R"({"room":{"timeline":{"limit":1}}})";
  o.since.reset();
  o.full_state = false;
  o.set_presence_offline = false;
  auto inline_filter = sync_request(o);
  CAF_CHECK_EQUAL(inline_filter.target,
                  "/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B"
                  "%22limit%22%3A1%7D%7D%7D&timeout=0");
}

CAF_TEST(join_and_leave) {
  auto by_id = join_request("!abc:example.org");
  CAF_CHECK_EQUAL(method(by_id), "POST");
  CAF_CHECK_EQUAL(by_id.target, "/_matrix/client/v3/join/%21abc%3Aexample.org");
  CAF_CHECK_EQUAL(*by_id.body, json::object());
  auto by_alias = join_request("#room:example.org", {"example.org"}, std::string_view{"hi"});
  CAF_CHECK_EQUAL(by_alias.target, "/_matrix/client/v3/join/%23room%3Aexample.org"
                                   "?via=example.org&server_name=example.org");
  CAF_CHECK_EQUAL(*by_alias.body, json::parse(R"({"reason":"hi"})"));
  auto joined = parse_join(response(200, R"({"room_id":"!d41d8cd:matrix.org"})"));
  CAF_REQUIRE(joined);
  CAF_CHECK_EQUAL(joined.value(), "!d41d8cd:matrix.org");
  auto leave = leave_request("!abc:example.org");
  CAF_CHECK_EQUAL(method(leave), "POST");
  CAF_CHECK_EQUAL(leave.target, "/_matrix/client/v3/rooms/%21abc%3Aexample.org/leave");
  CAF_CHECK_EQUAL(*leave.body, json::object());
  CAF_CHECK(parse_empty(response(200, "{}")));
  auto denied = parse_empty(response(403, R"({"errcode":"M_FORBIDDEN","error":"no"})"));
  CAF_REQUIRE(!denied);
  CAF_CHECK(classify(denied.error()) == error_action::fail_request);
}

CAF_TEST(send_and_redact) {
  json content = {{"msgtype", "m.text"}, {"body", "hi"}, {"m.mentions", json::object()}};
  auto send = send_request("!a:b", "m.room.message", "hm.1.0.reply", content);
  CAF_CHECK_EQUAL(method(send), "PUT");
  CAF_CHECK_EQUAL(send.target,
                  "/_matrix/client/v3/rooms/%21a%3Ab/send/m.room.message/hm.1.0.reply");
  CAF_CHECK_EQUAL(*send.body, content);
  // A txnId or event type with reserved characters cannot escape its segment.
  auto odd = send_request("!a:b", "m.room.message", "x/../y?z", content);
  CAF_CHECK_EQUAL(odd.target,
                  "/_matrix/client/v3/rooms/%21a%3Ab/send/m.room.message/x%2F..%2Fy%3Fz");
  auto id = parse_event_id(response(200, R"({"event_id":"$YUwRidLecu:example.com"})"));
  CAF_REQUIRE(id);
  CAF_CHECK_EQUAL(id.value(), "$YUwRidLecu:example.com");
  auto redact = redact_request("!a:b", "$ev/1", "hm.2.0.redact", std::string_view{"spam"});
  CAF_CHECK_EQUAL(method(redact), "PUT");
  CAF_CHECK_EQUAL(redact.target,
                  "/_matrix/client/v3/rooms/%21a%3Ab/redact/%24ev%2F1/hm.2.0.redact");
  CAF_CHECK_EQUAL(*redact.body, json::parse(R"({"reason":"spam"})"));
  // (Bound first: CAF_CHECK_EQUAL keeps references past the full expression.)
  auto no_reason = redact_request("!a:b", "$e", "t");
  CAF_CHECK_EQUAL(*no_reason.body, json::object());
}

CAF_TEST(typing_and_receipts) {
  auto on = typing_request("!a:b", "@bot:b", true, std::chrono::seconds{20});
  CAF_CHECK_EQUAL(method(on), "PUT");
  CAF_CHECK_EQUAL(on.target, "/_matrix/client/v3/rooms/%21a%3Ab/typing/%40bot%3Ab");
  CAF_CHECK_EQUAL(*on.body, json::parse(R"({"typing":true,"timeout":20000})"));
  auto off = typing_request("!a:b", "@bot:b", false);
  CAF_CHECK_EQUAL(*off.body, json::parse(R"({"typing":false})"));
  auto rr = read_receipt_request("!a:b", "$ev:b");
  CAF_CHECK_EQUAL(method(rr), "POST");
  CAF_CHECK_EQUAL(rr.target, "/_matrix/client/v3/rooms/%21a%3Ab/receipt/m.read/%24ev%3Ab");
  CAF_CHECK_EQUAL(*rr.body, json::object());
  auto threaded = read_receipt_request("!a:b", "$ev:b", std::string_view{"main"});
  CAF_CHECK_EQUAL(*threaded.body, json::parse(R"({"thread_id":"main"})"));
}

CAF_TEST(joined_members) {
  auto req = joined_members_request("!a:b");
  CAF_CHECK_EQUAL(method(req), "GET");
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/rooms/%21a%3Ab/joined_members");
  auto body = read_fixture("joined_members.json");
  auto members = parse_joined_members(response(200, body));
  CAF_REQUIRE(members);
  CAF_REQUIRE_EQUAL(members->size(), 2u);
  CAF_CHECK_EQUAL(members.value()[0].user_id, "@bar:example.com");
  CAF_CHECK_EQUAL(members.value()[0].display_name.value_or(""), "Bar");
  CAF_CHECK_EQUAL(members.value()[1].user_id, "@bot:example.com");
  CAF_CHECK(!members.value()[1].display_name);
  CAF_CHECK(!parse_joined_members(response(200, R"({"joined":[]})")));
}

CAF_TEST(room_state) {
  auto full = room_state_request("!a:b");
  CAF_CHECK_EQUAL(method(full), "GET");
  CAF_CHECK_EQUAL(full.target, "/_matrix/client/v3/rooms/%21a%3Ab/state");
  auto body = read_fixture("room_state.json");
  auto state = parse_room_state(response(200, body));
  CAF_REQUIRE(state);
  CAF_REQUIRE_EQUAL(state->size(), 3u); // the event without event_id is dropped
  CAF_CHECK_EQUAL(state.value()[1].type, "m.room.encryption");
  CAF_CHECK_EQUAL(state.value()[1].state_key.value_or("?"), "");
  auto one = state_event_request("!a:b", "m.room.encryption");
  CAF_CHECK_EQUAL(one.target, "/_matrix/client/v3/rooms/%21a%3Ab/state/m.room.encryption/");
  auto member = state_event_request("!a:b", "m.room.member", "@x:b");
  CAF_CHECK_EQUAL(member.target,
                  "/_matrix/client/v3/rooms/%21a%3Ab/state/m.room.member/%40x%3Ab");
  auto content = parse_state_event(response(200, R"({"algorithm":"m.megolm.v1.aes-sha2"})"));
  CAF_REQUIRE(content);
  CAF_CHECK_EQUAL(content.value()["algorithm"], "m.megolm.v1.aes-sha2");
  auto missing = parse_state_event(
      response(404, R"({"errcode":"M_NOT_FOUND","error":"Event not found."})"));
  CAF_REQUIRE(!missing);
  CAF_CHECK_EQUAL(missing.error().errcode, "M_NOT_FOUND");
}

CAF_TEST(account_data_and_direct) {
  auto get = get_account_data_request("@bot:b", "m.direct");
  CAF_CHECK_EQUAL(method(get), "GET");
  CAF_CHECK_EQUAL(get.target, "/_matrix/client/v3/user/%40bot%3Ab/account_data/m.direct");
  json direct = {{"@alice:b", {"!dm1:b"}}};
  auto updated = add_direct_room(direct, "@alice:b", "!dm2:b");
  CAF_CHECK_EQUAL(updated, json::parse(R"({"@alice:b":["!dm1:b","!dm2:b"]})"));
  CAF_CHECK_EQUAL(add_direct_room(updated, "@alice:b", "!dm2:b"), updated);
  CAF_CHECK_EQUAL(add_direct_room(json(nullptr), "@bob:b", "!x:b"),
                  json::parse(R"({"@bob:b":["!x:b"]})"));
  auto put = put_account_data_request("@bot:b", "m.direct", updated);
  CAF_CHECK_EQUAL(method(put), "PUT");
  CAF_CHECK_EQUAL(put.target, "/_matrix/client/v3/user/%40bot%3Ab/account_data/m.direct");
  CAF_CHECK_EQUAL(*put.body, updated);
  auto parsed = parse_account_data(response(200, R"({"@alice:b":["!dm1:b"]})"));
  CAF_REQUIRE(parsed);
  auto rooms = parse_direct_content(parsed.value());
  CAF_REQUIRE_EQUAL(rooms.size(), 1u);
  CAF_CHECK_EQUAL(rooms[0].first, "@alice:b");
  CAF_CHECK_EQUAL(rooms[0].second.size(), 1u);
}

CAF_TEST(to_device_and_profile) {
  json messages = {{"@alice:b", {{"DEVICE", {{"example_content_key", "value"}}}}}};
  auto req = send_to_device_request("m.room.encrypted", "hm.3.0.keys", messages);
  CAF_CHECK_EQUAL(method(req), "PUT");
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/sendToDevice/m.room.encrypted/hm.3.0.keys");
  CAF_CHECK_EQUAL(*req.body, json({{"messages", messages}}));
  auto dn = displayname_request("@alice:b");
  CAF_CHECK_EQUAL(method(dn), "GET");
  CAF_CHECK_EQUAL(dn.target, "/_matrix/client/v3/profile/%40alice%3Ab/displayname");
  auto name = parse_displayname(response(200, R"({"displayname":"Alice Margatroid"})"));
  CAF_REQUIRE(name);
  CAF_CHECK_EQUAL(name.value().value_or(""), "Alice Margatroid");
  auto none = parse_displayname(response(200, "{}"));
  CAF_REQUIRE(none);
  CAF_CHECK(!none.value());
}

CAF_TEST(body_text_never_throws_on_invalid_utf8) {
  auto req = send_request("!a:b", "m.room.message", "t", json{{"body", "bad \xFF byte"}});
  auto text = body_text(req);
  CAF_CHECK(text.find("\xEF\xBF\xBD") != std::string::npos); // U+FFFD
}

CAF_TEST(unusable_success_bodies) {
  auto not_json = parse_event_id(response(200, "<html>ok</html>"));
  CAF_REQUIRE(!not_json);
  CAF_CHECK_EQUAL(not_json.error().errcode, "HM_BAD_RESPONSE");
  CAF_CHECK(classify(not_json.error()) == error_action::retry);
  CAF_CHECK(!parse_event_id(response(200, "[]")));
  CAF_CHECK(!parse_event_id(response(200, "")));
}

CAF_TEST(messages before a sync gap) {
  using namespace hm::matrix;
  auto req = messages_before_request("!r:hs", "t47-1", "s46_2", 100);
  CAF_CHECK_EQUAL(req.target,
                  "/_matrix/client/v3/rooms/%21r%3Ahs/messages?dir=b&from=t47-1&to=s46_2&limit=100");
  std::string body = R"({"start":"t47-1","end":"t40-1","chunk":[
    {"type":"m.room.message","event_id":"$2","sender":"@a:hs","origin_server_ts":2,"content":{"msgtype":"m.text","body":"two"}},
    {"type":"m.room.message","sender":"@a:hs","content":{}},
    {"type":"m.room.message","event_id":"$1","sender":"@a:hs","origin_server_ts":1,"content":{"msgtype":"m.text","body":"one"}}]})";
  http_response r;
  r.status = 200;
  r.body = body;
  auto page = parse_messages(r);
  CAF_REQUIRE(page.has_value());
  CAF_REQUIRE_EQUAL(page->chunk.size(), 2u); // the event without an id is dropped
  CAF_CHECK_EQUAL(page->chunk[0].event_id, "$2");
  CAF_CHECK_EQUAL(page->end, std::optional<std::string>{"t40-1"});
}
