#define CAF_SUITE sync

// The sync actor of one profile on CAF's deterministic scheduler: a real store, a
// scripted homeserver in place of the http engine (it answers /filter, /sync and
// /messages as the test queues them and keeps every URL it was asked), and a test cell
// in place of the profile actor that holds each batch until the test commits it.
// What is checked is the actor's part of "answered once" (design: the way of one
// message): the cursor moves only after the cell committed the batch, a rate limit is
// waited out, a lost position starts over as history, a gap is filled in order, and a
// rejected token ends the cell.

#include "actors/cell/sync.hpp"
#include "messages/errors.hpp"
#include "metrics/node_metrics.hpp"
#include "store/profile_store.hpp"

#include "caf/test/dsl.hpp"

#include <caf/all.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cell_fixture.hpp" // after the CAF test headers: it uses CAF_FAIL

using namespace std::chrono_literals;
using namespace hm;
using namespace hm::test;
using json = nlohmann::json;

namespace {

/// What the scripted homeserver was asked and what it answers next.
struct homeserver_script {
  std::vector<std::string> urls;      ///< every call's URL, in order
  std::deque<http_result> syncs;      ///< answers to /sync, in order
  std::deque<http_result> messages;   ///< answers to /messages, in order

  /// The /sync calls made so far.
  std::vector<std::string> sync_urls() const {
    std::vector<std::string> out;
    for (auto& u : urls)
      if (u.find("/sync") != std::string::npos)
        out.push_back(u);
    return out;
  }
};

json message(const std::string& event_id, const std::string& body) {
  return {{"type", "m.room.message"}, {"sender", "@doru:hs.test"}, {"event_id", event_id},
          {"origin_server_ts", 1}, {"content", {{"msgtype", "m.text"}, {"body", body}}}};
}

/// A /sync answer with `events` in the timeline of !room:hs.test.
http_result sync_answer(const std::string& next_batch, json events, bool limited = false,
                        const std::string& prev_batch = "") {
  json timeline{{"events", std::move(events)}, {"limited", limited}};
  if (!prev_batch.empty())
    timeline["prev_batch"] = prev_batch;
  return http_ok({{"next_batch", next_batch},
             {"rooms", {{"join", {{"!room:hs.test", {{"timeline", timeline}}}}}}}});
}

http_engine_actor::behavior_type scripted_engine(std::shared_ptr<homeserver_script> hs) {
  return scripted_http([hs](http_call& call) {
    hs->urls.push_back(call.url);
    http_result res;
    auto next = [&res](std::deque<http_result>& answers) {
      res = answers.front();
      answers.pop_front();
    };
    if (call.url.find("/filter") != std::string::npos)
      res = http_ok({{"filter_id", "f1"}});
    else if (call.url.find("/sync") != std::string::npos && !hs->syncs.empty())
      next(hs->syncs);
    else if (call.url.find("/messages") != std::string::npos && !hs->messages.empty())
      next(hs->messages);
    else
      res.error = "nothing scripted"; // a network error: the actor backs off
    return res;
  });
}

using ack_atom = caf::atom_constant<caf::atom("ack")>;

/// The profile actor's part: batches wait here until the test commits them (with
/// their cursor, as the real cell does in one transaction) and acknowledges them.
struct cell_side {
  struct held {
    sync_batch batch;
    caf::response_promise promise;
  };
  std::deque<held> batches;
  caf::error exit_reason;
  bool exited = false;
};

caf::behavior test_cell(caf::event_based_actor* self, std::shared_ptr<cell_side> side,
                        http_engine_actor engine, std::shared_ptr<profile_store> store,
                        std::shared_ptr<spdlog::logger> log,
                        std::shared_ptr<metrics::profile_metrics> metrics) {
  self->set_exit_handler([self, side](caf::exit_msg& m) {
    side->exited = true;
    side->exit_reason = m.reason;
    self->quit(m.reason);
  });
  homeserver_link link{engine, "http://hs.test", secret{"syt_token"}, ""};
  // Linked to this cell, as in the real one: the sync actor's end is the cell's.
  auto sync = spawn_sync(self, cell_context{link, store, "@bot:hs.test", log, metrics,
                                            caf::actor_cast<profile_cell_actor>(self)});
  static_cast<void>(sync);
  return {
    [self, side](sync_batch& batch) {
      side->batches.push_back({std::move(batch), self->make_response_promise()});
    },
    // The test committed the oldest batch: acknowledge it (from inside the actor, where a
    // response promise is delivered).
    [side](ack_atom) {
      auto held = std::move(side->batches.front());
      side->batches.pop_front();
      held.promise.deliver(atom::ok_v);
    },
  };
}

struct fixture : test::cell_fixture {
  std::shared_ptr<homeserver_script> hs = std::make_shared<homeserver_script>();
  std::shared_ptr<cell_side> side = std::make_shared<cell_side>();
  caf::actor cell;

