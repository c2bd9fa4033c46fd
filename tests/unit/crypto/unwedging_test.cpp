#define CAF_SUITE unwedging

// Broken Olm sessions, sans I/O: when a session is replaced, how often, with whom, and
// the m.dummy that announces the new one (read by a real libolm peer).

#include "matrix/crypto/unwedging.hpp"

#include "olm_test_peers.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::crypto::test::peer;
using nlohmann::json;

namespace {

constexpr std::int64_t hour = unwedging::interval_ms;

struct fixture {
  peer bot{"@bot:hs", "BOTDEV"};
  peer human{"@human:hs", "HUMANDEV"};
  device_tracker tracker;

  fixture() {
    std::map<std::string, tracked_user> users;
    users["@human:hs"].outdated = false;
    users["@human:hs"].devices["HUMANDEV"] = human.as_seen_by_others;
    tracker = device_tracker{users};
  }

  const std::string& human_curve() const { return human.as_seen_by_others.curve25519; }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(unwedging_tests, fixture)

CAF_TEST(a checked device gets a new session at most once an hour also across a restart) {
  unwedging u;
  auto first = u.consider(tracker, "@human:hs", human_curve(), 10 * hour);
  auto* replace = std::get_if<unwedging::replace>(&first);
  CAF_REQUIRE(replace != nullptr);
  CAF_CHECK_EQUAL(replace->device.device_id, "HUMANDEV");
  CAF_CHECK_EQUAL(replace->claim.target, "/_matrix/client/v3/keys/claim");
  CAF_CHECK_EQUAL((*replace->claim.body)["one_time_keys"]["@human:hs"]["HUMANDEV"],
                  "signed_curve25519");
  auto again = u.consider(tracker, "@human:hs", human_curve(), 10 * hour + 1000);
  CAF_CHECK(std::holds_alternative<unwedging::not_now>(again));
  // A restart reads the stored times: still not within the hour.
  unwedging restarted{u.times_json()};
  CAF_CHECK(std::holds_alternative<unwedging::not_now>(
    restarted.consider(tracker, "@human:hs", human_curve(), 10 * hour + 2000)));
  CAF_CHECK(std::holds_alternative<unwedging::replace>(
    restarted.consider(tracker, "@human:hs", human_curve(), 11 * hour)));
  // Times past the hour are not kept.
  CAF_CHECK(std::holds_alternative<unwedging::not_now>(
    restarted.consider(tracker, "@human:hs", "other-curve", 13 * hour)));
  CAF_CHECK_EQUAL(restarted.times_json(), "{}");
  CAF_CHECK(std::holds_alternative<unwedging::replace>(
    unwedging{"not json"}.consider(tracker, "@human:hs", human_curve(), 10 * hour)));
}

CAF_TEST(a device whose keys were never checked gets no session) {
  unwedging u;
  auto d = u.consider(tracker, "@human:hs", "a-curve-nobody-checked", hour);
  auto* later = std::get_if<unwedging::not_now>(&d);
  CAF_REQUIRE(later != nullptr);
  CAF_CHECK(later->unknown_device);
  CAF_CHECK(std::holds_alternative<unwedging::not_now>(
    u.consider(tracker, "@stranger:hs", human_curve(), hour)));
}

CAF_TEST(the m.dummy goes over a new session the device can read) {
  auto key = test::test_pickle_key();
  auto otk = human.claim_one_time_key();
  hm::matrix::http_response claimed;
  claimed.status = 200;
  auto body = json{{"one_time_keys", {{"@human:hs", {{"HUMANDEV", otk}}}}}}.dump();
  claimed.body = body;
  auto dummy = unwedging::dummy_for(bot.acc, bot.self, key, human.as_seen_by_others, claimed);
  CAF_REQUIRE(dummy.has_value());
  CAF_CHECK_EQUAL(dummy->session.sender_key, human_curve());
  CAF_CHECK(olm_session::from_pickle(dummy->session.pickle, key).has_value());
  CAF_CHECK(dummy->send.target.find("/sendToDevice/m.room.encrypted/") != std::string::npos);
  auto content = (*dummy->send.body)["messages"]["@human:hs"]["HUMANDEV"];
  std::vector<olm_session> sessions;
  auto olm = decrypt_olm(human.acc, sessions, human.self, "@bot:hs", content);
  CAF_REQUIRE(olm.has_value());
  CAF_CHECK_EQUAL(olm->type, "m.dummy");
  // No one-time key left: nothing to start a session with.
  auto empty = json{{"one_time_keys", json::object()}}.dump();
  claimed.body = empty;
  auto none = unwedging::dummy_for(bot.acc, bot.self, key, human.as_seen_by_others, claimed);
  CAF_REQUIRE(!none.has_value());
  CAF_CHECK_EQUAL(none.error().errcode, "HM_BAD_KEY");
}

CAF_TEST_FIXTURE_SCOPE_END()
