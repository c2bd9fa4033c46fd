#define CAF_SUITE profile_store

#include "store/profile_store.hpp"

#include "caf/test/unit_test.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "store_fixture.hpp" // after unit_test.hpp: it uses CAF_FAIL

using namespace hm;

namespace {

struct fixture : test::store_fixture {
  fixture() : store_fixture("hm-store-test") {}
};

using test::open_ok;

} // namespace

CAF_TEST_FIXTURE_SCOPE(profile_store_tests, fixture)

CAF_TEST(the store lives beside the profile and its files are private) {
  CAF_CHECK_EQUAL(path, dir / "platforms" / "matrix" / "hermes-matrix.db");
  auto old_umask = ::umask(022); // even with a permissive umask
  {
    auto store = open_ok(path);
    CAF_CHECK(store->put("next_batch", "s72594_4483_1934"));
    CAF_CHECK_EQUAL(mode_of(path), 0600u);
    auto wal = path;
    wal += "-wal";
    if (std::filesystem::exists(wal))
      CAF_CHECK_EQUAL(mode_of(wal), 0600u);
  }
  ::umask(old_umask);
}

CAF_TEST(values survive closing and reopening) {
  {
    auto store = open_ok(path);
    CAF_CHECK(store->put("next_batch", "s1"));
    CAF_CHECK(store->put("next_batch", "s2"));
  }
  auto store = open_ok(path);
  CAF_CHECK_EQUAL(store->get("next_batch"), std::optional<std::string>{"s2"});
  CAF_CHECK_EQUAL(store->get("missing"), std::nullopt);
  CAF_CHECK_EQUAL(store->get("schema_version"), std::optional<std::string>{"8"});
  CAF_CHECK(store->erase("next_batch"));
  CAF_CHECK(store->erase("never there"));
  CAF_CHECK_EQUAL(store->get("next_batch"), std::nullopt);
}

CAF_TEST(a link in place of the store is refused and not followed) {
  std::filesystem::create_directories(path.parent_path());
  auto elsewhere = dir / "elsewhere.db";
  std::filesystem::create_symlink(elsewhere, path);
  auto res = profile_store::open(path);
  CAF_REQUIRE(!res.has_value());
  CAF_CHECK(res.error().message.find("symbolic link") != std::string::npos);
  CAF_CHECK(!std::filesystem::exists(elsewhere));
}

CAF_TEST(a store another user put there first is refused) {
  if (::geteuid() != 0) {
    CAF_MESSAGE("skipped: only root can plant a file as another user");
    return;
  }
  std::filesystem::create_directories(path.parent_path());
  { std::ofstream{path}; }
  ::chmod(path.c_str(), 0666);
  CAF_REQUIRE_EQUAL(::chown(path.c_str(), 65534, 65534), 0);
  auto res = profile_store::open(path);
  CAF_REQUIRE(!res.has_value());
  CAF_CHECK(res.error().message.find("belongs to another user") != std::string::npos);
}

CAF_TEST(a store in a folder others may write to is refused) {
  std::filesystem::create_directories(path.parent_path());
  ::chmod(path.parent_path().c_str(), 0777);
  auto res = profile_store::open(path);
  CAF_REQUIRE(!res.has_value());
  auto& msg = res.error().message;
  CAF_CHECK(msg.find(path.parent_path().string() + " of the store") != std::string::npos);
  CAF_CHECK(msg.find("writable by other users") != std::string::npos);
  CAF_CHECK(!std::filesystem::exists(path));
}

CAF_TEST(a second opener is refused while the first holds the lock) {
  auto first = open_ok(path);
  auto second = profile_store::open(path);
  CAF_REQUIRE(!second.has_value());
  auto& msg = second.error().message;
  CAF_CHECK_NOT_EQUAL(msg.find("in use by another hermes-matrix process"), std::string::npos);
  first.reset();
  CAF_CHECK(profile_store::open(path).has_value());
}

