#define CAF_SUITE verification_flows
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <string>

#include "matrix/crypto/account.hpp"
#include "matrix/crypto/verification_flows.hpp"

using namespace hm::matrix::crypto;
using nlohmann::json;
using action = verification_intake::action;

namespace {

const std::string bot = "@bot:example.org";
const std::string bot_device = "BOTDEV";
const std::string alice = "@alice:example.org";
const std::string mallory = "@mallory:example.org";

const auto now = std::chrono::system_clock::now();
const auto mono = std::chrono::steady_clock::now();

std::int64_t ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

verification_event request(const std::string& sender, const std::string& flow,
                           const std::string& device = "ALICEDEV") {
  return {"m.key.verification.request", sender,
          json{{"from_device", device},
               {"methods", {"m.sas.v1"}},
               {"timestamp", ms(now)},
               {"transaction_id", flow}},
          {}};
}

verification_event start(const std::string& sender, const std::string& flow) {
  return {"m.key.verification.start", sender,
          json{{"from_device", "ALICEDEV"},
               {"method", "m.sas.v1"},
               {"transaction_id", flow},
               {"key_agreement_protocols", {"curve25519-hkdf-sha256"}},
               {"hashes", {"sha256"}},
               {"message_authentication_codes", {"hkdf-hmac-sha256.v2"}},
               {"short_authentication_string", {"decimal", "emoji"}}},
          {}};
}

verification_intake take(verification_flows& flows, const verification_event& e,
                         bool allowed = true) {
  return flows.receive(e, verification_transport::to_device, "", bot, bot_device, allowed,
                       e.content.contains("timestamp")
                         ? std::optional<std::int64_t>{e.content["timestamp"].get<std::int64_t>()}
                         : std::nullopt,
                       now, mono);
}

/// A device with real ed25519 keys (the machine needs keys it can use).
sas_device device_of(const std::string& user, const std::string& id) {
  auto acc = account::create();
  return {user, id, acc.value().identity().ed25519, std::nullopt};
}

} // namespace

CAF_TEST(a request from an allowed user opens a flow that waits for the peer keys) {
  verification_flows flows;
  auto in = take(flows, request(alice, "f1"));
  CAF_CHECK(in.what == action::fetch_keys);
  CAF_CHECK_EQUAL(in.flow_id, "f1");
  auto* flow = flows.find("f1");
  CAF_REQUIRE(flow != nullptr);
  CAF_CHECK_EQUAL(flow->user_id, alice);
  CAF_CHECK_EQUAL(flow->device_id, "ALICEDEV");
  CAF_CHECK_EQUAL(flow->state(), "fetching_keys");
  CAF_CHECK(flow->open());
  // What comes before the keys waits with the flow, and is fed to it once they are here.
  CAF_CHECK(take(flows, start(alice, "f1")).what == action::wait);
  auto sends = flows.begin("f1", device_of(bot, bot_device), device_of(alice, "ALICEDEV"));
  CAF_REQUIRE(sends);
  // The request is answered with ready, the start with accept.
  CAF_REQUIRE_EQUAL(sends.value().size(), 2u);
  CAF_CHECK_EQUAL(sends.value()[0].type, "m.key.verification.ready");
  CAF_CHECK_EQUAL(sends.value()[1].type, "m.key.verification.accept");
  CAF_CHECK_EQUAL(flow->state(), "accepted");
  CAF_CHECK(take(flows, start(alice, "f1")).what == action::deliver);
}

CAF_TEST(a start without a request opens a flow as matrix-nio begins one) {
  verification_flows flows;
  auto in = take(flows, start(alice, "nio1"));
  CAF_CHECK(in.what == action::fetch_keys);
  auto sends = flows.begin("nio1", device_of(bot, bot_device), device_of(alice, "ALICEDEV"));
  CAF_REQUIRE(sends);
  CAF_REQUIRE_EQUAL(sends.value().size(), 1u);
  CAF_CHECK_EQUAL(sends.value()[0].type, "m.key.verification.accept");
}

CAF_TEST(a stranger is declined with m.user and no flow is kept) {
  verification_flows flows;
  auto in = take(flows, request(mallory, "m1"), false);
  CAF_CHECK(in.what == action::decline);
  CAF_REQUIRE(in.reply);
  CAF_CHECK_EQUAL(in.reply->type, "m.key.verification.cancel");
  CAF_CHECK_EQUAL(in.reply->content.value("code", ""), "m.user");
  CAF_CHECK_EQUAL(in.reply->content.value("transaction_id", ""), "m1");
  CAF_CHECK(flows.find("m1") == nullptr);
}

CAF_TEST(events of unknown flows and stale requests are ignored) {
  verification_flows flows;
  verification_event key{"m.key.verification.key", alice,
                         json{{"transaction_id", "nope"}, {"key", "abc"}}, {}};
  CAF_CHECK(take(flows, key).what == action::ignore);
  auto old = request(alice, "old");
  old.content["timestamp"] = ms(now - std::chrono::minutes{11});
  CAF_CHECK(take(flows, old).what == action::ignore);
  auto missing = request(alice, "missing");
  missing.content.erase("timestamp");
  CAF_CHECK(take(flows, missing).what == action::ignore);
  CAF_CHECK(flows.all().empty());
}

