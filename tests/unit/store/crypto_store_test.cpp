#define CAF_SUITE crypto_store

#include "store/pickle_key_file.hpp"
#include "store/recovery_key_file.hpp"
#include "store/profile_store.hpp"

#include "caf/test/unit_test.hpp"

#include "store_fixture.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm;
namespace crypto = hm::matrix::crypto;

namespace {

struct fixture : test::store_fixture {
  fixture() : store_fixture("hm-crypto-store-test") {}
};

using test::open_ok;

/// Runs `sql` on the database at `path` directly (to build an old-version store).
void raw_exec(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  CAF_REQUIRE_EQUAL(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  auto rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK)
    CAF_FAIL("sql failed: " << (err != nullptr ? err : "?"));
  sqlite3_close(db);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(crypto_store_tests, fixture)

CAF_TEST(a new store is at schema version 8 and starts without crypto state) {
  auto store = open_ok(path);
  CAF_CHECK_EQUAL(store->get("schema_version"), std::optional<std::string>{"8"});
  CAF_CHECK(store->sessions_to_back_up("1", 10).empty());
  CAF_CHECK(!store->crypto_account());
  CAF_CHECK(store->olm_sessions("K").empty());
  CAF_CHECK(!store->tracked_devices());
  CAF_CHECK(store->parked().empty());
}

CAF_TEST(a version 2 store migrates to version 8 and keeps its journal and outbox) {
  std::filesystem::create_directories(path.parent_path());
  raw_exec(path, R"sql(
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('schema_version', '2'), ('next_batch', 's9');
    CREATE TABLE journal (event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL,
      kind TEXT NOT NULL, payload TEXT NOT NULL, admitted_seq INTEGER NOT NULL,
      outcome TEXT, admitted_at INTEGER NOT NULL, finished_at INTEGER);
    CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,
      txn_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL, content TEXT NOT NULL,
      relates_txn TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'pending',
      event_id TEXT, reason TEXT, created_at INTEGER NOT NULL);
    INSERT INTO journal VALUES ('$e1', '!r', 'message', '{}', 1, NULL, 1, NULL);
    INSERT INTO outbox (room_id, txn_id, event_type, content, created_at)
      VALUES ('!r', 't1', 'm.room.message', '{}', 1);
  )sql");
  auto store = open_ok(path);
  CAF_CHECK_EQUAL(store->get("schema_version"), std::optional<std::string>{"8"});
  CAF_CHECK_EQUAL(store->get("next_batch"), std::optional<std::string>{"s9"});
  CAF_CHECK(store->remember_thread("!r", "$root")); // version 4's table is there
  auto journal = store->pending_journal();
  CAF_REQUIRE_EQUAL(journal.size(), 1u);
  CAF_CHECK_EQUAL(journal[0].run, ""); // version 6's column, empty for old entries
  auto pending = store->pending_outbox();
  CAF_REQUIRE_EQUAL(pending.size(), 1u);
  CAF_CHECK_EQUAL(pending[0].after_txn, ""); // version 5's column, empty for old sends
  CAF_CHECK(!pending[0].yields);             // version 7's: old sends are all content
  crypto_changes c;
  c.devices = R"({"users":{}})";
  CAF_CHECK(!store->commit_crypto(c));
  CAF_CHECK_EQUAL(store->tracked_devices(), c.devices);
}

CAF_TEST(a store from a newer version is refused) {
  { auto store = open_ok(path); CAF_CHECK(store->put("schema_version", "99")); }
  auto res = profile_store::open(path);
  CAF_REQUIRE(!res.has_value());
  CAF_CHECK_NOT_EQUAL(res.error().message.find("schema version 99"), std::string::npos);
}

CAF_TEST(crypto rows survive closing and reopening) {
  {
    auto store = open_ok(path);
    crypto_changes c;
    c.account = crypto_account_row{"@bot:hs", "DEV", "curve", "ed", "account-pickle"};
    c.olm_sessions = {{"KA", "s1", "p1"}, {"KA", "s2", "p2"}, {"KB", "s3", "p3"}};
    c.inbound = {{"!r", "g1", "KA", "EA", "[]", "gp1", 0, "@u:hs"}};
    c.outbound = {{"!r", "o1", "op1", 1000, 0, R"(["@u:hs|D1"])"}};
    c.devices = R"({"@u:hs":{}})";
    c.park = {{"$p1", "!r", "g2", "KA"}};
    CAF_CHECK(!store->commit_crypto(c));
  }
  auto store = open_ok(path);
  auto acc = store->crypto_account();
  CAF_REQUIRE(acc);
  CAF_CHECK_EQUAL(acc->device_id, "DEV");
  CAF_CHECK_EQUAL(acc->pickle, "account-pickle");
  CAF_CHECK_EQUAL(store->olm_sessions("KA").size(), 2u);
  CAF_CHECK_EQUAL(store->olm_sessions("KB").size(), 1u);
  auto in = store->inbound_group_sessions("!r", "g1");
  CAF_REQUIRE_EQUAL(in.size(), 1u);
  CAF_CHECK_EQUAL(in[0].pickle, "gp1");
  CAF_CHECK_EQUAL(in[0].sender_ed25519, "EA");
  CAF_CHECK(store->inbound_group_sessions("!other", "g1").empty());
  auto out = store->outbound_group_session("!r");
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->session_id, "o1");
  CAF_CHECK_EQUAL(out->created_at, 1000);
  CAF_CHECK_EQUAL(out->shared_with, R"(["@u:hs|D1"])");
  CAF_CHECK_EQUAL(store->tracked_devices(), std::optional<std::string>{R"({"@u:hs":{}})"});
  auto parked = store->parked("g2");
  CAF_REQUIRE_EQUAL(parked.size(), 1u);
  CAF_CHECK_EQUAL(parked[0].event_id, "$p1");
  CAF_CHECK(store->parked("g1").empty());
  CAF_CHECK_EQUAL(store->parked().size(), 1u);
}

