#define CAF_SUITE room_registry

#include "matrix/crypto/room_registry.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm::matrix::crypto;
namespace matrix = hm::matrix;
using nlohmann::json;

namespace {

json state_event(const std::string& type, const std::string& state_key, json content) {
  return {{"type", type}, {"state_key", state_key}, {"sender", "@doru:hs"},
          {"event_id", "$" + type + state_key}, {"origin_server_ts", 1},
          {"content", std::move(content)}};
}

/// A sync batch with `timeline` in !r:hs (`limited`: a gap before it), and `left` rooms.
matrix::sync_response batch(json timeline, bool limited = false,
                            std::vector<std::string> left = {}) {
  json body{{"next_batch", "s"},
            {"rooms",
             {{"join", {{"!r:hs", {{"timeline", {{"events", timeline}, {"limited", limited}}}}}}},
              {"leave", json::object()}}}};
  for (auto& room : left)
    body["rooms"]["leave"][room] = {{"timeline", {{"events", json::array()}}}};
  auto parsed = matrix::parse_sync(body);
  if (!parsed)
    CAF_FAIL("unparsable test batch");
  return std::move(parsed).value();
}

} // namespace

CAF_TEST(an encryption event in sync marks the room encrypted with its rotation periods) {
  room_registry rooms;
  CAF_CHECK(!rooms.encrypted("!r:hs").has_value());
  rooms.apply(batch(json::array({state_event("m.room.encryption", "",
                                             {{"algorithm", "m.megolm.v1.aes-sha2"},
                                              {"rotation_period_msgs", 10}})})),
              false);
  CAF_CHECK_EQUAL(rooms.encrypted("!r:hs"), std::optional<bool>{true});
  CAF_CHECK_EQUAL(rooms.policy("!r:hs").period_msgs, 10);
  CAF_CHECK_EQUAL(rooms.policy("!other:hs").period_msgs, rotation_policy{}.period_msgs);
}

CAF_TEST(a room once encrypted stays encrypted) {
  room_registry rooms;
  rooms.note_encryption("!r:hs", {{"algorithm", "m.megolm.v1.aes-sha2"}});
  rooms.note_unencrypted("!r:hs");
  CAF_CHECK_EQUAL(rooms.encrypted("!r:hs"), std::optional<bool>{true});
  rooms.note_unencrypted("!plain:hs");
  CAF_CHECK_EQUAL(rooms.encrypted("!plain:hs"), std::optional<bool>{false});
}

CAF_TEST(listed members are forgotten on a membership change a gap a leave or a fresh start) {
  room_registry rooms;
  auto listed = [&] {
    rooms.note_members("!r:hs", {"@bot:hs", "@doru:hs"});
    CAF_REQUIRE(rooms.members("!r:hs") != nullptr);
  };
  listed();
  rooms.apply(batch(json::array({{{"type", "m.room.message"}, {"sender", "@doru:hs"},
                                  {"event_id", "$m"}, {"origin_server_ts", 1},
                                  {"content", {{"body", "hi"}}}}})),
              false);
  CAF_CHECK_EQUAL(rooms.members("!r:hs")->size(), 2u); // a message changes nothing
  rooms.apply(batch(json::array({state_event("m.room.member", "@eve:hs",
                                             {{"membership", "join"}})})),
              false);
  CAF_CHECK(rooms.members("!r:hs") == nullptr);
  listed();
  rooms.apply(batch(json::array(), true), false); // a gap
  CAF_CHECK(rooms.members("!r:hs") == nullptr);
  listed();
  rooms.apply(batch(json::array(), false, {"!r:hs"}), false); // left
  CAF_CHECK(rooms.members("!r:hs") == nullptr);
  listed();
  rooms.apply(batch(json::array()), true); // a fresh start
  CAF_CHECK(rooms.members("!r:hs") == nullptr);
}