CAF_TEST(a corrupt store is refused with a message that says what to do) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out{path, std::ios::binary};
    out << std::string(8192, 'x');
  }
  auto res = profile_store::open(path);
  CAF_REQUIRE(!res.has_value());
  auto& msg = res.error().message;
  CAF_MESSAGE(msg);
  CAF_CHECK_NOT_EQUAL(msg.find(path.string()), std::string::npos);
  CAF_CHECK_NOT_EQUAL(msg.find("move it away"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(journal_and_outbox, fixture)

CAF_TEST(admitting events and moving the cursor happen together and only once) {
  auto store = open_ok(path);
  std::vector<journal_entry> batch{{"$a", "!r:hs", "message", "{}"},
                                   {"$b", "!r:hs", "message", "{}"}};
  CAF_CHECK(store->admit(batch, "s1"));
  CAF_CHECK_EQUAL(store->get("next_batch"), std::optional<std::string>{"s1"});
  // The same batch again (a crash before the next sync): nothing new, same order.
  CAF_CHECK(store->admit({{"$b", "!r:hs", "message", "{}"}, {"$c", "!r:hs", "invite", "{}"}},
                          "s2"));
  auto pending = store->pending_journal();
  CAF_REQUIRE_EQUAL(pending.size(), 3u);
  CAF_CHECK_EQUAL(pending[0].event_id, "$a");
  CAF_CHECK_EQUAL(pending[1].event_id, "$b");
  CAF_CHECK_EQUAL(pending[2].event_id, "$c");
  CAF_CHECK_EQUAL(pending[2].kind, "invite");
  CAF_CHECK(store->finish("$a", journal_outcome::answered()));
  CAF_CHECK_EQUAL(store->pending_journal().size(), 2u);
  CAF_CHECK(store->outcome("$a") == journal_outcome::answered());
  CAF_CHECK(store->finished("$a"));
  CAF_CHECK(!store->finished("$b"));
  CAF_CHECK(!store->outcome("$b"));
}

CAF_TEST(an outcome this version cannot read still counts as finished) {
  {
    auto store = open_ok(path);
    CAF_CHECK(store->admit({{"$new", "!r:hs", "message", "{}"}}, "s1"));
  }
  // A newer version finished it with an outcome this one does not know.
  sqlite3* db = nullptr;
  CAF_REQUIRE_EQUAL(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  CAF_REQUIRE_EQUAL(sqlite3_exec(db, "UPDATE journal SET outcome = 'summarised:later' "
                                     "WHERE event_id = '$new'",
                                 nullptr, nullptr, nullptr),
                    SQLITE_OK);
  sqlite3_close(db);
  auto store = open_ok(path);
  CAF_CHECK(store->finished("$new")); // never answered a second time
  CAF_CHECK(!store->outcome("$new"));
  CAF_CHECK(store->pending_journal().empty());
}

CAF_TEST(the run of a turn is journaled with its entry until the entry is finished) {
  {
    auto store = open_ok(path);
    CAF_CHECK(store->admit({{"$a", "!r:hs", "message", "{}"}}, "s1"));
    CAF_CHECK(store->note_run("$a", R"({"state":"started","run_id":"run_1"})"));
  }
  auto store = open_ok(path); // a restart: the run is still known
  auto pending = store->pending_journal();
  CAF_REQUIRE_EQUAL(pending.size(), 1u);
  CAF_CHECK_EQUAL(pending[0].run, R"({"state":"started","run_id":"run_1"})");
  CAF_CHECK(store->finish("$a", journal_outcome::answered()));
  CAF_CHECK(store->note_run("$a", "late")); // a finished entry keeps its last note
  CAF_CHECK(store->pending_journal().empty());
}

CAF_TEST(a reaction finds which of our sends it names) {
  auto store = open_ok(path);
  bool inserted = false;
  CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.1.approval", "m.room.message", "{}", "", ""},
                            inserted));
  CAF_CHECK_EQUAL(store->txn_of_event("$prompt"), std::nullopt); // not sent yet
  CAF_CHECK(store->mark_sent("hm.1.1.approval", "$prompt"));
  CAF_CHECK_EQUAL(store->txn_of_event("$prompt"), std::optional<std::string>{"hm.1.1.approval"});
  CAF_CHECK_EQUAL(store->txn_of_event("$someone-elses"), std::nullopt);
}

CAF_TEST(the outbox keeps sends until acknowledged and ignores a repeated txn id) {
  {
    auto store = open_ok(path);
    bool inserted = false;
    CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.0.reply", "m.room.message", R"({"body":"hi"})", "", ""},
                              inserted));
    CAF_CHECK(inserted);
    CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.1.edit", "m.room.message", R"({"body":"hi!"})",
                               "hm.1.0.reply", ""},
                              inserted));
    CAF_CHECK(inserted);
    CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.0.reply", "m.room.message",
                               R"({"body":"again"})", "", ""},
                              inserted));
    CAF_CHECK(!inserted);
  }
  auto store = open_ok(path); // a restart
  auto pending = store->pending_outbox();
  CAF_REQUIRE_EQUAL(pending.size(), 2u);
  CAF_CHECK_EQUAL(pending[0].txn_id, "hm.1.0.reply");
  CAF_CHECK_EQUAL(pending[0].content, R"({"body":"hi"})");
  CAF_CHECK_EQUAL(pending[1].relates_txn, "hm.1.0.reply");
  CAF_CHECK(store->mark_sent("hm.1.0.reply", "$sent1"));
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.1.0.reply").state, send_outcome::sent);
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.1.0.reply").event_id, "$sent1");
  CAF_CHECK(store->mark_failed("hm.1.1.edit", "M_FORBIDDEN"));
  CAF_CHECK(store->pending_outbox().empty());
}

