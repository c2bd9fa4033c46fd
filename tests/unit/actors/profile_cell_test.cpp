#define CAF_SUITE profile_cell

// The profile actor on CAF's deterministic scheduler, with its real children (outbox,
// sync, agent sessions) and its real store, and a scripted homeserver and agent backend
// in place of the http engine. The test hands sync batches to the cell as its sync
// actor would, and checks the cell's promises: a message is in the journal before its
// batch is acknowledged; it is answered once, also when the batch comes again or the
// cell stops and starts before the answer; who may not talk to the bot gets no answer.

#include "actors/cell/profile_cell.hpp"
#include "matrix/sync.hpp"
#include "matrix/txn_id.hpp"
#include "store/profile_store.hpp"

#include "caf/test/dsl.hpp"

#include <caf/all.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cell_fixture.hpp" // after the CAF test headers: it uses CAF_FAIL
#include "room_double.hpp"

using namespace std::chrono_literals;
using namespace hm;
using namespace hm::test;

namespace {

constexpr const char* room_id = "!dm:hs.test";

/// The homeserver and the agent backend: the room's timeline, the agent calls made,
/// and the stream of the last one.
struct world {
  room_timeline room;
  std::vector<std::string> agent_calls; ///< the request bodies
  std::vector<std::string> urls;
};

http_engine_actor::behavior_type scripted_engine(std::shared_ptr<world> w) {
  return scripted_http(
    [w](http_call& call) {
      w->urls.push_back(call.url);
      if (call.url.find("/account/whoami") != std::string::npos)
        return http_ok({{"user_id", "@bot:hs.test"}, {"device_id", "BOTDEV"}});
      if (call.url.find("/displayname") != std::string::npos)
        return http_ok({{"displayname", "Coder"}});
      if (call.url.find("/joined_members") != std::string::npos) // a DM: the bot and doru
        return http_ok({{"joined", {{"@bot:hs.test", nlohmann::json::object()},
                                    {"@doru:hs.test", nlohmann::json::object()}}}});
      if (call.url.find("/filter") != std::string::npos)
        return http_ok({{"filter_id", "f1"}});
      if (call.url.find("/sync") != std::string::npos) {
        http_result none;
        none.error = "nothing scripted"; // the test hands batches to the cell itself
        return none;
      }
      return answer_send(w->room, call); // sends, reactions, typing
    },
    [w](http_call& call, http_stream_sink_actor& sink) {
      w->agent_calls.push_back(call.body);
      w->room.stream_id = call.id;
      w->room.sink = sink;
    });
}

/// Stands in for the supervisor: counts the cells that said they run.
caf::behavior supervisor_double(caf::event_based_actor* self, std::shared_ptr<int> ready) {
  self->set_default_handler(caf::drop);
  return {
    [ready](const cell_ready&) { ++*ready; },
  };
}

/// A /sync answer with `events` in the timeline of the DM room (two members).
std::shared_ptr<const matrix::sync_response> batch_of(const std::string& next_batch,
                                                      nlohmann::json events) {
  nlohmann::json body{
    {"next_batch", next_batch},
    {"rooms",
     {{"join",
       {{room_id,
         {{"summary", {{"m.joined_member_count", 2}}},
          {"timeline", {{"events", std::move(events)}, {"limited", false}}}}}}}}}};
  auto parsed = matrix::parse_sync(body);
  if (!parsed)
    CAF_FAIL("unparsable test batch");
  return std::make_shared<const matrix::sync_response>(std::move(parsed).value());
}

nlohmann::json message(const std::string& event_id, const std::string& sender,
                       const std::string& body) {
  return {{"type", "m.room.message"}, {"sender", sender}, {"event_id", event_id},
          {"origin_server_ts", 1}, {"content", {{"msgtype", "m.text"}, {"body", body}}}};
}

struct fixture : cell_fixture {
  std::shared_ptr<world> w = std::make_shared<world>();
  std::shared_ptr<int> ready = std::make_shared<int>(0);
  http_engine_actor engine;
  supervisor_actor supervisor;
  profiles::profile_config config;
  profile_cell_actor cell;

