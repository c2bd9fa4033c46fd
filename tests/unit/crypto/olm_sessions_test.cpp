#define CAF_SUITE olm_sessions
#include "caf/test/unit_test.hpp"

#include "matrix/crypto/olm_sessions.hpp"

#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::crypto::test::peer;
using hm::matrix::crypto::test::test_pickle_key;
using nlohmann::json;

namespace {

struct fixture {
  peer alice{"@alice:hs", "ALICEDEV"};
  peer bob{"@bob:hs", "BOBDEV"};
  std::vector<olm_session> alice_sessions; // Alice's sessions with Bob's curve key
  std::vector<olm_session> bob_sessions;   // Bob's sessions with Alice's curve key

  json alice_to_bob(const json& content, std::size_t session = 0) {
    return encrypt_olm(alice_sessions.at(session), alice.acc, alice.self,
                       bob.as_seen_by_others, "m.test", content)
        .value();
  }
  json bob_to_alice(const json& content, std::size_t session = 0) {
    return encrypt_olm(bob_sessions.at(session), bob.acc, bob.self, alice.as_seen_by_others,
                       "m.test", content)
        .value();
  }
  void start_alice_session() {
    auto s = create_outbound_session(alice.acc, bob.as_seen_by_others, bob.claim_one_time_key());
    CAF_REQUIRE(s);
    alice_sessions.push_back(std::move(s.value()));
  }
};

int message_type(const json& content, const std::string& curve) {
  return content["ciphertext"][curve]["type"].get<int>();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(olm_exchange, fixture)

CAF_TEST(full_exchange_both_directions) {
  start_alice_session();
  // Alice → Bob, pre-key: Bob's first session with her comes from it.
  auto m1 = alice_to_bob({{"n", 1}});
  CAF_CHECK_EQUAL(m1["algorithm"], "m.olm.v1.curve25519-aes-sha2");
  CAF_CHECK_EQUAL(m1["sender_key"], alice.acc.identity().curve25519);
  CAF_CHECK_EQUAL(message_type(m1, bob.acc.identity().curve25519), 0);
  CAF_CHECK_EQUAL(olm_sender_key(m1).value_or(""), alice.acc.identity().curve25519);
  auto otks_before = bob.acc.unpublished_one_time_keys().size();
  auto d1 = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m1);
  CAF_REQUIRE(d1);
  CAF_CHECK(d1->new_session);
  CAF_CHECK_EQUAL(d1->session_index, 0u);
  CAF_CHECK_EQUAL(d1->type, "m.test");
  CAF_CHECK_EQUAL(d1->content, json({{"n", 1}}));
  CAF_CHECK_EQUAL(d1->sender_key, alice.acc.identity().curve25519);
  CAF_CHECK_EQUAL(d1->sender_ed25519, alice.acc.identity().ed25519);
  CAF_CHECK_EQUAL(d1->sender_device.value_or(""), "ALICEDEV");
  CAF_REQUIRE_EQUAL(bob_sessions.size(), 1u);
  CAF_CHECK_EQUAL(bob_sessions[0].id(), alice_sessions[0].id());
  CAF_CHECK_EQUAL(bob.acc.unpublished_one_time_keys().size(), otks_before);
  // A second pre-key message before Bob answered: it matches the existing session.
  auto m2 = alice_to_bob({{"n", 2}});
  CAF_CHECK_EQUAL(message_type(m2, bob.acc.identity().curve25519), 0);
  auto d2 = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m2);
  CAF_REQUIRE(d2);
  CAF_CHECK(!d2->new_session);
  CAF_CHECK_EQUAL(d2->content["n"], 2);
  CAF_CHECK_EQUAL(bob_sessions.size(), 1u);
  // Bob → Alice: a normal message.
  auto r1 = bob_to_alice({{"n", 3}});
  CAF_CHECK_EQUAL(message_type(r1, alice.acc.identity().curve25519), 1);
  auto d3 = decrypt_olm(alice.acc, alice_sessions, alice.self, "@bob:hs", r1);
  CAF_REQUIRE(d3);
  CAF_CHECK_EQUAL(d3->content["n"], 3);
  CAF_CHECK(!d3->new_session);
  CAF_CHECK(alice_sessions[0].has_received_message());
  // Alice has heard back: normal messages from now on.
  auto m3 = alice_to_bob({{"n", 4}});
  CAF_CHECK_EQUAL(message_type(m3, bob.acc.identity().curve25519), 1);
  auto d4 = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m3);
  CAF_REQUIRE(d4);
  CAF_CHECK_EQUAL(d4->content["n"], 4);
  // The same message twice: the ratchet refuses the second.
  CAF_CHECK(!decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m3));
}