CAF_TEST(a send that vouches for another and a decoration keep what they are across a restart) {
  {
    auto store = open_ok(path);
    bool inserted = false;
    CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.0.react-working", "m.reaction", "{}", "", "",
                               true},
                              inserted));
    CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.0.reply", "m.room.message", "{}", "", ""},
                              inserted));
    CAF_CHECK(store->enqueue({0, "!r:hs", "hm.1.0.react-done", "m.reaction", "{}", "",
                               "hm.1.0.reply"},
                              inserted));
  }
  auto store = open_ok(path);
  auto pending = store->pending_outbox();
  CAF_REQUIRE_EQUAL(pending.size(), 3u);
  CAF_CHECK(pending[0].yields); // a decoration stays one across the restart
  CAF_CHECK(!pending[1].yields);
  CAF_CHECK_EQUAL(pending[2].after_txn, "hm.1.0.reply");
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.1.0.reply").state, send_outcome::pending);
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.nothing").state, send_outcome::unknown);
  CAF_CHECK(store->mark_failed("hm.1.0.reply", "M_FORBIDDEN"));
  auto refused = store->outcome_of_send("hm.1.0.reply");
  CAF_CHECK_EQUAL(refused.state, send_outcome::failed);
  CAF_CHECK_EQUAL(refused.reason, "M_FORBIDDEN");
  CAF_CHECK(store->mark_sent("hm.1.0.react-done", "$r"));
  auto sent = store->outcome_of_send("hm.1.0.react-done");
  CAF_CHECK_EQUAL(sent.state, send_outcome::sent);
  CAF_CHECK_EQUAL(sent.event_id, "$r");
}

CAF_TEST(pruning forgets what is finished and keeps what is pending) {
  auto store = open_ok(path);
  CAF_CHECK(store->admit({{"$done", "!r:hs", "message", "{}"}, {"$open", "!r:hs", "message", "{}"}},
                          "s1"));
  CAF_CHECK(store->finish("$done", journal_outcome::answered()));
  bool inserted = false;
  CAF_CHECK(store->enqueue({0, "!r:hs", "hm.a.0.reply", "m.room.message", "{}", "", ""}, inserted));
  CAF_CHECK(store->mark_sent("hm.a.0.reply", "$a"));
  CAF_CHECK(store->enqueue({0, "!r:hs", "hm.b.0.reply", "m.room.message", "{}", "", ""}, inserted));
  // Nothing is old enough yet.
  CAF_CHECK(store->prune(std::chrono::hours{1}));
  CAF_CHECK(store->outcome("$done") == journal_outcome::answered());
  // Everything is: the finished entry goes; the pending one, the pending send,
  // and (while "$open" is pending) the delivered send stay.
  CAF_CHECK(store->prune(std::chrono::hours{-1}));
  CAF_CHECK(!store->outcome("$done"));
  CAF_CHECK_EQUAL(store->pending_journal().size(), 1u);
  CAF_CHECK_EQUAL(store->pending_outbox().size(), 1u);
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.a.0.reply").state, send_outcome::sent);
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.a.0.reply").event_id, "$a");
  CAF_CHECK(store->finish("$open", journal_outcome::answered()));
  CAF_CHECK(store->prune(std::chrono::hours{-1}));
  CAF_CHECK_EQUAL(store->outcome_of_send("hm.a.0.reply").state, send_outcome::unknown);
  CAF_CHECK_EQUAL(store->pending_outbox().size(), 1u);
}

CAF_TEST(threads the bot answers in survive a restart and pruning the journal) {
  {
    auto store = open_ok(path);
    CAF_CHECK(store->remember_thread("!r:hs", "$root1"));
    CAF_CHECK(store->remember_thread("!r:hs", "$root1")); // used again: still one
    CAF_CHECK(store->remember_thread("!s:hs", "$root2"));
  }
  auto store = open_ok(path);
  CAF_CHECK(store->prune(std::chrono::hours{-1}));
  auto threads = store->bot_threads();
  std::sort(threads.begin(), threads.end());
  using thread = std::pair<std::string, std::string>;
  CAF_CHECK_EQUAL(threads, (std::vector<thread>{{"!r:hs", "$root1"}, {"!s:hs", "$root2"}}));
}

CAF_TEST_FIXTURE_SCOPE_END()
