#define CAF_SUITE megolm
#include "caf/test/unit_test.hpp"

#include <map>

#include "matrix/crypto/megolm.hpp"

#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::encryption_content;
using hm::matrix::crypto::test::peer;
using hm::matrix::crypto::test::test_pickle_key;
using nlohmann::json;

namespace {

constexpr std::int64_t week_ms = 7LL * 24 * 60 * 60 * 1000;

// Sends `content` as a to-device event over a fresh Olm session and returns what the
// recipient decrypted: the only way a room key may arrive.
olm_decrypted over_olm(peer& from, peer& to, std::string_view type, const json& content) {
  auto s = create_outbound_session(from.acc, to.as_seen_by_others, to.claim_one_time_key());
  auto encrypted = encrypt_olm(s.value(), from.acc, from.self, to.as_seen_by_others, type, content);
  std::vector<olm_session> sessions;
  return std::move(decrypt_olm(to.acc, sessions, to.self, from.self.user_id, encrypted.value())
                       .value());
}

struct replay_log {
  std::map<std::uint32_t, seen_message> entries;
  seen_lookup lookup() {
    return [this](std::uint32_t i) -> std::optional<seen_message> {
      auto it = entries.find(i);
      if (it == entries.end())
        return std::nullopt;
      return it->second;
    };
  }
};

struct fixture {
  peer alice{"@alice:hs", "ALICEDEV"};
  peer bob{"@bob:hs", "BOBDEV"};
  std::string room = "!room:hs";
  outbound_group_session out = std::move(outbound_group_session::create(room, 1000).value());

