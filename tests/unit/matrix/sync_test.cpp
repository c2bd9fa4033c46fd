#define CAF_SUITE sync_parse
#include "caf/test/unit_test.hpp"

#include <algorithm>

#include "matrix/sync.hpp"

#include "fixture.hpp"

using namespace hm::matrix;
using hm::matrix::test::read_fixture;

namespace {

bool skipped_at(const sync_response& s, std::string_view where) {
  return std::any_of(s.skipped.begin(), s.skipped.end(),
                     [&](const skipped_item& i) { return i.where == where; });
}

} // namespace

CAF_TEST(spec_example) {
  auto r = parse_sync(std::string_view{read_fixture("sync_spec_example.json")});
  CAF_REQUIRE(r);
  const auto& s = r.value();
  CAF_CHECK_EQUAL(s.next_batch, "s72595_4483_1934");
  CAF_CHECK(s.skipped.empty());
  // rooms.join
  CAF_REQUIRE_EQUAL(s.join.size(), 1u);
  const auto& room = s.join.at("!726s6s6q:example.com");
  CAF_REQUIRE_EQUAL(room.timeline.events.size(), 2u);
  CAF_CHECK(room.timeline.limited);
  CAF_CHECK_EQUAL(room.timeline.prev_batch.value_or(""), "t34-23535_0_0");
  const auto& msg = room.timeline.events[1];
  CAF_CHECK_EQUAL(msg.type, "m.room.message");
  CAF_CHECK_EQUAL(msg.sender, "@example:example.org");
  CAF_CHECK_EQUAL(msg.event_id, "$143273582443PhrSn:example.org");
  CAF_CHECK_EQUAL(msg.origin_server_ts, 1432735824653);
  CAF_CHECK(!msg.state_key);
  CAF_CHECK_EQUAL(msg.content()["body"].get<std::string>(), "This is an example text message");
  // The raw event is kept whole, including what the model does not name.
  CAF_CHECK_EQUAL(msg.raw["unsigned"]["age"].get<int>(), 1234);
  CAF_CHECK_EQUAL(room.timeline.events[0].state_key.value_or(""), "@alice:example.org");
  CAF_REQUIRE_EQUAL(room.state.size(), 1u);
  CAF_CHECK_EQUAL(room.state[0].type, "m.room.member");
  CAF_REQUIRE_EQUAL(room.ephemeral.size(), 1u);
  CAF_CHECK_EQUAL(room.ephemeral[0].type, "m.typing");
  CAF_REQUIRE_EQUAL(room.account_data.size(), 2u);
  CAF_CHECK_EQUAL(room.account_data[0].type, "m.tag");
  CAF_REQUIRE(room.summary);
  CAF_CHECK_EQUAL(room.summary->heroes.size(), 2u);
  CAF_CHECK_EQUAL(room.summary->joined_member_count.value_or(-1), 2);
  CAF_CHECK_EQUAL(room.summary->invited_member_count.value_or(-1), 0);
  CAF_REQUIRE(room.unread);
  CAF_CHECK_EQUAL(room.unread->highlight_count.value_or(-1), 1);
  CAF_CHECK_EQUAL(room.unread->notification_count.value_or(-1), 5);
  // rooms.invite: the inviter is the sender of our own invite member event.
  CAF_REQUIRE_EQUAL(s.invite.size(), 1u);
  const auto& inv = s.invite.at("!696r7674:example.com");
  CAF_CHECK_EQUAL(inv.invite_state.size(), 2u);
  CAF_CHECK_EQUAL(inv.inviter("@bob:example.com").value_or(""), "@alice:example.com");
  CAF_CHECK(inv.is_direct("@bob:example.com"));
  CAF_CHECK(!inv.inviter("@someone-else:example.com"));
  // rooms.leave
  CAF_REQUIRE_EQUAL(s.leave.size(), 1u);
  CAF_CHECK_EQUAL(s.leave.at("!gone:example.com").timeline.events.size(), 1u);
  CAF_CHECK(!s.leave.at("!gone:example.com").timeline.limited);
  // global account data, m.direct
  CAF_CHECK_EQUAL(s.account_data.size(), 2u);
  CAF_REQUIRE(s.direct);
  CAF_REQUIRE_EQUAL(s.direct->size(), 1u);
  CAF_CHECK_EQUAL(s.direct->at(0).first, "@bob:example.com");
  CAF_CHECK_EQUAL(s.direct->at(0).second.size(), 2u);
  // E2EE extensions
  CAF_REQUIRE_EQUAL(s.to_device.size(), 1u);
  CAF_CHECK_EQUAL(s.to_device[0].type, "m.room_key");
  CAF_CHECK_EQUAL(s.to_device[0].sender, "@alice:example.com");
  CAF_CHECK_EQUAL(s.device_lists.changed.size(), 1u);
  CAF_CHECK_EQUAL(s.device_lists.left.at(0), "@carol:example.com");
  CAF_CHECK_EQUAL(s.one_time_keys_count.at("signed_curve25519"), 20);
  CAF_REQUIRE(s.unused_fallback_key_types);
  CAF_CHECK_EQUAL(s.unused_fallback_key_types->size(), 1u);
}

