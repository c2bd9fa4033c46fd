#define CAF_SUITE key_backup
#include "caf/test/unit_test.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/key_backup.hpp"

#include "backup_test_keys.hpp"
#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::bad_response;
using hm::matrix::http_method;
using hm::matrix::http_response;
using hm::matrix::crypto::test::peer;
using hm::matrix::crypto::test::public_of;
using hm::matrix::crypto::test::random_key;
using nlohmann::json;

namespace {

// Known-answer vector made with Debian's python3-olm (libolm's own binding): a backup
// private key, a Megolm session exported by python-olm, its SessionData encrypted with
// olm.pk.PkEncryption, and a room message encrypted with that session. The script:
//   priv = sha256(b"hermes-matrix key backup vector"); public key via olm_pk_key_from_private
//   out = olm.OutboundGroupSession(); inbound = olm.InboundGroupSession(out.session_key)
//   session_data = {algorithm, forwarding_curve25519_key_chain: [], sender_claimed_keys:
//     {ed25519: acct ed25519}, sender_key: acct curve25519, session_key: inbound.export_session(0)}
//   PkEncryption(public_key).encrypt(json.dumps(session_data))
namespace vector {
constexpr auto private_key = "rSvzydB9IBKyOWcpfETOpekx5HGLCYh5n7ilmm3GJXg=";
constexpr auto public_key = "1ZLMiCvRdGyuX6vdlR4kwwOiatuzKFThm1mUSZREHy4";
constexpr auto room_id = "!backup:hs";
constexpr auto session_id = "FdEZIxRpQjOzsqDrT8kkC+tarspcCehr5oL8yuW4+CE";
constexpr auto sender_key = "VV4ikUrEei4Bkt9YGxHtB3dgsbyPXAPBNQsQLC8fdng";
constexpr auto sender_ed25519 = "50pW3M+/3yyvBlYyxpJ0Vh7mYUMSkwKIIBrk03Dzps0";
constexpr auto megolm_ciphertext =
    "AwgAEoABRdzPY/sETobeykkLkisIiI822ueHZWLt0pjFIEu8SDQ2ikBpx0r19LddAHFOeL/wtVVaQtT0+l6Ck5P44fcr"
    "50QNvi6bgytFBMlRNhTYecXzYd1yIwtR3kyAclQSbwg3AJJgk7fb6SkJ8XFzl771Z6ZW1+HjgrSJjs0WDxfeJuIERvYh"
    "39D0JlhS61j211X8y2kzKv06o+GUrD8tOJdRKZCsbA0HnGaak+gX+8oUl6mI3sVh6MkCKEpTKWc0xHHuDKi9XiDCxgA";
constexpr auto ephemeral = "rGgb8q2gs/7SJggqfcMKa3csrL31BHobpxnXaRxM738";
constexpr auto ciphertext =
    "geA6uLXstJmuCU0kPmhxh27LGBhiVQP61pnM6x7EhWwI++1fKha7ZyoYEiUsKz4x4NWP4yWz91E0FI1G3xNsIoMwos+U"
    "cOzRgbpjnX9P2Kv8bnegE12UBHKJsPFtaR0GpqRwipB4wTQUd13yrcEPD2GGGHy0uGBtlAyCRI+UNUtId+PuVEpxWPxQ"
    "haoTMTta8xXgEuOwMRNFmvnfCN5cCIvHnvRoXp3cSSzHThzEO5GvAHuBLxmOp6/iIPbcMNHbiwAslK8PIst40J08yHOM"
    "NFpgjpwCDrd0AGRiGte7MGj+LXOE8ze7RDIyi/eGwkYsHLTpI3q/6S7ZOfLsvAuXX06swEpFezlsh4rWfhDV6lhaE4p+"
    "reJ7roODUYVRUJdaH4OpWgHSNPcJp/iTivbmrPL6K31Bn1Zi/kKXhVni8oAAzMsCJVIGiD6/WU9evgwfcJMGrYq6LwSo"
    "HCvh9+bnrDuEYUrjcyynbPdZvxSv9p8mN4gaWEROF/1kwvdcSRldLfcvm3NWQpSMif83wD5eDo2kfdLBeWRxE0QS9vgX"
    "zBinIC2OBmsdMMxG2xjFzuOCANRjq2yG/CLFHVcy5/VlMAt1zIhiFTYdfPHByb2Kimw";
constexpr auto mac = "uVvcrto3/VQ";
} // namespace vector

backup_key key_of(std::string_view secret) {
  auto k = backup_key::from_secret(secret);
  CAF_REQUIRE(k);
  return std::move(k).value();
}

key_backup_data vector_data() {
  key_backup_data d;
  d.session_data = {vector::ephemeral, vector::ciphertext, vector::mac};
  return d;
}

json version_body(std::string_view public_key,
                  std::string_view algorithm = megolm_backup_algorithm) {
  return json{{"algorithm", algorithm},
              {"auth_data",
               {{"public_key", public_key},
                {"signatures", {{"@bot:hs", {{"ed25519:DEV", "c2ln"}}}}}}},
              {"count", 7},
              {"etag", "etag-1"},
              {"version", "3"}};
}

http_response answer(int status, const std::string& body) {
  http_response r;
  r.status = status;
  r.body = body;
  return r;
}

// A Megolm room session of Bob's and the message "hello backup" sent with it.
struct fixture {
  peer bob{"@bob:hs", "BOBDEV"};
  std::string room = "!room:hs";
  outbound_group_session out = std::move(outbound_group_session::create(room, 1000).value());
  inbound_group_session in = std::move(inbound_from_own_outbound(out, bob.acc).value());
  json message = out.encrypt("m.room.message", {{"msgtype", "m.text"}, {"body", "hello backup"}},
                             bob.acc, "BOBDEV")
                     .value();
  backup_key key = random_key();