CAF_TEST(an olm session is replaced by its newer pickle) {
  auto store = open_ok(path);
  crypto_changes c;
  c.olm_sessions = {{"KA", "s1", "old"}};
  CAF_CHECK(!store->commit_crypto(c));
  c.olm_sessions = {{"KA", "s1", "new"}};
  CAF_CHECK(!store->commit_crypto(c));
  auto rows = store->olm_sessions("KA");
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].pickle, "new");
}

CAF_TEST(an inbound session is only replaced by one that knows an earlier index) {
  auto store = open_ok(path);
  crypto_changes c;
  c.inbound = {{"!r", "g", "KA", "EA", "[]", "from-5", 5, "@u:hs"}};
  CAF_CHECK(!store->commit_crypto(c));
  c.inbound = {{"!r", "g", "KA", "EA", "[]", "from-9", 9, "@u:hs"}};
  CAF_CHECK(!store->commit_crypto(c));
  auto kept = store->inbound_group_sessions("!r", "g");
  CAF_REQUIRE_EQUAL(kept.size(), 1u);
  CAF_CHECK_EQUAL(kept[0].pickle, "from-5");
  c.inbound = {{"!r", "g", "KA", "EA", "[]", "from-0", 0, "@u:hs"}};
  CAF_CHECK(!store->commit_crypto(c));
  auto better = store->inbound_group_sessions("!r", "g");
  CAF_REQUIRE_EQUAL(better.size(), 1u);
  CAF_CHECK_EQUAL(better[0].pickle, "from-0");
  CAF_CHECK_EQUAL(better[0].first_known_index, 0);
}

CAF_TEST(a version 7 store keeps its inbound sessions and has them all to back up) {
  {
    auto store = open_ok(path);
    crypto_changes c;
    c.inbound = {{"!r", "g1", "KA", "EA", "[]", "gp1", 0, "@u:hs"}};
    CAF_CHECK(!store->commit_crypto(c));
  }
  // Back to what version 7 had: no backed_up_version column.
  raw_exec(path, R"sql(
    ALTER TABLE inbound_group_sessions DROP COLUMN backed_up_version;
    UPDATE meta SET value = '7' WHERE key = 'schema_version';
  )sql");
  auto store = open_ok(path);
  CAF_CHECK_EQUAL(store->get("schema_version"), std::optional<std::string>{"8"});
  auto todo = store->sessions_to_back_up("1", 10);
  CAF_REQUIRE_EQUAL(todo.size(), 1u);
  CAF_CHECK_EQUAL(todo[0].session_id, "g1");
  CAF_CHECK_EQUAL(todo[0].pickle, "gp1");
  CAF_CHECK_EQUAL(todo[0].backed_up_version, "");
}

