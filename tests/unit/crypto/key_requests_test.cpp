#define CAF_SUITE key_requests
#include "caf/test/unit_test.hpp"

#include "matrix/crypto/key_requests.hpp"

#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::crypto::test::peer;
using nlohmann::json;

CAF_TEST(request_and_cancellation_round_trip) {
  requested_key k{"!r:hs", "SESSION", "CURVE"};
  auto c = room_key_request_content(k, "req1", "DEV");
  CAF_CHECK_EQUAL(c["action"], "request");
  CAF_CHECK_EQUAL(c["body"]["algorithm"], "m.megolm.v1.aes-sha2");
  auto parsed = parse_room_key_request(c);
  CAF_REQUIRE(parsed);
  CAF_CHECK(!parsed->cancellation);
  CAF_CHECK_EQUAL(parsed->request_id, "req1");
  CAF_CHECK_EQUAL(parsed->requesting_device_id, "DEV");
  CAF_REQUIRE(parsed->key);
  CAF_CHECK_EQUAL(parsed->key->session_id, "SESSION");
  auto cancel = parse_room_key_request(room_key_request_cancellation("req1", "DEV"));
  CAF_REQUIRE(cancel);
  CAF_CHECK(cancel->cancellation);
  CAF_CHECK(!cancel->key);
  auto msgs = room_key_request_messages(c, "@bot:hs", "@alice:hs", std::string_view{"A1"});
  CAF_CHECK_EQUAL(msgs["@bot:hs"]["*"], c);
  CAF_CHECK_EQUAL(msgs["@alice:hs"]["A1"], c);
  CAF_CHECK_EQUAL(room_key_request_messages(c, "@bot:hs", "@bot:hs", std::nullopt).size(), 1u);
  CAF_CHECK(!parse_room_key_request(json{{"action", "share"}, {"request_id", "x"},
                                         {"requesting_device_id", "D"}}));
  auto olm_req = c;
  olm_req["body"]["algorithm"] = "m.olm.v1.curve25519-aes-sha2";
  CAF_CHECK(!parse_room_key_request(olm_req));
}

CAF_TEST(share_policy) {
  incoming_key_request r;
  r.requesting_device_id = "OTHER";
  r.key = requested_key{"!r:hs", "S", "C"};
  using d = key_share_decision;
  CAF_CHECK(decide_key_share(r, "@bot:hs", "@bot:hs", "DEV", true, true) == d::share);
  CAF_CHECK(decide_key_share(r, "@eve:hs", "@bot:hs", "DEV", true, true) == d::refuse_other_user);
  CAF_CHECK(decide_key_share(r, "@bot:hs", "@bot:hs", "DEV", false, true) == d::refuse_unverified);
  CAF_CHECK(decide_key_share(r, "@bot:hs", "@bot:hs", "DEV", true, false) ==
            d::refuse_unknown_session);
  r.requesting_device_id = "DEV";
  CAF_CHECK(decide_key_share(r, "@bot:hs", "@bot:hs", "DEV", true, true) == d::ignore_own_request);
  CAF_CHECK_EQUAL(to_string(d::refuse_unverified), "refuse_unverified");
}

CAF_TEST(forwarded_key_from_a_request_decrypts) {
  peer bob{"@bob:hs", "B1"};
  auto out = std::move(outbound_group_session::create("!r:hs", 0).value());
  auto mine = std::move(inbound_from_own_outbound(out, bob.acc).value());
  auto c = out.encrypt("m.room.message", {{"body", "hi"}}, bob.acc, "B1").value();
  auto fwd = forwarded_room_key_content(mine);
  CAF_REQUIRE(fwd);
  olm_decrypted ev; // as if it came over Olm from Bob's other device
  ev.type = "m.forwarded_room_key";
  ev.sender_key = "FORWARDER";
  ev.content = fwd.value();
  auto in = inbound_group_session::from_forwarded_room_key(ev);
  CAF_REQUIRE(in);
  CAF_CHECK_EQUAL(in->info().forwarding_chain, std::vector<std::string>{"FORWARDER"});
  auto d = decrypt_megolm(in.value(), "!r:hs", "$e", 1, c, {});
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content["body"], "hi");
}

CAF_TEST(broken_session_rate_limit) {
  CAF_CHECK(may_replace_broken_session(std::nullopt, 0));
  CAF_CHECK(!may_replace_broken_session(1000, 1000 + broken_session_interval_ms - 1));
  CAF_CHECK(may_replace_broken_session(1000, 1000 + broken_session_interval_ms));
}
