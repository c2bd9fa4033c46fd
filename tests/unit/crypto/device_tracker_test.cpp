#define CAF_SUITE device_tracker
#include "caf/test/unit_test.hpp"

#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/own_device_check.hpp"

#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::device_list_changes;
using hm::matrix::http_response;
using hm::matrix::crypto::test::peer;
using nlohmann::json;

namespace {

http_response resp(int status, const std::string& body) {
  http_response r;
  r.status = status;
  r.body = body;
  return r;
}

json query_body(const std::vector<peer*>& peers) {
  json dk = json::object();
  for (auto* p : peers)
    dk[p->self.user_id][p->self.device_id] =
        p->acc.device_keys(p->self.user_id, p->self.device_id).value();
  return json{{"device_keys", dk}, {"failures", json::object()}};
}

} // namespace

CAF_TEST(track_query_apply) {
  peer alice{"@alice:hs", "A1"};
  peer alice2{"@alice:hs", "A2"};
  peer bob{"@bob:hs", "B1"};
  device_tracker t;
  std::vector<std::string> q;
  CAF_CHECK(!t.next_query(q));
  t.track("@alice:hs");
  t.track("@bob:hs");
  auto req = t.next_query(q);
  CAF_REQUIRE(req);
  CAF_CHECK_EQUAL(req->target, "/_matrix/client/v3/keys/query");
  CAF_CHECK_EQUAL((*req->body)["device_keys"],
                  json({{"@alice:hs", json::array()}, {"@bob:hs", json::array()}}));
  CAF_CHECK_EQUAL(q, (std::vector<std::string>{"@alice:hs", "@bob:hs"}));
  // One query per user in flight.
  std::vector<std::string> q2;
  CAF_CHECK(!t.next_query(q2));
  auto body = query_body({&alice, &alice2, &bob}).dump();
  auto out = t.apply_query_response(resp(200, body), q);
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->updated_users.size(), 2u);
  CAF_CHECK_EQUAL(out->new_devices.size(), 3u);
  CAF_CHECK(out->rejected.empty());
  CAF_CHECK(!t.users().at("@alice:hs").outdated);
  CAF_CHECK_EQUAL(t.devices("@alice:hs")->size(), 2u);
  CAF_CHECK_EQUAL(t.devices("@bob:hs")->at("B1").curve25519, bob.acc.identity().curve25519);
  CAF_CHECK(!t.next_query(q));
  // Alice's A2 goes away: reported removed.
  t.apply(device_list_changes{{"@alice:hs", "@stranger:hs"}, {}});
  CAF_CHECK(!t.is_tracked("@stranger:hs"));
  req = t.next_query(q);
  CAF_REQUIRE(req);
  CAF_CHECK_EQUAL(q, std::vector<std::string>{"@alice:hs"});
  out = t.apply_query_response(resp(200, query_body({&alice}).dump()), q);
  CAF_REQUIRE(out);
  CAF_REQUIRE_EQUAL(out->removed_devices.size(), 1u);
  CAF_CHECK_EQUAL(out->removed_devices[0].device_id, "A2");
  // Bob leaves every shared room.
  t.apply(device_list_changes{{}, {"@bob:hs"}});
  CAF_CHECK(!t.is_tracked("@bob:hs"));
  CAF_CHECK(t.devices("@bob:hs") == nullptr);
  // State survives a restart through users().
  device_tracker restored{t.users()};
  CAF_CHECK_EQUAL(restored.devices("@alice:hs")->size(), 1u);
  CAF_CHECK(!restored.next_query(q));
}

CAF_TEST(bad_devices_rejected) {
  peer alice{"@alice:hs", "A1"};
  peer impostor{"@alice:hs", "A1"}; // same ids, other keys
  peer mallory{"@mallory:hs", "M1"};
  device_tracker t;
  t.track("@alice:hs");
  std::vector<std::string> q;
  CAF_REQUIRE(t.next_query(q));
  auto body = query_body({&alice});
  // A device listed under another id, an unsigned device, a tampered one.
  body["device_keys"]["@alice:hs"]["A9"] = body["device_keys"]["@alice:hs"]["A1"];
  auto unsigned_dev = mallory.acc.device_keys("@alice:hs", "U1").value();
  unsigned_dev.erase("signatures");
  body["device_keys"]["@alice:hs"]["U1"] = unsigned_dev;
  auto tampered = impostor.acc.device_keys("@alice:hs", "T1").value();
  tampered["keys"]["curve25519:T1"] = mallory.acc.identity().curve25519;
  body["device_keys"]["@alice:hs"]["T1"] = tampered;
  auto out = t.apply_query_response(resp(200, body.dump()), q);
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->rejected.size(), 3u);
  CAF_CHECK_EQUAL(t.devices("@alice:hs")->size(), 1u);
  // The device's ed25519 key changes: refused, the old one kept.
  t.apply(device_list_changes{{"@alice:hs"}, {}});
  CAF_REQUIRE(t.next_query(q));
  out = t.apply_query_response(resp(200, query_body({&impostor}).dump()), q);
  CAF_REQUIRE(out);
  CAF_REQUIRE_EQUAL(out->rejected.size(), 1u);
  CAF_CHECK(out->rejected[0].reason.find("ed25519") != std::string::npos);
  CAF_CHECK_EQUAL(t.devices("@alice:hs")->at("A1").ed25519, alice.acc.identity().ed25519);
  CAF_CHECK(out->removed_devices.empty());
}