CAF_TEST(sessions are backed up once per version and a better copy again) {
  auto store = open_ok(path);
  crypto_changes c;
  c.inbound = {{"!r", "g1", "KA", "EA", "[]", "p1", 3, "@u:hs"},
               {"!r", "g2", "KA", "EA", "[]", "p2", 0, "@u:hs"},
               {"!r", "g3", "KA", "EA", "[]", "p3", 0, "", "1"}}; // restored from backup 1
  CAF_CHECK(!store->commit_crypto(c));
  auto first = store->sessions_to_back_up("1", 1);
  CAF_REQUIRE_EQUAL(first.size(), 1u); // the batch bound
  CAF_CHECK_EQUAL(store->sessions_to_back_up("1", 10).size(), 2u);
  crypto_changes marks;
  marks.backed_up = {{"!r", "g1", "KA", 3, "1"}, {"!r", "g2", "KA", 0, "1"}};
  CAF_CHECK(!store->commit_crypto(marks));
  CAF_CHECK(store->sessions_to_back_up("1", 10).empty());
  // Another backup version needs them all.
  CAF_CHECK_EQUAL(store->sessions_to_back_up("2", 10).size(), 3u);
  // A better copy of g1 (an earlier index) is to be backed up again; a mark for the
  // copy that was uploaded before it came does not cover it.
  crypto_changes better;
  better.inbound = {{"!r", "g1", "KA", "EA", "[]", "p1-better", 0, "@u:hs"}};
  CAF_CHECK(!store->commit_crypto(better));
  crypto_changes stale;
  stale.backed_up = {{"!r", "g1", "KA", 3, "1"}};
  CAF_CHECK(!store->commit_crypto(stale));
  auto again = store->sessions_to_back_up("1", 10);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].pickle, "p1-better");
  // A worse copy changes nothing (not even the bookkeeping).
  crypto_changes worse;
  worse.inbound = {{"!r", "g2", "KA", "EA", "[]", "p2-worse", 5, "@u:hs"}};
  CAF_CHECK(!store->commit_crypto(worse));
  CAF_CHECK_EQUAL(store->sessions_to_back_up("1", 10).size(), 1u);
}

CAF_TEST(an outbound session is replaced per room and discarded on rotation) {
  auto store = open_ok(path);
  crypto_changes c;
  c.outbound = {{"!r", "o1", "p", 1, 0, "[]"}, {"!s", "o2", "p", 1, 0, "[]"}};
  CAF_CHECK(!store->commit_crypto(c));
  c.outbound = {{"!r", "o1", "p2", 1, 3, R"(["a|b"])"}};
  CAF_CHECK(!store->commit_crypto(c));
  auto out = store->outbound_group_session("!r");
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->message_count, 3);
  crypto_changes rotate;
  rotate.discard_outbound = {"!r"};
  CAF_CHECK(!store->commit_crypto(rotate));
  CAF_CHECK(!store->outbound_group_session("!r"));
  CAF_CHECK(store->outbound_group_session("!s"));
}

CAF_TEST(a replayed message index fails the whole transaction) {
  auto store = open_ok(path);
  CAF_CHECK(store->admit({{"$e1", "!r", "message", "{}"}, {"$e2", "!r", "message", "{}"}},
                          "s1"));
  crypto_changes park;
  park.park = {{"$e2", "!r", "g", "KA"}};
  CAF_CHECK(!store->commit_crypto(park));
  crypto_changes first;
  first.replay = {{"g", 0, "$e1", 100}};
  CAF_CHECK(!store->commit_crypto(first));
  auto seen = store->replayed("g", 0);
  CAF_REQUIRE(seen);
  CAF_CHECK_EQUAL(seen->event_id, "$e1");
  CAF_CHECK_EQUAL(seen->origin_server_ts, 100);
  CAF_CHECK(!store->replayed("g", 1));
  // The same (session, index) again with another event: refused, and the unparking
  // that came with it is not committed either.
  crypto_changes replay;
  replay.replay = {{"g", 0, "$e2", 200}};
  replay.unpark = {"$e2"};
  CAF_CHECK(store->commit_crypto(replay));
  CAF_CHECK_EQUAL(store->parked("g").size(), 1u);
  auto still = store->replayed("g", 0);
  CAF_REQUIRE(still);
  CAF_CHECK_EQUAL(still->event_id, "$e1");
}

CAF_TEST(a parked event is unparked together with the key and replay entry of its retry) {
  auto store = open_ok(path);
  CAF_CHECK(store->admit({{"$e1", "!r", "message", "{}"}}, "s1"));
  crypto_changes park;
  park.park = {{"$e1", "!r", "g", "KA"}};
  CAF_CHECK(!store->commit_crypto(park));
  CAF_CHECK_EQUAL(store->pending_journal().size(), 1u); // parked events stay pending
  crypto_changes retry;
  retry.inbound = {{"!r", "g", "KA", "EA", "[]", "gp", 0, "@u:hs"}};
  retry.unpark = {"$e1"};
  retry.replay = {{"g", 0, "$e1", 1}};
  CAF_CHECK(!store->commit_crypto(retry));
  CAF_CHECK(store->parked().empty());
  CAF_CHECK_EQUAL(store->inbound_group_sessions("!r", "g").size(), 1u);
  CAF_CHECK(store->replayed("g", 0));
  // Unparking is the crypto state's; the journal entry stays pending until the
  // profile has acted on it.
  CAF_CHECK_EQUAL(store->pending_journal().size(), 1u);
}

// -- the pickle key ---------------------------------------------------------