CAF_TEST(malformed_events_are_skipped_not_fatal) {
  auto r = parse_sync(std::string_view{read_fixture("sync_malformed_events.json")});
  CAF_REQUIRE(r);
  const auto& s = r.value();
  const auto& room = s.join.at("!room:example.org");
  CAF_REQUIRE_EQUAL(room.timeline.events.size(), 2u);
  CAF_CHECK_EQUAL(room.timeline.events[0].event_id, "$ok1");
  CAF_CHECK_EQUAL(room.timeline.events[1].event_id, "$ok2");
  CAF_CHECK(!room.timeline.limited); // "yes" is not a boolean: treated as absent
  for (int i = 1; i <= 9; ++i)
    CAF_CHECK(skipped_at(s, "rooms.join.!room:example.org.timeline[" + std::to_string(i) + "]"));
  CAF_CHECK(skipped_at(s, "rooms.join.!room:example.org.state.events"));
  CAF_CHECK(skipped_at(s, "rooms.join.!room:example.org.ephemeral"));
  CAF_CHECK(skipped_at(s, "rooms.join.!notanobject:example.org"));
  CAF_CHECK(skipped_at(s, "rooms.invite.!inv:example.org.invite_state[0]"));
  CAF_CHECK(skipped_at(s, "to_device[0]"));
  CAF_CHECK(skipped_at(s, "device_one_time_keys_count.signed_curve25519"));
  auto reason_of = [&](std::string_view where) {
    for (const auto& i : s.skipped)
      if (i.where == where)
        return i.reason;
    return std::string{};
  };
  CAF_CHECK_EQUAL(reason_of("rooms.join.!room:example.org.timeline[1]"),
                  "missing or non-string type");
  CAF_CHECK_EQUAL(reason_of("rooms.join.!room:example.org.timeline[2]"),
                  "missing or non-string sender");
  CAF_CHECK_EQUAL(reason_of("rooms.join.!room:example.org.timeline[3]"),
                  "missing or non-string event_id");
  CAF_CHECK_EQUAL(s.skipped.size(), 15u);
  // Only the invite event with a sender survives; it names the inviter.
  CAF_CHECK_EQUAL(s.invite.at("!inv:example.org").inviter("@bot:example.org").value_or(""),
                  "@mallory:example.org");
  CAF_CHECK_EQUAL(s.to_device.size(), 1u);
  CAF_CHECK_EQUAL(s.one_time_keys_count.size(), 1u);
  CAF_CHECK_EQUAL(s.one_time_keys_count.at("curve25519"), 10);
  // Present but empty: the fallback key was used, upload a new one.
  CAF_REQUIRE(s.unused_fallback_key_types);
  CAF_CHECK(s.unused_fallback_key_types->empty());
}

CAF_TEST(minimal_sync_and_absent_fallback_types) {
  auto r = parse_sync(std::string_view{R"({"next_batch":"s1"})"});
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->next_batch, "s1");
  CAF_CHECK(r->join.empty());
  CAF_CHECK(!r->direct);
  // Absent: the server does not support fallback keys.
  CAF_CHECK(!r->unused_fallback_key_types);
  auto unstable = parse_sync(std::string_view{
      R"({"next_batch":"s1","org.matrix.msc2732.device_unused_fallback_key_types":[]})"});
  CAF_REQUIRE(unstable);
  CAF_CHECK(unstable->unused_fallback_key_types.has_value());
}

CAF_TEST(malformed_top_level_is_an_error) {
  for (std::string_view body : {"", "null", "[]", "{", R"({"rooms":{}})",
                                R"({"next_batch":5})", "<html>502</html>"}) {
    auto r = parse_sync(body);
    CAF_CHECK(!r);
    if (!r)
      CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_RESPONSE");
  }
  auto wrong_rooms = parse_sync(std::string_view{R"({"next_batch":"s","rooms":[]})"});
  CAF_REQUIRE(wrong_rooms);
  CAF_CHECK(skipped_at(wrong_rooms.value(), "rooms"));
}

CAF_TEST(hostile_depth_is_rejected) {
  // Unterminated: not JSON at all, however deep.
  std::string deep = R"({"next_batch":"s","account_data":{"events":[{"type":"x","content":)";
  for (int i = 0; i < 100000; ++i)
    deep += "[";
  auto r = parse_sync(std::string_view{deep});
  CAF_REQUIRE(!r);
  CAF_CHECK(r.error().error.find("not valid JSON") != std::string::npos);
}

// One sender's deeply nested content must not make the whole sync unreadable (the
// profile would fail every later sync and never answer again): the deep part is cut off.
CAF_TEST(hostile_depth_in_one_event_is_pruned_and_the_rest_kept) {
  std::string nested = std::string(5000, '[') + std::string(5000, ']');
  std::string body = R"({"next_batch":"s9","rooms":{"join":{"!r:x":{"timeline":{"events":[)"
                     R"({"type":"m.room.message","event_id":"$deep","sender":"@a:x",)"
                     R"("origin_server_ts":1,"content":{"msgtype":"m.text","body":"deep","x":)"
                     + nested
                     + R"(}},{"type":"m.room.message","event_id":"$next","sender":"@a:x",)"
                       R"("origin_server_ts":2,"content":{"msgtype":"m.text","body":"hi"}}]}}}}})";
  auto r = parse_sync(std::string_view{body});
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->next_batch, "s9");
  auto& events = r->join["!r:x"].timeline.events;
  CAF_REQUIRE_EQUAL(events.size(), 2u);
  CAF_CHECK_EQUAL(events[0].event_id, "$deep");
  CAF_CHECK_EQUAL(events[1].event_id, "$next");
}