  fixture() : cell_fixture("hm-sync-test") {}

  ~fixture() override {
    if (cell && !side->exited) {
      caf::anon_send_exit(cell, caf::exit_reason::user_shutdown);
      settle();
    }
  }

  void start() {
    auto engine = sys.spawn(scripted_engine, hs);
    cell = sys.spawn(test_cell, side, engine, store, log, metrics);
    settle();
  }


  /// Commits the oldest held batch's cursor, as the cell does with its journal, and
  /// acknowledges it.
  void commit_batch() {
    CAF_REQUIRE(!side->batches.empty());
    CAF_REQUIRE(store->admit({}, side->batches.front().batch.response->next_batch));
    caf::anon_send(cell, ack_atom::value);
    settle();
  }

  std::vector<std::string> bodies_of(const sync_batch& b) const {
    std::vector<std::string> out;
    for (auto& [room, joined] : b.response->join)
      for (auto& ev : joined.timeline.events)
        out.push_back(ev.content().value("body", ""));
    return out;
  }
};

bool has(const std::string& url, const std::string& part) {
  return url.find(part) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(sync_tests, fixture)

CAF_TEST(the cursor moves only after the cell committed the batch) {
  hs->syncs.push_back(sync_answer("s1", json::array({message("$old", "history")})));
  hs->syncs.push_back(sync_answer("s2", json::array({message("$new", "hello")})));
  start();
  // First a filter, then a sync without a cursor: history, flagged initial.
  CAF_REQUIRE_EQUAL(hs->sync_urls().size(), 1u);
  CAF_CHECK(has(hs->urls.front(), "/filter"));
  CAF_CHECK(!has(hs->sync_urls()[0], "since="));
  CAF_REQUIRE_EQUAL(side->batches.size(), 1u);
  CAF_CHECK(side->batches.front().batch.initial);
  // Held by the cell: no further sync, however long.
  pass(10s);
  CAF_CHECK_EQUAL(hs->sync_urls().size(), 1u);
  commit_batch();
  CAF_REQUIRE_EQUAL(hs->sync_urls().size(), 2u);
  CAF_CHECK(has(hs->sync_urls()[1], "since=s1"));
  CAF_REQUIRE_EQUAL(side->batches.size(), 1u);
  CAF_CHECK(!side->batches.front().batch.initial);
  CAF_CHECK_EQUAL(bodies_of(side->batches.front().batch), std::vector<std::string>{"hello"});
}

CAF_TEST(a restarted actor syncs from the committed cursor with its stored filter) {
  CAF_REQUIRE(store->put("filter_id", "f-stored"));
  CAF_REQUIRE(store->admit({}, "s7"));
  hs->syncs.push_back(sync_answer("s8", json::array({message("$m", "after restart")})));
  start();
  CAF_CHECK(!has(hs->urls.front(), "/filter"));
  CAF_REQUIRE_EQUAL(hs->sync_urls().size(), 1u);
  CAF_CHECK(has(hs->sync_urls()[0], "since=s7"));
  CAF_CHECK(has(hs->sync_urls()[0], "filter=f-stored"));
  CAF_REQUIRE_EQUAL(side->batches.size(), 1u);
  CAF_CHECK(!side->batches.front().batch.initial);
}

CAF_TEST(a rate limit is waited out as long as the server says) {
  CAF_REQUIRE(store->put("filter_id", "f1"));
  CAF_REQUIRE(store->admit({}, "s1"));
  hs->syncs.push_back(http_error(429, "M_LIMIT_EXCEEDED", {{"retry_after_ms", 5000}}));
  hs->syncs.push_back(sync_answer("s2", json::array({message("$m", "after the wait")})));
  start();
  CAF_REQUIRE_EQUAL(hs->sync_urls().size(), 1u);
  pass(4800ms);
  CAF_CHECK_EQUAL(hs->sync_urls().size(), 1u);
  pass(400ms);
  CAF_REQUIRE_EQUAL(hs->sync_urls().size(), 2u);
  CAF_CHECK(has(hs->sync_urls()[1], "since=s1"));
  CAF_CHECK_EQUAL(side->batches.size(), 1u);
}

CAF_TEST(a lost sync position starts over as history without replaying) {
  CAF_REQUIRE(store->put("filter_id", "f1"));
  CAF_REQUIRE(store->admit({}, "s-gone"));
  hs->syncs.push_back(http_error(400, "M_UNKNOWN_POS"));
  hs->syncs.push_back(sync_answer("s-fresh", json::array({message("$m", "old news")})));
  start();
  auto urls = hs->sync_urls();
  CAF_REQUIRE_EQUAL(urls.size(), 2u);
  CAF_CHECK(has(urls[0], "since=s-gone"));
  CAF_CHECK(!has(urls[1], "since="));
  CAF_REQUIRE_EQUAL(side->batches.size(), 1u);
  CAF_CHECK(side->batches.front().batch.initial); // history: nothing in it is answered
}

CAF_TEST(a limited timeline is filled from messages in order before the batch goes out) {
  CAF_REQUIRE(store->put("filter_id", "f1"));
  CAF_REQUIRE(store->admit({}, "s1"));
  hs->syncs.push_back(
    sync_answer("s2", json::array({message("$4", "four")}), true, "p-before-4"));
  // /messages backwards from prev_batch: newest first, two pages.
  hs->messages.push_back(
    http_ok({{"chunk", json::array({message("$3", "three"), message("$2", "two")})},
        {"end", "p-before-2"}}));
  hs->messages.push_back(http_ok({{"chunk", json::array({message("$1", "one")})}}));
  start();
  CAF_REQUIRE_EQUAL(side->batches.size(), 1u);
  CAF_CHECK_EQUAL(bodies_of(side->batches.front().batch),
                  (std::vector<std::string>{"one", "two", "three", "four"}));
  std::vector<std::string> pages;
  for (auto& u : hs->urls)
    if (has(u, "/messages"))
      pages.push_back(u);
  CAF_REQUIRE_EQUAL(pages.size(), 2u);
  CAF_CHECK(has(pages[0], "from=p-before-4"));
  CAF_CHECK(has(pages[0], "to=s1"));
  CAF_CHECK(has(pages[1], "from=p-before-2"));
}

CAF_TEST(a gap that cannot be filled admits nothing and syncs again from the same cursor) {
  CAF_REQUIRE(store->put("filter_id", "f1"));
  CAF_REQUIRE(store->admit({}, "s1"));
  hs->syncs.push_back(
    sync_answer("s2", json::array({message("$4", "four")}), true, "p-before-4"));
  hs->messages.push_back(http_error(500, "M_UNKNOWN"));
  hs->syncs.push_back(sync_answer("s2", json::array({message("$4", "four")})));
  start();
  CAF_CHECK(side->batches.empty());
  pass(61s); // the backoff's longest wait
  auto urls = hs->sync_urls();
  CAF_REQUIRE_EQUAL(urls.size(), 2u);
  CAF_CHECK(has(urls[1], "since=s1"));
  CAF_CHECK_EQUAL(side->batches.size(), 1u);
}

CAF_TEST(a rejected token ends the cell with unauthorized) {
  CAF_REQUIRE(store->put("filter_id", "f1"));
  CAF_REQUIRE(store->admit({}, "s1"));
  hs->syncs.push_back(http_error(401, "M_UNKNOWN_TOKEN"));
  start();
  CAF_REQUIRE(side->exited);
  CAF_CHECK_EQUAL(side->exit_reason.category(), error_category);
  CAF_CHECK_EQUAL(side->exit_reason.code(), static_cast<uint8_t>(errc::unauthorized));
  CAF_CHECK(side->batches.empty());
  // The token never appears in what the actor logged.
  CAF_CHECK(!logged("syt_token"));
}

CAF_TEST_FIXTURE_SCOPE_END()
