#define CAF_SUITE backup_sessions
#include "caf/test/unit_test.hpp"

#include <map>
#include <string>
#include <vector>

#include "matrix/crypto/backup_creation.hpp"
#include "matrix/crypto/backup_opening.hpp"
#include "matrix/crypto/backup_sessions.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/secret_storage.hpp"
#include "matrix/crypto/signatures.hpp"

#include "backup_test_keys.hpp"
#include "memory_crypto_store.hpp"
#include "olm_test_peers.hpp"

using namespace hm::matrix::crypto;
using hm::matrix::http_response;
using hm::matrix::crypto::test::key_from;
using hm::matrix::crypto::test::peer;
using hm::matrix::crypto::test::public_of;
using hm::matrix::crypto::test::random_bytes;
using hm::matrix::crypto::test::test_pickle_key;
using nlohmann::json;

namespace {

/// Bob's Megolm sessions in a room, stored as the bot would have received them.
struct fixture {
  peer bob{"@bob:hs", "BOBDEV"};
  peer bot{"@bot:hs", "BOTDEV"};
  pickle_key pk = test_pickle_key();
  memory_crypto_store store;
  secret_bytes private_key = random_bytes();
  backup_key key = key_from(private_key);
  std::vector<outbound_group_session> outs;

  /// A new session of Bob's in `room`, stored from `index` (messages before it unread).
  std::string add_session(const std::string& room, int index = 0, const std::string& version = {}) {
    auto out = std::move(outbound_group_session::create(room, 1000).value());
    for (int i = 0; i < index; ++i)
      CAF_REQUIRE(out.encrypt("m.room.message", {{"body", "x"}}, bob.acc, "BOBDEV"));
    auto in = inbound_from_own_outbound(out, bob.acc);
    CAF_REQUIRE(in);
    auto row = inbound_row(in.value(), pk, "@bob:hs", version);
    CAF_REQUIRE(row);
    crypto_changes c;
    c.inbound.push_back(std::move(row).value());
    CAF_REQUIRE(!store.commit_crypto(c));
    auto id = out.id();
    outs.push_back(std::move(out));
    return id;
  }