CAF_TEST(sessions_survive_pickling) {
  start_alice_session();
  auto m1 = alice_to_bob({{"n", 1}});
  CAF_REQUIRE(decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m1));
  auto key = test_pickle_key();
  auto pickled_bob = bob_sessions[0].pickle(key);
  auto pickled_alice = alice_sessions[0].pickle(key);
  auto pickled_account = bob.acc.pickle(key);
  CAF_REQUIRE(pickled_bob && pickled_alice && pickled_account);
  bob_sessions.clear();
  alice_sessions.clear();
  bob_sessions.push_back(std::move(olm_session::from_pickle(pickled_bob.value(), key).value()));
  alice_sessions.push_back(
      std::move(olm_session::from_pickle(pickled_alice.value(), key).value()));
  bob.acc = std::move(account::from_pickle(pickled_account.value(), key).value());
  auto r = bob_to_alice({{"n", 2}});
  auto d = decrypt_olm(alice.acc, alice_sessions, alice.self, "@bob:hs", r);
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content["n"], 2);
  auto wrong = olm_session::from_pickle(pickled_bob.value(),
                                        pickle_key::from_bytes("another key, long enough").value());
  CAF_REQUIRE(!wrong);
  CAF_CHECK_EQUAL(wrong.error().errcode, "HM_BAD_PICKLE_KEY");
}

CAF_TEST(payload_checks) {
  start_alice_session();
  // Addressed to Carol (but encrypted to Bob's device): refused, and the new session
  // is not kept, so the one-time key still works for the real message.
  auto to_carol = encrypt_olm(alice_sessions[0], alice.acc, alice.self,
                              device_identity{"@carol:hs", "C", bob.acc.identity().curve25519,
                                              bob.acc.identity().ed25519},
                              "m.test", json::object());
  CAF_REQUIRE(to_carol);
  auto r = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", to_carol.value());
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_PAYLOAD");
  CAF_CHECK(bob_sessions.empty());
  // Claimed by Mallory (the event's sender is not the payload's sender).
  auto m = alice_to_bob({{"secret", "s3cr3t"}});
  r = decrypt_olm(bob.acc, bob_sessions, bob.self, "@mallory:hs", m);
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_PAYLOAD");
  CAF_CHECK(r.error().error.find("s3cr3t") == std::string::npos);
  CAF_CHECK(bob_sessions.empty());
  // Another device's ed25519 key as recipient_keys.
  auto wrong_key = encrypt_olm(alice_sessions[0], alice.acc, alice.self,
                               device_identity{"@bob:hs", "BOBDEV", bob.acc.identity().curve25519,
                                               alice.acc.identity().ed25519},
                               "m.test", json::object());
  r = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", wrong_key.value());
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_BAD_PAYLOAD");
  // The genuine message still decrypts: the one-time key was not used up.
  CAF_CHECK(decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m));
  CAF_CHECK_EQUAL(bob_sessions.size(), 1u);
}

CAF_TEST(undecryptable_messages) {
  start_alice_session();
  auto m = alice_to_bob({{"n", 1}});
  // Bit flip in the ciphertext: bad MAC.
  auto tampered = m;
  auto& body = tampered["ciphertext"][bob.acc.identity().curve25519]["body"];
  auto text = body.get<std::string>();
  text[text.size() - 5] = text[text.size() - 5] == 'A' ? 'B' : 'A';
  body = text;
  auto r = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", tampered);
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_UNDECRYPTABLE");
  CAF_CHECK(bob_sessions.empty());
  // Not for this device.
  peer carol{"@carol:hs", "CAROLDEV"};
  std::vector<olm_session> carol_sessions;
  r = decrypt_olm(carol.acc, carol_sessions, carol.self, "@alice:hs", m);
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().errcode, "HM_UNDECRYPTABLE");
  // Not Olm at all.
  CAF_CHECK(!decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs",
                         json{{"algorithm", "m.megolm.v1.aes-sha2"}}));
  // A normal message with no session.
  CAF_REQUIRE(decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", m));
  auto reply = bob_to_alice({{"n", 2}});
  std::vector<olm_session> none;
  CAF_CHECK(!decrypt_olm(alice.acc, none, alice.self, "@bob:hs", reply));
}

CAF_TEST(claimed_key_signature_checked) {
  auto claimed = bob.claim_one_time_key();
  auto forged = claimed;
  forged.begin().value()["key"] = alice.acc.identity().curve25519;
  auto s = create_outbound_session(alice.acc, bob.as_seen_by_others, forged);
  CAF_REQUIRE(!s);
  CAF_CHECK_EQUAL(s.error().errcode, "HM_BAD_SIGNATURE");
  CAF_CHECK(!create_outbound_session(alice.acc, bob.as_seen_by_others, json::object()));
  CAF_CHECK(!create_outbound_session(alice.acc, bob.as_seen_by_others,
                                     json{{"signed_curve25519:X", {{"nokey", 1}}}}));
  CAF_CHECK(create_outbound_session(alice.acc, bob.as_seen_by_others, claimed));
}

CAF_TEST(fallback_key_starts_a_session) {
  keys_upload_state st;
  st.unused_fallback_key_types = std::vector<std::string>{};
  auto req = prepare_keys_upload(bob.acc, "@bob:hs", "BOBDEV", st);
  CAF_REQUIRE(req && req.value());
  auto fallback = (*req.value()->body)["fallback_keys"];
  bob.acc.mark_keys_as_published();
  auto s = create_outbound_session(alice.acc, bob.as_seen_by_others, fallback);
  CAF_REQUIRE(s);
  alice_sessions.push_back(std::move(s.value()));
  auto d = decrypt_olm(bob.acc, bob_sessions, bob.self, "@alice:hs", alice_to_bob({{"n", 1}}));
  CAF_REQUIRE(d);
  CAF_CHECK(d->new_session);
}

CAF_TEST_FIXTURE_SCOPE_END()