  std::string decrypt_body(const inbound_group_session& s, const json& content) {
    auto d = decrypt_megolm(s, room, "$ev", 1, content, {});
    CAF_REQUIRE(d);
    return d->content.at("body").get<std::string>();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(key_backup_tests, fixture)

// ---- keys ------------------------------------------------------------------------------

CAF_TEST(the secret gives the public key libolm derives) {
  auto padded = key_of(vector::private_key);
  CAF_CHECK_EQUAL(padded.public_key(), vector::public_key);
  // Unpadded base64 is the same secret.
  std::string text = vector::private_key;
  text.pop_back();
  auto unpadded = key_of(text);
  CAF_CHECK_EQUAL(unpadded.public_key(), vector::public_key);
}

CAF_TEST(a secret that is not a 32 byte key is refused without echoing it) {
  for (std::string bad : {std::string{}, std::string{"not base64!"}, std::string{"c2hvcnQ"},
                          std::string(64, 'A')}) {
    auto k = backup_key::from_secret(bad);
    CAF_REQUIRE(!k);
    CAF_CHECK_EQUAL(k.error().errcode, errcode_bad_key);
    if (!bad.empty())
      CAF_CHECK_EQUAL(k.error().error.find(bad), std::string::npos);
  }
  CAF_CHECK(!backup_public_key::from_base64("c2hvcnQ"));
  CAF_CHECK(!backup_public_key::from_base64("****************************************###"));
}

// ---- round trip ------------------------------------------------------------------------

CAF_TEST(a real Megolm session survives the backup and decrypts a message) {
  auto encrypted = encrypt_session_for_backup(public_of(key), in, true);
  CAF_REQUIRE(encrypted);
  CAF_CHECK_EQUAL(encrypted->first_message_index, 0);
  CAF_CHECK_EQUAL(encrypted->forwarded_count, 0);
  CAF_CHECK(encrypted->is_verified);
  // Through the wire format and back, as the server would hand it out.
  auto parsed = parse_key_backup_data(encrypted->to_json());
  CAF_REQUIRE(parsed);
  auto data = decrypt_backed_up_session(key, parsed.value());
  CAF_REQUIRE(data);
  CAF_CHECK_EQUAL(data->sender_key, bob.acc.identity().curve25519);
  CAF_CHECK_EQUAL(data->sender_ed25519, bob.acc.identity().ed25519);
  CAF_CHECK(data->forwarding_chain.empty());
  auto restored = import_backed_up_session(room, out.id(), data.value());
  CAF_REQUIRE(restored);
  CAF_CHECK_EQUAL(restored->info().sender_key, bob.acc.identity().curve25519);
  CAF_CHECK_EQUAL(restored->first_known_index(), 0u);
  CAF_CHECK_EQUAL(decrypt_body(restored.value(), message), "hello backup");
}

CAF_TEST(a session known from a later index is backed up from that index) {
  auto second = out.encrypt("m.room.message", {{"msgtype", "m.text"}, {"body", "later"}}, bob.acc,
                            "BOBDEV");
  CAF_REQUIRE(second);
  auto exported = in.export_at(1);
  CAF_REQUIRE(exported);
  inbound_group_session_info info = in.info();
  info.forwarding_chain = {bob.acc.identity().curve25519};
  auto late = inbound_group_session::from_export(room_key{room, out.id(), exported.value()}, info);
  CAF_REQUIRE(late);
  auto encrypted = encrypt_session_for_backup(public_of(key), late.value(), false);
  CAF_REQUIRE(encrypted);
  CAF_CHECK_EQUAL(encrypted->first_message_index, 1);
  CAF_CHECK_EQUAL(encrypted->forwarded_count, 1);
  CAF_CHECK(!encrypted->is_verified);
  auto data = decrypt_backed_up_session(key, encrypted.value());
  CAF_REQUIRE(data);
  CAF_CHECK_EQUAL(data->forwarding_chain.size(), 1u);
  auto restored = import_backed_up_session(room, out.id(), data.value());
  CAF_REQUIRE(restored);
  CAF_CHECK_EQUAL(restored->first_known_index(), 1u);
  CAF_CHECK_EQUAL(decrypt_body(restored.value(), second.value()), "later");
  auto early = decrypt_megolm(restored.value(), room, "$ev", 1, message, {});
  CAF_REQUIRE(!early);
  CAF_CHECK_EQUAL(early.error().errcode, errcode_unknown_index);
}

CAF_TEST(another backup key cannot decrypt a backed up session) {
  auto encrypted = encrypt_session_for_backup(public_of(key), in, false);
  CAF_REQUIRE(encrypted);
  auto other = random_key();
  auto data = decrypt_backed_up_session(other, encrypted.value());
  CAF_REQUIRE(!data);
  CAF_CHECK_EQUAL(data.error().errcode, errcode_undecryptable);
}

CAF_TEST(a tampered or malformed session_data is refused cleanly) {
  auto encrypted = encrypt_session_for_backup(public_of(key), in, false);
  CAF_REQUIRE(encrypted);
  auto expect_refused = [this](key_backup_data d) {
    auto r = decrypt_backed_up_session(key, d);
    CAF_REQUIRE(!r);
    CAF_CHECK_EQUAL(r.error().errcode, errcode_undecryptable);
  };
  // libolm's MAC here is an HMAC of the empty string (its quirk, kept by Element and
  // matrix-rust-sdk for compatibility): it proves the key, not the ciphertext. A flipped
  // ciphertext decrypts to garbage, which the checks of the SessionData refuse.
  auto flipped = encrypted.value();
  flipped.session_data.ciphertext[5] = flipped.session_data.ciphertext[5] == 'A' ? 'B' : 'A';
  auto garbled = decrypt_backed_up_session(key, flipped);
  CAF_REQUIRE(!garbled);
  CAF_CHECK(garbled.error().errcode == errcode_bad_payload ||
            garbled.error().errcode == errcode_undecryptable);
  // Each field replaced in turn: a wrong MAC, then lengths libolm would read past or
  // mis-decode (refused before libolm sees them), then an oversized ciphertext.
  for (auto [member, value] : {std::pair{&encrypted_session_data::mac, std::string{"AAAAAAAAAAA"}},
                               std::pair{&encrypted_session_data::mac, std::string{"AAA"}},
                               std::pair{&encrypted_session_data::ephemeral, std::string{"AAAA"}},
                               std::pair{&encrypted_session_data::ciphertext, std::string{"!!!!"}},
                               std::pair{&encrypted_session_data::ciphertext, std::string{}},
                               std::pair{&encrypted_session_data::ciphertext,
                                         std::string(1u << 20, 'A')}}) {
    auto changed = encrypted.value();
    changed.session_data.*member = value;
    expect_refused(changed);
  }
}

CAF_TEST(a decrypted SessionData is checked field by field) {
  auto pub = public_of(key);
  auto good = json{{"algorithm", "m.megolm.v1.aes-sha2"},
                   {"forwarding_curve25519_key_chain", json::array()},
                   {"sender_claimed_keys", {{"ed25519", bob.acc.identity().ed25519}}},
                   {"sender_key", bob.acc.identity().curve25519},
                   {"session_key", in.export_at(0).value()}};
  auto decrypt = [&](const std::string& plaintext) {
    key_backup_data d;
    d.session_data = encrypt_for_backup(pub, plaintext).value();
    return decrypt_backed_up_session(key, d);
  };
  CAF_CHECK(decrypt(good.dump()));
  auto refused = [&](const std::string& plaintext, std::string_view why) {
    auto r = decrypt(plaintext);
    CAF_REQUIRE(!r);
    CAF_CHECK_EQUAL(r.error().errcode, errcode_bad_payload);
    CAF_CHECK_NOT_EQUAL(r.error().error.find(why), std::string::npos);
    // The session key never shows in an error.
    CAF_CHECK_EQUAL(r.error().error.find(good["session_key"].get<std::string>()),
                    std::string::npos);
  };
  refused("not json", "not a JSON object");
  refused("[1,2]", "not a JSON object");
  auto with = [&](const char* field, json value) {
    auto j = good;
    if (value.is_null())
      j.erase(field);
    else
      j[field] = std::move(value);
    return j.dump();
  };
  refused(with("algorithm", "m.olm.v1.curve25519-aes-sha2"), "m.megolm.v1.aes-sha2");
  refused(with("session_key", nullptr), "session_key");
  refused(with("session_key", 5), "session_key");
  refused(with("sender_key", nullptr), "sender_key");
  refused(with("sender_key", "c2hvcnQ"), "sender_key");
  refused(with("sender_claimed_keys", nullptr), "sender_claimed_keys");
  refused(with("sender_claimed_keys", {{"ed25519", 1}}), "sender_claimed_keys");
  refused(with("forwarding_curve25519_key_chain", nullptr), "forwarding");
  refused(with("forwarding_curve25519_key_chain", {1}), "forwarding");
  refused(with("forwarding_curve25519_key_chain", {"c2hvcnQ"}), "forwarding");
}

CAF_TEST(a backed up key filed under another session id is refused) {
  auto encrypted = encrypt_session_for_backup(public_of(key), in, false);
  auto data = decrypt_backed_up_session(key, encrypted.value());
  CAF_REQUIRE(data);
  auto other = outbound_group_session::create(room, 1000);
  auto restored = import_backed_up_session(room, other->id(), data.value());
  CAF_REQUIRE(!restored);
  CAF_CHECK_EQUAL(restored.error().errcode, errcode_bad_key);
  auto garbage = data.value();
  garbage.session_key = "AAAA";
  CAF_CHECK(!import_backed_up_session(room, out.id(), garbage));
}

// ---- interoperability ------------------------------------------------------------------

CAF_TEST(a session backed up by python-olm decrypts and its key reads a message) {
  auto k = key_of(vector::private_key);
  auto data = decrypt_backed_up_session(k, vector_data());
  CAF_REQUIRE(data);
  CAF_CHECK_EQUAL(data->sender_key, vector::sender_key);
  CAF_CHECK_EQUAL(data->sender_ed25519, vector::sender_ed25519);
  CAF_CHECK(data->forwarding_chain.empty());
  auto restored = import_backed_up_session(vector::room_id, vector::session_id, data.value());
  CAF_REQUIRE(restored);
  json content{{"algorithm", "m.megolm.v1.aes-sha2"},
               {"ciphertext", vector::megolm_ciphertext},
               {"session_id", vector::session_id}};
  auto d = decrypt_megolm(restored.value(), vector::room_id, "$ev", 1, content, {});
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->content.at("body"), "restored from the backup");
  // And a random key refuses the same data.
  auto refused = decrypt_backed_up_session(random_key(), vector_data());
  CAF_CHECK(!refused);
}

// Writes a backup of ours for check_key_backup_with_python_olm.py when
// HM_KEY_BACKUP_VECTOR_OUT names a file; otherwise does nothing.
CAF_TEST(export a backed up session for python-olm when asked) {
  const char* path = std::getenv("HM_KEY_BACKUP_VECTOR_OUT");
  if (path == nullptr)
    return;
  secret_bytes bytes{32};
  CAF_REQUIRE(fill_random(bytes.data(), bytes.size()));
  auto secret = base64_encode_unpadded(bytes.data(), bytes.size());
  auto ours = key_of(secret);
  auto encrypted = encrypt_session_for_backup(public_of(ours), in, true);
  CAF_REQUIRE(encrypted);
  std::ofstream f(path);
  f << json{{"private_key", secret},
            {"public_key", ours.public_key()},
            {"room_id", room},
            {"session_id", out.id()},
            {"sender_key", bob.acc.identity().curve25519},
            {"key_backup_data", encrypted->to_json()},
            {"megolm_ciphertext", message["ciphertext"]}}
           .dump(2)
    << "\n";
  CAF_CHECK(f.good());
}

// ---- the backup version ----------------------------------------------------------------

CAF_TEST(a backup version is parsed and matched against the key) {
  auto v = parse_backup_version(version_body(key.public_key()));
  CAF_REQUIRE(v);
  CAF_CHECK_EQUAL(v->version, "3");
  CAF_CHECK_EQUAL(v->algorithm, megolm_backup_algorithm);
  CAF_CHECK_EQUAL(v->public_key, key.public_key());
  CAF_CHECK_EQUAL(v->count, 7);
  CAF_CHECK_EQUAL(v->etag, "etag-1");
  CAF_CHECK(v->auth_data.contains("signatures"));
  CAF_CHECK(backup_matches(v.value(), key));
  // Padded base64 of the same key is the same key.
  auto padded = parse_backup_version(version_body(key.public_key() + "="));
  CAF_REQUIRE(padded);
  CAF_CHECK(backup_matches(padded.value(), key));
}

CAF_TEST(a backup with another public key or algorithm is refused with an error value) {
  auto other = random_key();
  auto rotated = parse_backup_version(version_body(other.public_key()));
  CAF_REQUIRE(rotated);
  auto m = backup_matches(rotated.value(), key);
  CAF_REQUIRE(!m);
  CAF_CHECK_EQUAL(m.error().errcode, errcode_backup_key_mismatch);
  auto foreign = parse_backup_version(
      json{{"algorithm", "org.example.backup"}, {"auth_data", json::object()}, {"version", "4"}});
  CAF_REQUIRE(foreign);
  CAF_CHECK(foreign->public_key.empty());
  auto f = backup_matches(foreign.value(), key);
  CAF_REQUIRE(!f);
  CAF_CHECK_EQUAL(f.error().errcode, errcode_unsupported_backup);
  // What the server named is cut short and cleaned before it reaches an error text.
  auto loud = parse_backup_version(json{{"algorithm", std::string(10000, 'x') + "\n"},
                                        {"auth_data", json::object()},
                                        {"version", "5\r\nforged log line"}});
  CAF_REQUIRE(loud);
  auto l = backup_matches(loud.value(), key);
  CAF_REQUIRE(!l);
  CAF_CHECK_LESS(l.error().error.size(), 300u);
  CAF_CHECK_EQUAL(l.error().error.find('\n'), std::string::npos);
}

CAF_TEST(malformed backup versions are refused naming what is wrong) {
  auto refused = [](const json& body, std::string_view why) {
    auto v = parse_backup_version(body);
    CAF_REQUIRE(!v);
    CAF_CHECK_EQUAL(v.error().errcode, hm::matrix::errcode_bad_response);
    CAF_CHECK_NOT_EQUAL(v.error().error.find(why), std::string::npos);
  };
  auto good = version_body(key.public_key());
  refused(json::array(), "not an object");
  auto no_version = good;
  no_version.erase("version");
  refused(no_version, "version");
  auto int_version = good;
  int_version["version"] = 3;
  refused(int_version, "version");
  auto bad_auth = good;
  bad_auth["auth_data"] = "x";
  refused(bad_auth, "auth_data");
  auto no_key = good;
  no_key["auth_data"].erase("public_key");
  refused(no_key, "public_key");
  auto short_key = good;
  short_key["auth_data"]["public_key"] = "c2hvcnQ";
  refused(short_key, "public_key");
  auto negative = good;
  negative["count"] = -1;
  refused(negative, "count");
  auto float_count = good;
  float_count["count"] = 1.5;
  refused(float_count, "count");
}

CAF_TEST(the version answer tells a backup from none and from an error) {
  auto body = version_body(key.public_key()).dump();
  auto found = parse_backup_version_response(answer(200, body));
  CAF_REQUIRE(found);
  CAF_REQUIRE(found->has_value());
  CAF_CHECK_EQUAL(found.value()->version, "3");
  auto none = parse_backup_version_response(
      answer(404, R"({"errcode":"M_NOT_FOUND","error":"No current backup version"})"));
  CAF_REQUIRE(none);
  CAF_CHECK(!none->has_value());
  auto failed = parse_backup_version_response(answer(502, "<html>bad gateway</html>"));
  CAF_CHECK(!failed);
  auto unreadable = parse_backup_version_response(answer(200, "{"));
  CAF_REQUIRE(!unreadable);
  CAF_CHECK_EQUAL(unreadable.error().errcode, hm::matrix::errcode_bad_response);
  CAF_CHECK_EQUAL(backup_version_request().target, "/_matrix/client/v3/room_keys/version");
  CAF_CHECK(backup_version_request().method == http_method::get);
}

// ---- KeyBackupData and the server's choice ---------------------------------------------

CAF_TEST(malformed KeyBackupData is refused naming the field) {
  auto good = vector_data().to_json();
  CAF_CHECK(parse_key_backup_data(good));
  auto refused = [](json body, std::string_view why) {
    auto d = parse_key_backup_data(body);
    CAF_REQUIRE(!d);
    CAF_CHECK_EQUAL(d.error().errcode, hm::matrix::errcode_bad_response);
    CAF_CHECK_NOT_EQUAL(d.error().error.find(why), std::string::npos);
  };
  refused("x", "not an object");
  auto with = [&good](const char* field, json value) {
    auto j = good;
    if (value.is_null())
      j.erase(field);
    else
      j[field] = std::move(value);
    return j;
  };
  refused(with("first_message_index", nullptr), "first_message_index");
  refused(with("first_message_index", -1), "first_message_index");
  refused(with("first_message_index", 1LL << 33), "first_message_index");
  refused(with("first_message_index", "0"), "first_message_index");
  refused(with("forwarded_count", -2), "forwarded_count");
  refused(with("is_verified", 1), "is_verified");
  refused(with("session_data", "abc"), "session_data");
  auto no_mac = good;
  no_mac["session_data"].erase("mac");
  refused(no_mac, "mac");
  auto int_ephemeral = good;
  int_ephemeral["session_data"]["ephemeral"] = 5;
  refused(int_ephemeral, "ephemeral");
}

CAF_TEST(the backup keeps verified then earlier then less forwarded copies) {
  key_backup_data a;
  key_backup_data b;
  CAF_CHECK(choose_better(a, b) == backup_choice::keep_existing); // a tie keeps what is there
  b.is_verified = true;
  b.first_message_index = 10;
  b.forwarded_count = 3;
  CAF_CHECK(choose_better(a, b) == backup_choice::take_candidate);
  CAF_CHECK(choose_better(b, a) == backup_choice::keep_existing);
  a.is_verified = true;
  CAF_CHECK(choose_better(b, a) == backup_choice::take_candidate); // lower index
  a.first_message_index = 10;
  CAF_CHECK(choose_better(b, a) == backup_choice::take_candidate); // fewer forwards
  a.forwarded_count = 4;
  CAF_CHECK(choose_better(b, a) == backup_choice::keep_existing);
  a.first_message_index = 9;
  CAF_CHECK(choose_better(b, a) == backup_choice::take_candidate); // index before forwards
}

// ---- requests --------------------------------------------------------------------------

CAF_TEST(requests name the version and the room and session percent encoded) {
  auto one = session_request("v 1/2", "!room:hs", "ab+c/d=");
  CAF_CHECK(one.method == http_method::get);
  CAF_CHECK_EQUAL(one.target,
                  "/_matrix/client/v3/room_keys/keys/%21room%3Ahs/ab%2Bc%2Fd%3D?version=v%201%2F2");
  CAF_CHECK(!one.body);
  auto all = room_keys_request("7");
  CAF_CHECK_EQUAL(all.target, "/_matrix/client/v3/room_keys/keys?version=7");
  CAF_CHECK(all.max_response_bytes > 0);

  auto data = vector_data();
  data.first_message_index = 2;
  auto up = upload_keys_request("7", {{"!a:hs", "s1", data}, {"!a:hs", "s2", data},
                                      {"!b:hs", "s3", data}});
  CAF_CHECK(up.method == http_method::put);
  CAF_CHECK_EQUAL(up.target, "/_matrix/client/v3/room_keys/keys?version=7");
  CAF_REQUIRE(up.body);
  const auto& rooms = (*up.body)["rooms"];
  CAF_CHECK_EQUAL(rooms.size(), 2u);
  CAF_CHECK_EQUAL(rooms["!a:hs"]["sessions"].size(), 2u);
  CAF_CHECK_EQUAL(rooms["!b:hs"]["sessions"]["s3"]["first_message_index"], 2);
  CAF_CHECK_EQUAL(rooms["!b:hs"]["sessions"]["s3"]["session_data"]["mac"], vector::mac);
}

CAF_TEST(answers to uploads and downloads are parsed and checked) {
  auto up = parse_upload_keys_response(answer(200, R"({"count":12,"etag":"e2"})"));
  CAF_REQUIRE(up);
  CAF_CHECK_EQUAL(up->count, 12);
  CAF_CHECK_EQUAL(up->etag, "e2");
  CAF_CHECK(!parse_upload_keys_response(answer(200, R"({"count":"12"})")));
  auto wrong = parse_upload_keys_response(answer(
      403, R"({"errcode":"M_WRONG_ROOM_KEYS_VERSION","error":"Wrong backup version.","current_version":"8"})"));
  CAF_REQUIRE(!wrong);
  CAF_CHECK_EQUAL(wrong.error().errcode, "M_WRONG_ROOM_KEYS_VERSION");

  auto one = parse_session_response(answer(200, vector_data().to_json().dump()));
  CAF_REQUIRE(one);
  CAF_REQUIRE(one->has_value());
  CAF_CHECK_EQUAL(one.value()->session_data.ephemeral, vector::ephemeral);
  auto missing = parse_session_response(
      answer(404, R"({"errcode":"M_NOT_FOUND","error":"No room_keys found"})"));
  CAF_REQUIRE(missing);
  CAF_CHECK(!missing->has_value());
  // A 404 that is not M_NOT_FOUND (a proxy's page) is an error, not "no key".
  CAF_CHECK(!parse_session_response(answer(404, "<html>not here</html>")));

  json all{{"rooms",
            {{"!a:hs",
              {{"sessions",
                {{"good", vector_data().to_json()}, {"bad", {{"first_message_index", -1}}}}}}},
             {"!b:hs", {{"sessions", 5}}}}}};
  auto down = parse_room_keys_response(answer(200, all.dump()));
  CAF_REQUIRE(down);
  CAF_REQUIRE_EQUAL(down->sessions.size(), 1u);
  CAF_CHECK_EQUAL(down->sessions[0].room_id, "!a:hs");
  CAF_CHECK_EQUAL(down->sessions[0].session_id, "good");
  CAF_CHECK_EQUAL(down->malformed.size(), 2u);
  CAF_CHECK(!parse_room_keys_response(answer(200, R"({"rooms":[]})")));
  CAF_CHECK(!parse_room_keys_response(answer(200, "[]")));
}

CAF_TEST_FIXTURE_SCOPE_END()