CAF_TEST(the pickle key file is created private and read back the same) {
  auto old_umask = ::umask(022);
  auto first = load_pickle_key(secret{}, path);
  ::umask(old_umask);
  CAF_REQUIRE(first.has_value());
  auto file = pickle_key_path_for(path);
  CAF_CHECK_EQUAL(file.filename().string(), "hermes-matrix.pickle-key");
  CAF_CHECK_EQUAL(mode_of(file), 0600u);
  auto second = load_pickle_key(secret{}, path);
  CAF_REQUIRE(second.has_value());
  auto& a = *first;
  auto& b = *second;
  CAF_CHECK_EQUAL(a.size(), 32u);
  CAF_CHECK(std::equal(a.data(), a.data() + a.size(), b.data(), b.data() + b.size()));
  // No temporary file is left behind.
  size_t files = 0;
  for (auto& entry : std::filesystem::directory_iterator(file.parent_path()))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos)
      ++files;
  CAF_CHECK_EQUAL(files, 0u);
}

CAF_TEST(MATRIX_PICKLE_KEY wins over the key file and must not be short) {
  auto configured = load_pickle_key(secret{"0123456789abcdef-configured"}, path);
  CAF_REQUIRE(configured.has_value());
  CAF_CHECK_EQUAL(configured->size(), 27u);
  CAF_CHECK(!std::filesystem::exists(pickle_key_path_for(path)));
  auto shorty = load_pickle_key(secret{"short-secret"}, path);
  CAF_REQUIRE(!shorty.has_value());
  auto& msg = shorty.error().message;
  CAF_CHECK_NOT_EQUAL(msg.find("at least 16"), std::string::npos);
  CAF_CHECK_EQUAL(msg.find("short-secret"), std::string::npos); // never the key itself
}

CAF_TEST(a key file others can read or that holds no key is refused) {
  auto file = pickle_key_path_for(path);
  std::filesystem::create_directories(file.parent_path());
  {
    std::ofstream out{file};
    out << "not-base64-at-all!\n";
  }
  ::chmod(file.c_str(), 0600);
  auto garbage = load_pickle_key(secret{}, path);
  CAF_REQUIRE(!garbage.has_value());
  CAF_CHECK_NOT_EQUAL(garbage.error().message.find("32-byte"), std::string::npos);
  ::chmod(file.c_str(), 0644);
  auto open_to_all = load_pickle_key(secret{}, path);
  CAF_REQUIRE(!open_to_all.has_value());
  CAF_CHECK_NOT_EQUAL(open_to_all.error().message.find("chmod 600"), std::string::npos);
}

// -- the recovery key of a backup we created ----------------------------------

CAF_TEST(the recovery key file is written once private and read back) {
  auto file = recovery_key_path_for(path);
  CAF_CHECK_EQUAL(file.filename().string(), "hermes-matrix.recovery-key");
  std::filesystem::create_directories(file.parent_path());
  auto old_umask = ::umask(0);
  auto written = write_recovery_key_file(file, "EsT1 H3Wm yHnZ");
  ::umask(old_umask);
  CAF_CHECK(written.has_value());
  CAF_CHECK_EQUAL(mode_of(file), 0600u);
  auto read = read_recovery_key_file(file);
  CAF_CHECK_EQUAL(read.error, "");
  CAF_CHECK_EQUAL(read.value, "EsT1 H3Wm yHnZ");
  // Never over what is there.
  auto again = write_recovery_key_file(file, "another");
  CAF_CHECK(!again && again.error().code == hm::error_code::exists);
  CAF_CHECK_EQUAL(again.error().message, "exists");
  CAF_CHECK_EQUAL(read_recovery_key_file(file).value, "EsT1 H3Wm yHnZ");
  // Open to others: refused, without the key in the error.
  ::chmod(file.c_str(), 0644);
  auto open_to_all = read_recovery_key_file(file);
  CAF_CHECK_EQUAL(open_to_all.value, "");
  CAF_CHECK_NOT_EQUAL(open_to_all.error.find(file.string()), std::string::npos);
  CAF_CHECK_EQUAL(open_to_all.error.find("EsT1"), std::string::npos);
}

CAF_TEST(a link in place of the recovery key file is neither followed nor written through) {
  auto file = recovery_key_path_for(path);
  std::filesystem::create_directories(file.parent_path());
  auto target = file.parent_path() / "elsewhere";
  std::filesystem::create_symlink(target, file);
  auto through = write_recovery_key_file(file, "EsT1");
  CAF_CHECK(!through && through.error().code == hm::error_code::exists);
  CAF_CHECK_EQUAL(through.error().message, "exists");
  CAF_CHECK(!std::filesystem::exists(target));
  { std::ofstream out{target}; out << "EsT1 planted\n"; }
  ::chmod(target.c_str(), 0600);
  auto read = read_recovery_key_file(file);
  CAF_CHECK_EQUAL(read.value, "");
  CAF_CHECK_NOT_EQUAL(read.error, "");
}

CAF_TEST_FIXTURE_SCOPE_END()