  fixture() : cell_fixture("hm-profile-cell-test") {
    store.reset(); // the cell opens the profile's store itself (and locks it)
    static int profiles = 0;
    // The profile logger is kept per profile name for the process: one per test.
    config.name = "cell" + std::to_string(++profiles);
    config.dir = dir;
    config.env_file = dir / ".env";
    config.homeserver = "http://hs.test";
    config.access_token = secret{"syt_token"};
    config.allowed_users = {"@doru:hs.test"};
    config.agent_url = "http://agent.test";
    config.agent_key = secret{"agent-key"};
    config.agent_model = "coder";
    config.send_history = false;
    engine = sys.spawn(scripted_engine, w);
    supervisor = caf::actor_cast<supervisor_actor>(sys.spawn(supervisor_double, ready));
    start_cell();
  }

  ~fixture() override {
    stop_cell();
  }

  void start_cell() {
    cell = spawn_profile_cell(sys, supervisor, config, engine, metrics);
    settle();
  }

  void stop_cell() {
    if (!cell)
      return;
    caf::anon_send_exit(cell, caf::exit_reason::user_shutdown);
    settle();
    cell = nullptr;
  }

  /// Hands a batch to the cell as the sync actor does (`initial`: the first sync of
  /// the profile, history); whether the cell acknowledged it.
  bool hand(std::shared_ptr<const matrix::sync_response> response, bool initial = false) {
    auto acked = std::make_shared<bool>(false);
    // What the client needs goes in as spawn arguments: CAF 0.17 binds a null pointer
    // to a reference when a spawned function has none (UBSan reports it).
    sys.spawn(
      [](caf::event_based_actor* client, profile_cell_actor to, sync_batch batch,
         std::shared_ptr<bool> done) {
        client->request(to, caf::infinite, std::move(batch)).then([done](atom::ok) {
          *done = true;
        });
      },
      cell, sync_batch{std::move(response), initial}, acked);
    settle();
    return *acked;
  }

  void agent_answers(const std::string& text) {
    caf::anon_send(w->room.sink, http_chunk{w->room.stream_id, sse_text(text)});
    caf::anon_send(w->room.sink, http_chunk{w->room.stream_id, sse_end});
    http_result done;
    done.id = w->room.stream_id;
    done.status = 200;
    caf::anon_send(w->room.sink, std::move(done));
    pass(3s);
  }

  /// What the cell answers a media delivery asking after the upload of `txn`.
  std::string upload_of(const std::string& txn) {
    auto answer = std::make_shared<std::string>("(no answer)");
    sys.spawn(
      [](caf::event_based_actor* client, profile_cell_actor to, std::string t,
         std::shared_ptr<std::string> out) {
        client->request(to, caf::infinite, atom::uploaded_v, std::move(t))
          .then([out](const std::string& known) { *out = known; });
      },
      cell, txn, answer);
    settle();
    return *answer;
  }

  /// Keeps (or, with "", forgets) an upload's record as a media delivery does.
  bool keep_upload(const std::string& txn, const std::string& record) {
    auto done = std::make_shared<bool>(false);
    sys.spawn(
      [](caf::event_based_actor* client, profile_cell_actor to, std::string t, std::string r,
         std::shared_ptr<bool> out) {
        client->request(to, caf::infinite, atom::uploaded_v, std::move(t), std::move(r))
          .then([out](atom::ok) { *out = true; });
      },
      cell, txn, record, done);
    settle();
    return *done;
  }