  inbound_group_session share_with_alice() {
    auto key = out.room_key_content();
    CAF_REQUIRE(key);
    auto ev = over_olm(bob, alice, "m.room_key", key.value());
    CAF_REQUIRE_EQUAL(ev.type, "m.room_key");
    auto in = inbound_group_session::from_room_key(ev);
    CAF_REQUIRE(in);
    return std::move(in.value());
  }
  json send(const json& content) {
    return out.encrypt("m.room.message", content, bob.acc, "BOBDEV").value();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(megolm_tests, fixture)

CAF_TEST(room_key_over_olm_then_decrypt) {
  auto in = share_with_alice();
  CAF_CHECK_EQUAL(in.info().room_id, room);
  CAF_CHECK_EQUAL(in.info().session_id, out.id());
  CAF_CHECK_EQUAL(in.info().sender_key, bob.acc.identity().curve25519);
  CAF_CHECK_EQUAL(in.info().sender_ed25519, bob.acc.identity().ed25519);
  CAF_CHECK(in.info().forwarding_chain.empty());
  CAF_CHECK_EQUAL(in.first_known_index(), 0u);
  auto rel = json{{"rel_type", "m.thread"}, {"event_id", "$root"}};
  auto c = send({{"msgtype", "m.text"}, {"body", "hello"}, {"m.relates_to", rel}});
  CAF_CHECK_EQUAL(c["algorithm"], "m.megolm.v1.aes-sha2");
  CAF_CHECK_EQUAL(c["session_id"], out.id());
  CAF_CHECK_EQUAL(c["sender_key"], bob.acc.identity().curve25519);
  CAF_CHECK_EQUAL(c["device_id"], "BOBDEV");
  CAF_CHECK_EQUAL(c["m.relates_to"], rel); // in clear, for the server's aggregations
  CAF_CHECK_EQUAL(megolm_session_id(c).value_or(""), out.id());
  CAF_CHECK_EQUAL(out.message_index(), 1u);
  replay_log log;
  auto d = decrypt_megolm(in, room, "$e0", 5, c, log.lookup());
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->type, "m.room.message");
  CAF_CHECK_EQUAL(d->content["body"], "hello");
  CAF_CHECK_EQUAL(d->content["m.relates_to"], rel);
  CAF_CHECK_EQUAL(d->message_index, 0u);
  CAF_CHECK(d->first_decryption);
  // Without a relation the decrypted content has none either.
  auto plain = decrypt_megolm(in, room, "$e1", 6, send({{"body", "x"}}), log.lookup());
  CAF_REQUIRE(plain);
  CAF_CHECK(!plain->content.contains("m.relates_to"));
  CAF_CHECK_EQUAL(plain->message_index, 1u);
}

CAF_TEST(replays_refused) {
  auto in = share_with_alice();
  auto c = send({{"body", "pay 5"}});
  replay_log log;
  auto d = decrypt_megolm(in, room, "$e0", 5, c, log.lookup());
  CAF_REQUIRE(d && d->first_decryption);
  log.entries[d->message_index] = seen_message{"$e0", 5};
  // The same event again (re-sync): fine, but not "first".
  auto again = decrypt_megolm(in, room, "$e0", 5, c, log.lookup());
  CAF_REQUIRE(again);
  CAF_CHECK(!again->first_decryption);
  // The same ciphertext as another event: a replay.
  auto replay = decrypt_megolm(in, room, "$e9", 5, c, log.lookup());
  CAF_REQUIRE(!replay);
  CAF_CHECK_EQUAL(replay.error().errcode, "HM_REPLAY");
  CAF_CHECK(replay.error().error.find("pay 5") == std::string::npos);
  auto other_ts = decrypt_megolm(in, room, "$e0", 6, c, log.lookup());
  CAF_REQUIRE(!other_ts);
  CAF_CHECK_EQUAL(other_ts.error().errcode, "HM_REPLAY");
}

CAF_TEST(room_mismatch_and_wrong_session_refused) {
  auto in = share_with_alice();
  auto c = send({{"body", "x"}});
  replay_log log;
  auto r = decrypt_megolm(in, "!other:hs", "$e0", 5, c, log.lookup());
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_PAYLOAD");
  auto other = std::move(outbound_group_session::create(room, 0).value());
  auto c2 = other.encrypt("m.room.message", {{"body", "y"}}, bob.acc, "BOBDEV").value();
  r = decrypt_megolm(in, room, "$e1", 5, c2, log.lookup());
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_UNDECRYPTABLE");
  // Right session id, tampered ciphertext.
  auto tampered = c;
  auto text = tampered["ciphertext"].get<std::string>();
  text[20] = text[20] == 'A' ? 'B' : 'A';
  tampered["ciphertext"] = text;
  r = decrypt_megolm(in, room, "$e2", 5, tampered, log.lookup());
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_UNDECRYPTABLE");
  // A sender_key that is not the session creator's.
  auto spoofed = c;
  spoofed["sender_key"] = alice.acc.identity().curve25519;
  CAF_CHECK(!decrypt_megolm(in, room, "$e0", 5, spoofed, log.lookup()));
}

CAF_TEST(room_key_validation) {
  auto key = out.room_key_content().value();
  olm_decrypted ev;
  ev.type = "m.room_key";
  ev.sender_key = bob.acc.identity().curve25519;
  ev.sender_ed25519 = bob.acc.identity().ed25519;
  ev.content = key;
  CAF_CHECK(inbound_group_session::from_room_key(ev));
  auto wrong_type = ev;
  wrong_type.type = "m.forwarded_room_key";
  CAF_CHECK(!inbound_group_session::from_room_key(wrong_type));
  auto wrong_id = ev;
  wrong_id.content["session_id"] = "someone else's session";
  auto r = inbound_group_session::from_room_key(wrong_id);
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_KEY");
  CAF_CHECK(r.error().error.find(key["session_key"].get<std::string>()) == std::string::npos);
  auto bad_key = ev;
  bad_key.content["session_key"] = "AAAA";
  CAF_CHECK(!inbound_group_session::from_room_key(bad_key));
  auto other_alg = ev;
  other_alg.content["algorithm"] = "m.olm.v1.curve25519-aes-sha2";
  CAF_CHECK(!inbound_group_session::from_room_key(other_alg));
  CAF_CHECK(!parse_room_key(json{{"algorithm", "m.megolm.v1.aes-sha2"}}));
}

CAF_TEST(rotation_rule) {
  rotation_policy p; // defaults: 100 messages, one week
  CAF_CHECK_EQUAL(p.period_msgs, 100);
  CAF_CHECK_EQUAL(p.period_ms, week_ms);
  CAF_CHECK(!needs_rotation(out, p, 1000));
  for (int i = 0; i < 99; ++i)
    send({{"body", "x"}});
  CAF_CHECK(!needs_rotation(out, p, 1000));
  send({{"body", "x"}});
  CAF_CHECK(needs_rotation(out, p, 1000)); // 100 sent
  auto fresh = std::move(outbound_group_session::create(room, 1000).value());
  CAF_CHECK(!needs_rotation(fresh, p, 1000 + week_ms - 1));
  CAF_CHECK(needs_rotation(fresh, p, 1000 + week_ms));
  // The room's m.room.encryption settings.
  encryption_content ec;
  ec.algorithm = "m.megolm.v1.aes-sha2";
  ec.rotation_period_msgs = 3;
  ec.rotation_period_ms = 60'000;
  auto room_p = rotation_policy::from(ec);
  CAF_CHECK(!needs_rotation(fresh, room_p, 1000 + 59'999));
  CAF_CHECK(needs_rotation(fresh, room_p, 1000 + 60'000));
  for (int i = 0; i < 3; ++i)
    (void)fresh.encrypt("m.room.message", {{"body", "x"}}, bob.acc, "BOBDEV");
  CAF_CHECK(needs_rotation(fresh, room_p, 1000));
  ec.rotation_period_msgs = -1;
  ec.rotation_period_ms = 0;
  auto sane = rotation_policy::from(ec);
  CAF_CHECK_EQUAL(sane.period_msgs, 100);
  CAF_CHECK_EQUAL(sane.period_ms, week_ms);
}

CAF_TEST(forwarded_key_import) {
  auto alices = share_with_alice();
  auto c0 = send({{"body", "zero"}});
  auto c1 = send({{"body", "one"}});
  // Alice forwards the session from index 1 to Carol.
  peer carol{"@carol:hs", "CAROLDEV"};
  auto exported = alices.export_at(1);
  CAF_REQUIRE(exported);
  json fwd = {{"algorithm", "m.megolm.v1.aes-sha2"},
              {"room_id", room},
              {"session_id", out.id()},
              {"session_key", exported.value()},
              {"sender_key", bob.acc.identity().curve25519},
              {"sender_claimed_ed25519_key", bob.acc.identity().ed25519},
              {"forwarding_curve25519_key_chain", json::array()}};
  auto ev = over_olm(alice, carol, "m.forwarded_room_key", fwd);
  CAF_CHECK(!inbound_group_session::from_room_key(ev)); // not an m.room_key
  auto in = inbound_group_session::from_forwarded_room_key(ev);
  CAF_REQUIRE(in);
  CAF_CHECK_EQUAL(in->info().sender_key, bob.acc.identity().curve25519);
  CAF_CHECK_EQUAL(in->info().sender_ed25519, bob.acc.identity().ed25519);
  CAF_CHECK_EQUAL(in->info().forwarding_chain,
                  std::vector<std::string>{alice.acc.identity().curve25519});
  CAF_CHECK_EQUAL(in->first_known_index(), 1u);
  replay_log log;
  auto early = decrypt_megolm(in.value(), room, "$e0", 1, c0, log.lookup());
  CAF_REQUIRE(!early);
  CAF_CHECK_EQUAL(early.error().errcode, "HM_UNKNOWN_MESSAGE_INDEX");
  auto d = decrypt_megolm(in.value(), room, "$e1", 2, c1, log.lookup());
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content["body"], "one");
  // Malformed forwards.
  auto no_sender = fwd;
  no_sender.erase("sender_key");
  CAF_CHECK(!parse_forwarded_room_key(no_sender));
  auto bad_chain = fwd;
  bad_chain["forwarding_curve25519_key_chain"] = json::array({1});
  CAF_CHECK(!parse_forwarded_room_key(bad_chain));
}

CAF_TEST(pickling) {
  auto in = share_with_alice();
  auto key = test_pickle_key();
  auto c = send({{"body", "x"}});
  auto in_p = in.pickle(key);
  auto out_p = out.pickle(key);
  CAF_REQUIRE(in_p && out_p);
  auto in2 = inbound_group_session::from_pickle(in_p.value(), key, in.info());
  CAF_REQUIRE(in2);
  CAF_CHECK_EQUAL(in2->info().session_id, out.id());
  replay_log log;
  CAF_CHECK(decrypt_megolm(in2.value(), room, "$e0", 1, c, log.lookup()));
  auto out2 = outbound_group_session::from_pickle(out_p.value(), key, room, 1000);
  CAF_REQUIRE(out2);
  CAF_CHECK_EQUAL(out2->id(), out.id());
  CAF_CHECK_EQUAL(out2->message_index(), 1u);
  CAF_CHECK_EQUAL(out2->created_at_ms(), 1000);
  auto c2 = out2->encrypt("m.room.message", {{"body", "after"}}, bob.acc, "BOBDEV").value();
  auto d = decrypt_megolm(in2.value(), room, "$e1", 2, c2, log.lookup());
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content["body"], "after");
  auto other = pickle_key::from_bytes("yet another key, 16+ bytes").value();
  auto w1 = inbound_group_session::from_pickle(in_p.value(), other, in.info());
  auto w2 = outbound_group_session::from_pickle(out_p.value(), other, room, 0);
  CAF_REQUIRE(!w1 && !w2);
  CAF_CHECK_EQUAL(w1.error().errcode, "HM_BAD_PICKLE_KEY");
  CAF_CHECK_EQUAL(w2.error().errcode, "HM_BAD_PICKLE_KEY");
}

CAF_TEST(own_messages_readable) {
  auto own = inbound_from_own_outbound(out, bob.acc);
  CAF_REQUIRE(own);
  CAF_CHECK_EQUAL(own->info().sender_key, bob.acc.identity().curve25519);
  auto c = send({{"body", "mine"}});
  replay_log log;
  auto d = decrypt_megolm(own.value(), room, "$e0", 1, c, log.lookup());
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content["body"], "mine");
}

CAF_TEST_FIXTURE_SCOPE_END()