CAF_TEST(changes_during_a_query_and_failures) {
  peer alice{"@alice:hs", "A1"};
  device_tracker t;
  t.track("@alice:hs");
  t.track("@far:remote");
  std::vector<std::string> q;
  CAF_REQUIRE(t.next_query(q));
  // Alice changes while we ask: the answer cannot make her up to date.
  t.apply(device_list_changes{{"@alice:hs"}, {}});
  auto body = query_body({&alice});
  body["failures"] = {{"remote", {{"errcode", "M_UNKNOWN"}}}};
  auto out = t.apply_query_response(resp(200, body.dump()), q);
  CAF_REQUIRE(out);
  CAF_CHECK(out->updated_users.empty());
  CAF_CHECK_EQUAL(out->still_outdated.size(), 2u);
  CAF_CHECK(t.users().at("@alice:hs").outdated);
  CAF_CHECK_EQUAL(t.devices("@alice:hs")->size(), 1u); // what we learnt is kept
  // Asked again, answered: up to date.
  std::vector<std::string> q2;
  CAF_REQUIRE(t.next_query(q2));
  CAF_CHECK_EQUAL(q2.size(), 2u);
  CAF_CHECK(!t.apply_query_response(resp(502, "<html>bad gateway</html>"), q2));
  CAF_REQUIRE(t.next_query(q2)); // a failed query frees the users
  t.query_failed(q2);
  CAF_REQUIRE(t.next_query(q2));
  out = t.apply_query_response(resp(200, query_body({&alice}).dump()), q2);
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->updated_users, std::vector<std::string>{"@alice:hs"});
}

CAF_TEST(claim_and_session) {
  peer alice{"@alice:hs", "A1"};
  peer bob{"@bob:hs", "B1"};
  auto req = keys_claim_request({bob.as_seen_by_others});
  CAF_CHECK_EQUAL(req.target, "/_matrix/client/v3/keys/claim");
  CAF_CHECK_EQUAL((*req.body)["one_time_keys"], json({{"@bob:hs", {{"B1", "signed_curve25519"}}}}));
  json body = {{"one_time_keys", {{"@bob:hs", {{"B1", bob.claim_one_time_key()}, {"B2", json::object()}}}}},
               {"failures", json::object()}};
  auto claimed = parse_keys_claim(resp(200, body.dump()));
  CAF_REQUIRE(claimed);
  CAF_CHECK_EQUAL(claimed->at("@bob:hs").count("B2"), 0u);
  auto s = create_outbound_session(alice.acc, bob.as_seen_by_others,
                                   claimed->at("@bob:hs").at("B1"));
  CAF_CHECK(s);
  CAF_CHECK(!parse_keys_claim(resp(200, "[]")));
  CAF_CHECK(parse_keys_claim(resp(200, "{}")));
}

CAF_TEST(tracked devices survive their stored form and unreadable text tracks nothing) {
  std::map<std::string, tracked_user> users;
  users["@u:hs"].outdated = false;
  users["@u:hs"].devices["D1"] = {"@u:hs", "D1", "curve-1", "ed-1"};
  users["@v:hs"].outdated = true;
  auto back = tracked_users_from_json(tracked_users_json(users));
  CAF_REQUIRE_EQUAL(back.size(), 2u);
  CAF_CHECK(!back["@u:hs"].outdated);
  CAF_CHECK(back["@v:hs"].outdated);
  CAF_REQUIRE_EQUAL(back["@u:hs"].devices.size(), 1u);
  auto& d = back["@u:hs"].devices["D1"];
  CAF_CHECK_EQUAL(d.user_id, "@u:hs");
  CAF_CHECK_EQUAL(d.device_id, "D1");
  CAF_CHECK_EQUAL(d.curve25519, "curve-1");
  CAF_CHECK_EQUAL(d.ed25519, "ed-1");
  CAF_CHECK(tracked_users_from_json("not json").empty());
  CAF_CHECK(tracked_users_from_json("[1,2]").empty());
}

// -- our own device on the server (own_device_check) ---------------------------------

CAF_TEST(our own device on the server is ours or absent or another account) {
  peer bot("@bot:hs", "BOTDEV");
  auto& ours = bot.acc.identity();
  auto query = own_device_query(bot.self);
  CAF_CHECK_EQUAL(query.target, "/_matrix/client/v3/keys/query");
  CAF_CHECK((*query.body)["device_keys"].contains("@bot:hs"));
  auto body = query_body({&bot}).dump();
  auto found = check_own_device(resp(200, body), bot.self, ours);
  CAF_REQUIRE(found.has_value());
  CAF_CHECK(found->what == own_device_on_server::state::ours);
  auto none = json{{"device_keys", json::object()}, {"failures", json::object()}}.dump();
  auto absent = check_own_device(resp(200, none), bot.self, ours);
  CAF_REQUIRE(absent.has_value());
  CAF_CHECK(absent->what == own_device_on_server::state::absent);
  // Another account under our device id: well signed, but not our keys.
  peer impostor("@bot:hs", "BOTDEV");
  auto other_body = query_body({&impostor}).dump();
  auto other = check_own_device(resp(200, other_body), bot.self, ours);
  CAF_REQUIRE(other.has_value());
  CAF_CHECK(other->what == own_device_on_server::state::other);
  CAF_CHECK_EQUAL(other->mismatch, "identity keys differ");
  // Keys for our device that do not even verify.
  auto forged = query_body({&bot});
  forged["device_keys"]["@bot:hs"]["BOTDEV"]["keys"]["curve25519:BOTDEV"] = "changed";
  auto forged_body = forged.dump();
  auto refused = check_own_device(resp(200, forged_body), bot.self, ours);
  CAF_REQUIRE(refused.has_value());
  CAF_CHECK(refused->what == own_device_on_server::state::other);
  CAF_CHECK(!refused->mismatch.empty());
  auto failed_body = std::string{R"({"errcode":"M_UNKNOWN","error":"x"})"};
  CAF_CHECK(!check_own_device(resp(500, failed_body), bot.self, ours).has_value());
}