CAF_TEST(our own requests echoed back and events from another user of a flow are ignored) {
  verification_flows flows;
  CAF_CHECK(take(flows, request(bot, "own", bot_device)).what == action::ignore);
  // The bot's owner on another device may verify.
  CAF_CHECK(take(flows, request(bot, "owner", "PHONE")).what == action::fetch_keys);
  CAF_CHECK(take(flows, request(alice, "f2")).what == action::fetch_keys);
  CAF_CHECK(take(flows, start(mallory, "f2")).what == action::ignore);
}

CAF_TEST(at most max_open flows are open at a time) {
  verification_flows flows{2};
  CAF_CHECK(take(flows, request(alice, "a")).what == action::fetch_keys);
  CAF_CHECK(take(flows, request(alice, "b")).what == action::fetch_keys);
  CAF_CHECK(take(flows, request(alice, "c")).what == action::ignore);
  CAF_CHECK_EQUAL(flows.open_count(), 2u);
  // A flow whose device has no keys is cancelled, which makes room.
  auto cancel = flows.keys_missing("a");
  CAF_REQUIRE(cancel);
  CAF_CHECK_EQUAL(cancel->content.value("code", ""), "m.user");
  CAF_CHECK_EQUAL(flows.find("a")->state(), "cancelled");
  CAF_CHECK(take(flows, request(alice, "c")).what == action::fetch_keys);
  // Events of a finished flow go nowhere; their done or cancel after the end is routine.
  auto late_start = take(flows, start(alice, "a"));
  CAF_CHECK(late_start.what == action::ignore && !late_start.routine);
  auto late_done = take(flows, {"m.key.verification.done", alice, json{{"transaction_id", "a"}}, {}});
  CAF_CHECK(late_done.what == action::ignore && late_done.routine);
}

CAF_TEST(closed flows are forgotten beyond the number kept) {
  verification_flows flows{8, 1};
  CAF_CHECK(take(flows, request(alice, "a")).what == action::fetch_keys);
  CAF_CHECK(take(flows, request(alice, "b")).what == action::fetch_keys);
  CAF_CHECK(flows.keys_missing("a"));
  CAF_CHECK(flows.keys_missing("b"));
  flows.prune();
  CAF_CHECK(flows.find("a") == nullptr);
  CAF_CHECK(flows.find("b") != nullptr);
}

CAF_TEST(in room requests and steps are verification events for the crypto actor) {
  CAF_CHECK(is_verification_event("m.room.message",
                                  json{{"msgtype", "m.key.verification.request"}}));
  CAF_CHECK(is_verification_event("m.key.verification.ready", json::object()));
  CAF_CHECK(!is_verification_event("m.room.message", json{{"msgtype", "m.text"}}));
  CAF_CHECK(!is_verification_event("m.reaction", json::object()));
  verification_flows flows;
  verification_event req{"m.room.message", alice,
                         json{{"msgtype", "m.key.verification.request"},
                              {"from_device", "ALICEDEV"},
                              {"methods", {"m.sas.v1"}},
                              {"to", bot}},
                         "$req"};
  auto in = flows.receive(req, verification_transport::in_room, "!dm:example.org", bot,
                          bot_device, true, ms(now), now, mono);
  CAF_CHECK(in.what == action::fetch_keys);
  CAF_CHECK_EQUAL(in.flow_id, "$req");
  CAF_CHECK_EQUAL(flows.find("$req")->room_id, "!dm:example.org");
  // A request for another member of the room is not ours.
  auto other = req;
  other.event_id = "$other";
  other.content["to"] = "@carol:example.org";
  CAF_CHECK(flows.receive(other, verification_transport::in_room, "!dm:example.org", bot,
                          bot_device, true, ms(now), now, mono)
              .what
            == action::ignore);
  // The same flow id from another room is not this flow.
  verification_event ready{"m.key.verification.start", alice,
                           json{{"from_device", "ALICEDEV"},
                                {"m.relates_to", {{"rel_type", "m.reference"}, {"event_id", "$req"}}}},
                           "$x"};
  CAF_CHECK(flows.receive(ready, verification_transport::in_room, "!other:example.org", bot,
                          bot_device, true, ms(now), now, mono)
              .what
            == action::ignore);
}

CAF_TEST(the peer keys come from keys query with their self signature checked) {
  auto acc = account::create().value();
  auto keys = acc.device_keys(alice, "ALICEDEV");
  CAF_REQUIRE(keys);
  json body{{"device_keys", {{alice, {{"ALICEDEV", keys.value()}}}}},
            {"master_keys",
             {{alice,
               {{"user_id", alice},
                {"usage", {"master"}},
                {"keys", {{"ed25519:MASTERPUB", "MASTERPUB"}}}}}}}};
  auto text = body.dump();
  hm::matrix::http_response r;
  r.status = 200;
  r.body = text;
  auto peer = read_peer_keys(r, alice, "ALICEDEV", std::nullopt);
  CAF_REQUIRE(peer);
  CAF_CHECK_EQUAL(peer.value().ed25519, acc.identity().ed25519);
  CAF_REQUIRE(peer.value().master_key);
  CAF_CHECK_EQUAL(*peer.value().master_key, "MASTERPUB");
  CAF_CHECK(!read_peer_keys(r, alice, "OTHERDEV", std::nullopt));
  CAF_CHECK(!read_peer_keys(r, alice, "ALICEDEV", std::string{"another key"}));
  auto query = peer_keys_query(alice);
  CAF_CHECK(query.body->at("device_keys").contains(alice));
}