  /// The session of `id` as a backup entry (encrypted to `to`, from `index`).
  backed_up_session entry(const std::string& room, const outbound_group_session& out,
                          const backup_key& to) {
    auto in = inbound_from_own_outbound(out, bob.acc);
    CAF_REQUIRE(in);
    auto data = encrypt_session_for_backup(public_of(to), in.value(), false);
    CAF_REQUIRE(data);
    return {room, out.id(), std::move(data).value()};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(backup_sessions_tests, fixture)

CAF_TEST(sessions are uploaded in bounded batches each once per backup version) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(add_session("!r:hs"));
  auto first = next_backup_batch(store, pk, public_of(key), "1", bot.acc.identity().curve25519, 3);
  CAF_CHECK_EQUAL(first.sessions.size(), 3u);
  CAF_CHECK_EQUAL(first.marks.size(), 3u);
  CAF_CHECK(first.skipped.empty());
  // Before the marks are committed (the upload has not succeeded) the same come again.
  auto again = next_backup_batch(store, pk, public_of(key), "1", bot.acc.identity().curve25519, 3);
  CAF_CHECK_EQUAL(again.sessions.size(), 3u);
  crypto_changes c;
  c.backed_up = first.marks;
  CAF_REQUIRE(!store.commit_crypto(c));
  auto second = next_backup_batch(store, pk, public_of(key), "1", bot.acc.identity().curve25519, 3);
  CAF_CHECK_EQUAL(second.sessions.size(), 2u);
  c.backed_up = second.marks;
  CAF_REQUIRE(!store.commit_crypto(c));
  CAF_CHECK(next_backup_batch(store, pk, public_of(key), "1", "", 3).sessions.empty());
  // A new backup version takes them all again.
  CAF_CHECK_EQUAL(next_backup_batch(store, pk, public_of(key), "2", "", 10).sessions.size(), 5u);
}

CAF_TEST(an uploaded entry decrypts with the backup key to the stored session) {
  auto id = add_session("!r:hs", 2);
  auto batch = next_backup_batch(store, pk, public_of(key), "1", bot.acc.identity().curve25519);
  CAF_REQUIRE_EQUAL(batch.sessions.size(), 1u);
  auto& up = batch.sessions[0];
  CAF_CHECK_EQUAL(up.room_id, "!r:hs");
  CAF_CHECK_EQUAL(up.session_id, id);
  CAF_CHECK_EQUAL(up.data.first_message_index, 2);
  CAF_CHECK(!up.data.is_verified); // Bob's session: the uploader does not vouch for it
  // The request carries it in the spec's shape.
  auto req = upload_keys_request("1", batch.sessions);
  CAF_CHECK_EQUAL((*req.body)["rooms"]["!r:hs"]["sessions"][id]["first_message_index"], 2);
  auto plain = decrypt_backed_up_session(key, up.data);
  CAF_REQUIRE(plain);
  CAF_CHECK_EQUAL(plain->sender_key, bob.acc.identity().curve25519);
  auto restored = import_backed_up_session("!r:hs", id, plain.value());
  CAF_REQUIRE(restored);
  CAF_CHECK_EQUAL(restored->first_known_index(), 2u);
  // Our own sessions are uploaded as verified.
  auto own = next_backup_batch(store, pk, public_of(key), "1", bob.acc.identity().curve25519);
  CAF_REQUIRE_EQUAL(own.sessions.size(), 1u);
  CAF_CHECK(own.sessions[0].data.is_verified);
}

CAF_TEST(an unreadable stored session is skipped and marked so it blocks nothing) {
  crypto_changes c;
  c.inbound.push_back({"!r:hs", "broken", "KEY", "ED", "[]", "not a pickle", 0, "@bob:hs"});
  CAF_REQUIRE(!store.commit_crypto(c));
  add_session("!r:hs");
  auto batch = next_backup_batch(store, pk, public_of(key), "1", "");
  CAF_CHECK_EQUAL(batch.sessions.size(), 1u);
  CAF_CHECK_EQUAL(batch.marks.size(), 2u);
  CAF_REQUIRE_EQUAL(batch.skipped.size(), 1u);
  CAF_CHECK(batch.skipped[0].find("broken") != std::string::npos);
  CAF_CHECK(batch.skipped[0].find("not a pickle") == std::string::npos);
}

CAF_TEST(a session from the backup is imported and not uploaded again) {
  auto out = std::move(outbound_group_session::create("!r:hs", 1000).value());
  auto e = entry("!r:hs", out, key);
  crypto_changes c;
  auto got = restore_session(store, pk, key, "4", e, c);
  CAF_CHECK(got.what == restored_session::outcome::imported);
  CAF_REQUIRE_EQUAL(c.inbound.size(), 1u);
  CAF_CHECK_EQUAL(c.inbound[0].backed_up_version, "4");
  CAF_CHECK_EQUAL(c.inbound[0].sender_user, ""); // no Olm sender vouches for it
  CAF_REQUIRE(!store.commit_crypto(c));
  CAF_CHECK_EQUAL(store.inbound_group_sessions("!r:hs", out.id()).size(), 1u);
  CAF_CHECK(next_backup_batch(store, pk, public_of(key), "4", "").sessions.empty());
  // The same entry twice in one download: the second is kept out.
  auto twice = restore_session(store, pk, key, "4", e, c);
  CAF_CHECK(twice.what == restored_session::outcome::kept);
}

CAF_TEST(a backed up copy never replaces a better one we hold) {
  // We hold Bob's session from index 0; the backup has it from index 3.
  auto id = add_session("!r:hs", 0);
  auto& out = outs.back();
  for (int i = 0; i < 3; ++i)
    CAF_REQUIRE(out.encrypt("m.room.message", {{"body", "x"}}, bob.acc, "BOBDEV"));
  crypto_changes c;
  auto got = restore_session(store, pk, key, "1", entry("!r:hs", out, key), c);
  CAF_CHECK(got.what == restored_session::outcome::kept);
  CAF_CHECK(c.inbound.empty());
  auto held = store.inbound_group_sessions("!r:hs", id);
  CAF_REQUIRE_EQUAL(held.size(), 1u);
  CAF_CHECK_EQUAL(held[0].first_known_index, 0);
  // The other way round: the backup has it from 0, we from 2: the backup's copy wins.
  auto fresh = std::move(outbound_group_session::create("!r:hs", 1000).value());
  auto from_zero = entry("!r:hs", fresh, key);
  for (int i = 0; i < 2; ++i)
    CAF_REQUIRE(fresh.encrypt("m.room.message", {{"body", "x"}}, bob.acc, "BOBDEV"));
  auto late = inbound_from_own_outbound(fresh, bob.acc);
  CAF_REQUIRE(late);
  c.inbound.push_back(inbound_row(late.value(), pk, "@bob:hs").value());
  CAF_REQUIRE(!store.commit_crypto(c));
  c = {};
  auto better = restore_session(store, pk, key, "1", from_zero, c);
  CAF_CHECK(better.what == restored_session::outcome::imported);
  CAF_REQUIRE(!store.commit_crypto(c));
  auto now = store.inbound_group_sessions("!r:hs", fresh.id());
  CAF_REQUIRE_EQUAL(now.size(), 1u);
  CAF_CHECK_EQUAL(now[0].first_known_index, 0);
  CAF_CHECK_EQUAL(now[0].backed_up_version, "1");
}

CAF_TEST(an entry the backup key cannot read is skipped saying where and why) {
  auto other = key_from(random_bytes());
  auto out = std::move(outbound_group_session::create("!r:hs", 1000).value());
  crypto_changes c;
  auto got = restore_session(store, pk, key, "1", entry("!r:hs", out, other), c);
  CAF_CHECK(got.what == restored_session::outcome::skipped);
  CAF_CHECK(got.why.find(out.id()) != std::string::npos);
  CAF_CHECK(got.why.find("!r:hs") != std::string::npos);
  CAF_CHECK(got.why.find("cannot decrypt") != std::string::npos);
  CAF_CHECK(c.inbound.empty());
  // Filed under another session id: refused too.
  auto filed = entry("!r:hs", out, key);
  filed.session_id = "someone-else";
  auto wrong = restore_session(store, pk, key, "1", filed, c);
  CAF_CHECK(wrong.what == restored_session::outcome::skipped);
  CAF_CHECK(c.inbound.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- opening the backup with the recovery key (backup_opening) --------------------------

namespace {

/// The homeserver's account data and backup for @bot:hs as the opening reads them.
struct backup_server {
  secret_bytes storage_key = random_bytes();
  secret_bytes backup_private = random_bytes();
  std::string backup_public = key_from(backup_private).public_key();
  std::optional<json> version = json{{"algorithm", std::string{megolm_backup_algorithm}},
                                     {"auth_data", {{"public_key", backup_public}}},
                                     {"count", 0},
                                     {"etag", "0"},
                                     {"version", "7"}};
  std::vector<std::string> targets;

  json description() {
    auto check = encrypt_secret(storage_key, "", std::string(32, '\0'));
    CAF_REQUIRE(check);
    return {{"algorithm", std::string{secret_storage_algorithm}},
            {"iv", check.value()["iv"]},
            {"mac", check.value()["mac"]}};
  }

  json stored_backup_key() {
    auto text = base64_encode_unpadded(backup_private.data(), backup_private.size());
    auto enc = encrypt_secret(storage_key, megolm_backup_secret, text);
    CAF_REQUIRE(enc);
    return {{"encrypted", {{"SSKEY", enc.value()}}}};
  }

  http_response answer_to(const hm::matrix::http_request& r, std::string& body) {
    targets.push_back(r.target);
    auto has = [&r](const char* part) { return r.target.find(part) != std::string::npos; };
    http_response a;
    a.status = 200;
    if (has("/room_keys/version")) {
      if (version)
        body = version->dump();
      else {
        a.status = 404;
        body = R"({"errcode":"M_NOT_FOUND","error":"No backup"})";
      }
    } else if (has("m.secret_storage.default_key"))
      body = json{{"key", "SSKEY"}}.dump();
    else if (has("m.secret_storage.key.SSKEY"))
      body = description().dump();
    else if (has("m.megolm_backup.v1"))
      body = stored_backup_key().dump();
    else
      CAF_FAIL("unexpected request " << r.target);
    a.body = body;
    return a;
  }

  backup_opening::step run(backup_opening& flow) {
    auto step = flow.start();
    std::vector<std::string> bodies(8);
    size_t n = 0;
    while (auto* p = std::get_if<backup_opening::perform>(&step)) {
      CAF_REQUIRE(n < bodies.size());
      auto a = answer_to(p->request, bodies[n++]);
      if (a.status == 200)
        step = flow.answer(a);
      else
        step = flow.answer(hm::unexpected{hm::matrix::parse_matrix_error(a)});
    }
    return step;
  }

  std::string recovery_key() { return encode_recovery_key(storage_key); }
};

std::string failure_text(const backup_opening::step& step) {
  auto* f = std::get_if<backup_opening::failure>(&step);
  return f != nullptr ? f->text : "";
}

} // namespace

CAF_TEST(the backup opens with the key from secret storage) {
  backup_server hs;
  backup_opening flow{"@bot:hs", hs.recovery_key()};
  auto step = hs.run(flow);
  auto* done = std::get_if<backup_opening::opened>(&step);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(done->version.version, "7");
  CAF_REQUIRE(flow.key() != nullptr);
  CAF_CHECK_EQUAL(flow.key()->public_key(), hs.backup_public);
  // Asked again with the key already read: only the version is read.
  backup_opening again{flow.key()};
  hs.targets.clear();
  CAF_CHECK(std::holds_alternative<backup_opening::opened>(hs.run(again)));
  CAF_CHECK_EQUAL(hs.targets.size(), 1u);
}

CAF_TEST(an account without a backup reads nothing from secret storage) {
  backup_server hs;
  hs.version.reset();
  backup_opening flow{"@bot:hs", hs.recovery_key()};
  CAF_CHECK(std::holds_alternative<backup_opening::no_backup>(hs.run(flow)));
  CAF_CHECK_EQUAL(hs.targets.size(), 1u);
}

CAF_TEST(a homeserver that cannot answer is a failure worth trying again) {
  backup_server hs;
  backup_opening flow{"@bot:hs", hs.recovery_key()};
  auto first = flow.start();
  CAF_REQUIRE(std::holds_alternative<backup_opening::perform>(first));
  http_response bad;
  bad.status = 502;
  bad.body = "<html>Bad Gateway</html>";
  auto step = flow.answer(hm::unexpected{hm::matrix::parse_matrix_error(bad)});
  auto* f = std::get_if<backup_opening::failure>(&step);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK(f->transient);
  // A wrong key is not worth trying again.
  backup_opening wrong{"@bot:hs", encode_recovery_key(random_bytes())};
  auto end = hs.run(wrong);
  auto* w = std::get_if<backup_opening::failure>(&end);
  CAF_REQUIRE(w != nullptr);
  CAF_CHECK(!w->transient);
}

CAF_TEST(a wrong recovery key and a rotated backup are failures without key material) {
  {
    backup_server hs;
    auto wrong = encode_recovery_key(random_bytes());
    backup_opening flow{"@bot:hs", wrong};
    auto text = failure_text(hs.run(flow));
    CAF_CHECK(text.find("MATRIX_RECOVERY_KEY is not the key of this account's secret storage")
              != std::string::npos);
    CAF_CHECK(text.find(wrong) == std::string::npos);
  }
  {
    backup_server hs;
    backup_opening flow{"@bot:hs", "not a recovery key"};
    auto text = failure_text(hs.run(flow));
    CAF_CHECK(text.find("MATRIX_RECOVERY_KEY is not a recovery key") != std::string::npos);
  }
  {
    backup_server hs;
    hs.version = json{{"algorithm", std::string{megolm_backup_algorithm}},
                      {"auth_data", {{"public_key", key_from(random_bytes()).public_key()}}},
                      {"count", 0},
                      {"etag", "0"},
                      {"version", "8"}};
    backup_opening flow{"@bot:hs", hs.recovery_key()};
    auto text = failure_text(hs.run(flow));
    CAF_CHECK(text.find("uses another key") != std::string::npos);
    CAF_CHECK(text.find(hs.backup_public) == std::string::npos);
  }
}

// -- creating a backup (backup_creation, MATRIX_KEY_BACKUP=create) --------------------

namespace {

/// An account whose server answers from what was written to it.
struct empty_account_server {
  std::map<std::string, json> account_data;
  std::optional<json> version;
  std::vector<std::string> order;

  http_response answer_to(const hm::matrix::http_request& r, std::string& body) {
    http_response a;
    a.status = 200;
    auto not_found = [&] {
      a.status = 404;
      body = R"({"errcode":"M_NOT_FOUND","error":"nothing"})";
    };
    const std::string prefix = "/_matrix/client/v3/user/%40bot%3Ahs/account_data/";
    if (r.target.rfind("/_matrix/client/v3/room_keys/version", 0) == 0) {
      if (r.method == hm::matrix::http_method::post) {
        order.push_back("version");
        version = *r.body;
        (*version)["version"] = "1";
        (*version)["count"] = 0;
        (*version)["etag"] = "0";
        body = R"({"version":"1"})";
      } else if (version)
        body = version->dump();
      else
        not_found();
    } else if (r.target.rfind(prefix, 0) == 0) {
      auto type = r.target.substr(prefix.size());
      if (r.method == hm::matrix::http_method::put) {
        order.push_back(type);
        account_data[type] = *r.body;
        body = "{}";
      } else if (auto i = account_data.find(type); i != account_data.end())
        body = i->second.dump();
      else
        not_found();
    } else
      CAF_FAIL("unexpected request " << r.target);
    a.body = body;
    return a;
  }

  template <class Flow>
  typename Flow::step answer(Flow& flow, const hm::matrix::http_request& r,
                             std::vector<std::string>& bodies) {
    bodies.emplace_back();
    auto a = answer_to(r, bodies.back());
    if (a.status == 200)
      return flow.answer(a);
    return flow.answer(hm::unexpected{hm::matrix::parse_matrix_error(a)});
  }
};

} // namespace

CAF_TEST(a created backup opens with its recovery key as Element would open it) {
  empty_account_server hs;
  peer bot{"@bot:hs", "BOTDEV"};
  backup_creation flow{"@bot:hs", "BOTDEV", bot.acc};
  std::vector<std::string> bodies;
  bodies.reserve(32);
  auto step = flow.start();
  std::string recovery;
  while (true) {
    if (auto* p = std::get_if<backup_creation::perform>(&step)) {
      step = hs.answer(flow, p->request, bodies);
    } else if (auto* keep = std::get_if<backup_creation::keep_recovery_key>(&step)) {
      // Kept before anything is on the server.
      CAF_CHECK(hs.order.empty());
      recovery = keep->recovery_key;
      step = flow.kept();
    } else {
      break;
    }
  }
  auto* done = std::get_if<backup_creation::created>(&step);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(done->version.version, "1");
  CAF_REQUIRE(!recovery.empty());
  // The default key comes after its description and the secret, the version last.
  CAF_REQUIRE_EQUAL(hs.order.size(), 4u);
  CAF_CHECK(hs.order[0].rfind("m.secret_storage.key.", 0) == 0);
  CAF_CHECK_EQUAL(hs.order[1], "m.megolm_backup.v1");
  CAF_CHECK_EQUAL(hs.order[2], "m.secret_storage.default_key");
  CAF_CHECK_EQUAL(hs.order[3], "version");
  // auth_data names the public key and carries our device's signature.
  auto& auth = (*hs.version)["auth_data"];
  CAF_CHECK_EQUAL(auth["public_key"], flow.key()->public_key());
  CAF_CHECK(verify_signature(bot.acc.identity().ed25519, auth, "@bot:hs", "BOTDEV"));
  // Element's way in: recovery key → secret storage → backup key → the same backup.
  backup_opening opening{"@bot:hs", recovery};
  auto opened = opening.start();
  while (auto* p = std::get_if<backup_opening::perform>(&opened))
    opened = hs.answer(opening, p->request, bodies);
  CAF_REQUIRE(std::holds_alternative<backup_opening::opened>(opened));
  CAF_CHECK_EQUAL(opening.key()->public_key(), flow.key()->public_key());
}

CAF_TEST(an account with a backup or with secret storage gets nothing created) {
  peer bot{"@bot:hs", "BOTDEV"};
  for (int existing = 0; existing < 2; ++existing) {
    empty_account_server hs;
    if (existing == 0)
      hs.version = json{{"algorithm", std::string{megolm_backup_algorithm}},
                        {"auth_data", {{"public_key", "x"}}}, {"count", 0}, {"etag", "0"},
                        {"version", "3"}};
    else
      hs.account_data["m.secret_storage.default_key"] = {{"key", "theirs"}};
    backup_creation flow{"@bot:hs", "BOTDEV", bot.acc};
    std::vector<std::string> bodies;
    bodies.reserve(8);
    auto step = flow.start();
    while (auto* p = std::get_if<backup_creation::perform>(&step))
      step = hs.answer(flow, p->request, bodies);
    auto* declined = std::get_if<backup_creation::declined>(&step);
    CAF_REQUIRE(declined != nullptr);
    CAF_CHECK(declined->text.find("MATRIX_RECOVERY_KEY") != std::string::npos);
    CAF_CHECK(hs.order.empty());
  }
}
