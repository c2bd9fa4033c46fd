#define CAF_SUITE room_key_sharing
#include "caf/test/unit_test.hpp"

#include <map>

#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/room_key_sharing.hpp"

#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::device_list_changes;
using hm::matrix::http_response;
using hm::matrix::crypto::test::peer;
using nlohmann::json;

namespace {

void learn(device_tracker& t, const std::vector<peer*>& peers) {
  json dk = json::object();
  for (auto* p : peers) {
    t.track(p->self.user_id);
    dk[p->self.user_id][p->self.device_id] =
        p->acc.device_keys(p->self.user_id, p->self.device_id).value();
  }
  std::vector<std::string> q;
  CAF_REQUIRE(t.next_query(q));
  std::string body = json{{"device_keys", dk}}.dump();
  http_response r;
  r.status = 200;
  r.body = body;
  CAF_REQUIRE(t.apply_query_response(r, q));
}

} // namespace

CAF_TEST(plan_and_deliver) {
  peer bot{"@bot:hs", "BOT"};
  peer bot_other{"@bot:hs", "BOT2"};
  peer alice{"@alice:hs", "A1"};
  device_tracker t;
  learn(t, {&bot, &bot_other, &alice});
  std::vector<std::string> members{"@bot:hs", "@alice:hs", "@new:hs"};
  auto plan = plan_room_key_share(t, members, bot.self, {});
  CAF_CHECK_EQUAL(plan.query_first, std::vector<std::string>{"@new:hs"});
  CAF_CHECK(!plan.rotate);
  CAF_REQUIRE_EQUAL(plan.targets.size(), 2u); // Alice's A1 and our BOT2, not this device
  // Alice has an Olm session, BOT2 not yet.
  auto s = create_outbound_session(bot.acc, alice.as_seen_by_others, alice.claim_one_time_key());
  CAF_REQUIRE(s);
  auto out = std::move(outbound_group_session::create("!r:hs", 0).value());
  auto delivery = room_key_messages(bot.acc, bot.self, plan.targets, out.room_key_content().value(),
                                    [&](const device_identity& d) -> olm_session* {
                                      return d.device_id == "A1" ? &s.value() : nullptr;
                                    });
  CAF_REQUIRE(delivery);
  CAF_REQUIRE_EQUAL(delivery->delivered.size(), 1u);
  CAF_REQUIRE_EQUAL(delivery->skipped.size(), 1u);
  CAF_CHECK_EQUAL(delivery->skipped[0].device_id, "BOT2");
  // Alice reads the room key and then the room.
  std::vector<olm_session> alice_sessions;
  auto ev = decrypt_olm(alice.acc, alice_sessions, alice.self, "@bot:hs",
                        delivery->messages["@alice:hs"]["A1"]);
  CAF_REQUIRE(ev);
  auto in = inbound_group_session::from_room_key(ev.value());
  CAF_REQUIRE(in);
  auto c = out.encrypt("m.room.message", {{"body", "hi all"}}, bot.acc, "BOT").value();
  auto d = decrypt_megolm(in.value(), "!r:hs", "$e", 1, c, {});
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content["body"], "hi all");
  // Shared with A1: only BOT2 left to do; Alice leaving forces rotation.
  shared_set shared{shared_device_of(delivery->delivered[0])};
  auto later = plan_room_key_share(t, members, bot.self, shared);
  CAF_REQUIRE_EQUAL(later.targets.size(), 1u);
  CAF_CHECK_EQUAL(later.targets[0].device_id, "BOT2");
  CAF_CHECK(!later.rotate);
  auto after_leave = plan_room_key_share(t, {"@bot:hs"}, bot.self, shared);
  CAF_CHECK(after_leave.rotate);
  // A1 removed from Alice's list: rotation too.
  t.apply(device_list_changes{{"@alice:hs"}, {}});
  std::vector<std::string> q;
  CAF_REQUIRE(t.next_query(q));
  http_response empty;
  empty.status = 200;
  empty.body = R"({"device_keys":{"@alice:hs":{}}})";
  CAF_REQUIRE(t.apply_query_response(empty, q));
  CAF_CHECK(plan_room_key_share(t, members, bot.self, shared).rotate);
}