  /// The journal as the store holds it (the cell stopped: the store is unlocked).
  std::vector<journal_entry> pending_after_stop() {
    stop_cell();
    auto reopened = open_ok(path);
    return reopened->pending_journal();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(profile_cell_tests, fixture)

CAF_TEST(the cell reports ready once it knows who it is) {
  CAF_CHECK_EQUAL(*ready, 1);
  CAF_CHECK_EQUAL(w->urls.front(), "http://hs.test/_matrix/client/v3/account/whoami");
}

CAF_TEST(a message is journaled with its batch and answered once when the batch comes again) {
  auto batch = batch_of("s2", nlohmann::json::array({message("$m1", "@doru:hs.test", "hello")}));
  CAF_REQUIRE(hand(batch));
  CAF_REQUIRE_EQUAL(w->agent_calls.size(), 1u);
  CAF_CHECK(w->agent_calls[0].find("hello") != std::string::npos);
  agent_answers("hi doru");
  CAF_CHECK_EQUAL(w->room.shown_reply(), "hi doru");
  CAF_CHECK_GREATER_OR_EQUAL(w->room.index_of_reaction("✅"), 0);
  // The same batch again (the cursor was not committed before a crash, say).
  auto puts = w->room.events.size();
  CAF_REQUIRE(hand(batch));
  pass(3s);
  CAF_CHECK_EQUAL(w->agent_calls.size(), 1u);
  CAF_CHECK_EQUAL(w->room.events.size(), puts);
  CAF_CHECK(pending_after_stop().empty());
}

CAF_TEST(a message admitted before a stop is answered after the restart) {
  CAF_REQUIRE(hand(batch_of("s2", nlohmann::json::array(
                                    {message("$m1", "@doru:hs.test", "before the stop")}))));
  CAF_REQUIRE_EQUAL(w->agent_calls.size(), 1u);
  // The cell stops while the agent is still answering: the entry stays pending.
  auto pending = pending_after_stop();
  CAF_REQUIRE_EQUAL(pending.size(), 1u);
  CAF_CHECK_EQUAL(pending[0].event_id, "$m1");
  start_cell();
  CAF_CHECK_EQUAL(*ready, 2);
  CAF_REQUIRE_EQUAL(w->agent_calls.size(), 2u);
  CAF_CHECK(w->agent_calls[1].find("before the stop") != std::string::npos);
  agent_answers("answered after all");
  CAF_CHECK_GREATER_OR_EQUAL(w->room.index_of_text("answered after all"), 0);
  CAF_CHECK(pending_after_stop().empty());
}

CAF_TEST(someone who may not talk to the bot gets no answer and the entry is finished) {
  CAF_REQUIRE(hand(batch_of("s2", nlohmann::json::array(
                                    {message("$m1", "@eve:hs.test", "let me in")}))));
  pass(3s);
  CAF_CHECK(w->agent_calls.empty());
  CAF_CHECK(w->room.events.empty());
  CAF_CHECK(pending_after_stop().empty());
}

CAF_TEST(the own messages of the bot and the first sync are never answered) {
  CAF_REQUIRE(hand(batch_of("s2", nlohmann::json::array(
                                    {message("$m1", "@bot:hs.test", "mine")}))));
  CAF_REQUIRE(hand(batch_of("s3", nlohmann::json::array(
                                    {message("$m2", "@doru:hs.test", "old")})),
                   true));
  pass(3s);
  CAF_CHECK(w->agent_calls.empty());
  CAF_CHECK(pending_after_stop().empty());
}

CAF_TEST(an upload record lasts until its message is queued and a queued one is known) {
  // Media out (media_delivery.hpp): a delivery redone after a crash asks first.
  CAF_CHECK_EQUAL(upload_of("hm.media.1"), "");
  const std::string record = R"({"sha256":"ab","content":{"msgtype":"m.image"}})";
  CAF_REQUIRE(keep_upload("hm.media.1", record));
  CAF_CHECK_EQUAL(upload_of("hm.media.1"), record);
  stop_cell(); // durable: a crash does not lose it
  start_cell();
  CAF_CHECK_EQUAL(upload_of("hm.media.1"), record);
  CAF_REQUIRE(keep_upload("hm.media.1", ""));
  CAF_CHECK_EQUAL(upload_of("hm.media.1"), "");
  // A message in the outbox (the reply of an answered message) is "queued".
  CAF_REQUIRE(hand(batch_of("s2", nlohmann::json::array({message("$m1", "@doru:hs.test", "hi")}))));
  agent_answers("hello");
  CAF_CHECK_EQUAL(upload_of(matrix::reply_txn_id("$m1")), "queued");
}

CAF_TEST_FIXTURE_SCOPE_END()
