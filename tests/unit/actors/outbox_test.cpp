#define CAF_SUITE outbox

// A turn's sends under rate limits, on CAF's deterministic scheduler: an agent session
// and the outbox of one profile, a real store, and a scripted homeserver in place of
// the http engine that answers each PUT as the test says (taken, 429, refused) and
// keeps what it took, in order, as the room's timeline. Issue 13: a reply's final
// text was lost when its last streaming edit met a 429, and the ✅ went out anyway.

#include "actors/cell/agent_session.hpp"
#include "actors/cell/outbox.hpp"
#include "store/profile_store.hpp"
#include "metrics/node_metrics.hpp"

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
#include "room_double.hpp"

using namespace std::chrono_literals;
using namespace hm;
using namespace hm::test;
using json = nlohmann::json;

namespace {

/// The http engine as the scripted homeserver and agent backend.
http_engine_actor::behavior_type scripted_engine(std::shared_ptr<room_timeline> room) {
  return scripted_http([room](http_call& call) { return answer_send(*room, call); },
                       [room](http_call& call, http_stream_sink_actor& sink) {
                         room->stream_id = call.id;
                         room->sink = sink;
                       });
}

/// The profile cell's part here: spawns the outbox and one session, and keeps what
/// the session reports.
struct cell_parts {
  outbox_actor outbox;
  agent_session_actor session;
  std::vector<std::string> outcomes;
};

caf::behavior test_cell(caf::event_based_actor* self, std::shared_ptr<cell_parts> parts,
                        http_engine_actor engine, std::shared_ptr<profile_store> store,
                        std::shared_ptr<spdlog::logger> log,
                        std::shared_ptr<metrics::profile_metrics> metrics) {
  homeserver_link link{engine, "http://hs.test", secret{"syt_token"}, ""};
  cell_context ctx{link, store, "@bot:hs.test", log, metrics,
                   caf::actor_cast<profile_cell_actor>(self)};
  parts->outbox = spawn_outbox(self, ctx);
  agent_session_config cfg;
  cfg.profile = "coder";
  cfg.session_id = "matrix-coder-test";
  cfg.agent_url = "http://agent.test";
  cfg.agent_key = secret{"agent-key"};
  cfg.model = "coder";
  cfg.send_history = false;
  cfg.own_user_id = "@bot:hs.test";
  parts->session = spawn_agent_session(self, ctx, cfg, parts->outbox);
  return {
    [parts](turn_done& done) { parts->outcomes.push_back(to_string(done.outcome)); },
  };
}

struct fixture : test::cell_fixture {
  std::shared_ptr<room_timeline> room = std::make_shared<room_timeline>();
  std::shared_ptr<cell_parts> parts = std::make_shared<cell_parts>();
  caf::actor cell;

  fixture() : cell_fixture("hm-outbox-test") {
    auto engine = sys.spawn(scripted_engine, room);
    cell = sys.spawn(test_cell, parts, engine, store, log, metrics);
    settle();
  }

  ~fixture() override {
    caf::anon_send_exit(cell, caf::exit_reason::user_shutdown);
    settle();
  }


  void ask(const std::string& text) {
    agent_turn turn{"$m0", "!room:hs.test", "@doru:hs.test", text, "", "$m0", true, 0};
    caf::anon_send(parts->session, std::move(turn));
    settle();
  }

  void stream(const std::string& bytes) {
    caf::anon_send(room->sink, http_chunk{room->stream_id, bytes});
    settle();
  }

  void stream_ends() {
    stream(sse_end);
    http_result done;
    done.id = room->stream_id;
    done.status = 200;
    caf::anon_send(room->sink, std::move(done));
    settle();
  }

};

} // namespace

CAF_TEST_FIXTURE_SCOPE(outbox_tests, fixture)

CAF_TEST(a final text whose last streaming edit met a 429 still lands and the check mark follows it) {
  ask("storm message 0");
  stream(sse_text("echo: storm"));
  pass(500ms); // the first text goes out as the reply
  CAF_REQUIRE_EQUAL(room->shown_reply(), "echo: storm");
  room->answers = {429}; // the rate limit hits the next send: the streaming edit
  stream(sse_text(" message 0"));
  pass(500ms);
  CAF_CHECK_EQUAL(room->refused_puts, 1);
  CAF_CHECK(logged("a streaming edit of"));
  CAF_CHECK(logged("not taken (M_LIMIT_EXCEEDED"));
  stream_ends(); // the whole text was handed out already, by the edit the 429 refused
  pass(5s);
  CAF_CHECK_EQUAL(room->shown_reply(), "echo: storm message 0");
  auto done = room->index_of_reaction("✅");
  CAF_REQUIRE_GREATER_OR_EQUAL(done, 0);
  CAF_CHECK_GREATER(done, room->index_of_text("echo: storm message 0"));
  CAF_CHECK_EQUAL(parts->outcomes, std::vector<std::string>{"answered"});
  CAF_CHECK_EQUAL(store->pending_outbox_count(), 0u);
}

CAF_TEST(under 429s the reply takes the place of a working mark not yet sent) {
  room->answers = {429, 429, 429};
  ask("storm message 1");
  stream(sse_text("echo: storm message 1"));
  stream_ends(); // before the first tick: the reply is one message, no edit
  pass(1s);
  CAF_CHECK_EQUAL(room->events.size(), 0u); // the 👀 met the rate limit
  CAF_CHECK(logged("retrying in 2000 ms"));
  // The wait is over: the reply goes in the 👀's place, which is never sent.
  pass(1100ms);
  CAF_CHECK_EQUAL(room->refused_puts, 2);
  CAF_CHECK(logged("skipping m.reaction"));
  pass(10s);
  CAF_CHECK_EQUAL(room->shown_reply(), "echo: storm message 1");
  CAF_CHECK_EQUAL(room->edits(), 0u);
  auto reply = room->index_of_text("echo: storm message 1");
  auto done = room->index_of_reaction("✅");
  CAF_CHECK_EQUAL(room->index_of_reaction("👀"), -1);
  CAF_CHECK_EQUAL(reply, 0);
  CAF_CHECK_GREATER(done, reply);
  CAF_CHECK_EQUAL(store->pending_outbox_count(), 0u);
}

CAF_TEST(a working mark the homeserver takes before the reply is ready stays) {
  ask("slow thought");
  pass(500ms);
  CAF_REQUIRE_EQUAL(room->index_of_reaction("👀"), 0);
  stream(sse_text("echo: slow thought"));
  stream_ends();
  pass(5s);
  CAF_CHECK_EQUAL(room->index_of_text("echo: slow thought"), 1);
  CAF_CHECK_EQUAL(room->index_of_reaction("✅"), 2);
  CAF_CHECK(!logged("skipping"));
}

CAF_TEST(a reply the homeserver refuses gets no check mark and the log says why) {
  ask("forbidden"); // 👀 is taken
  stream(sse_text("echo: forb"));
  room->answers = {403}; // the reply is refused for good
  pass(500ms);
  stream(sse_text("idden"));
  stream_ends();
  pass(5s);
  CAF_CHECK_EQUAL(room->events.size(), 1u); // 👀 only
  CAF_CHECK_EQUAL(room->index_of_reaction("✅"), -1);
  CAF_CHECK(logged("the homeserver refused m.room.message"));
  // The final edit and the ✅ are given up with what they depended on.
  CAF_CHECK(logged("it edits"));
  CAF_CHECK(logged("not sending m.reaction"));
  CAF_CHECK(logged("was refused (M_FORBIDDEN"));
  CAF_CHECK_EQUAL(store->pending_outbox_count(), 0u);
}

CAF_TEST(a final edit the room already shows is not sent again) {
  ask("edited once");
  stream(sse_text("echo: edited"));
  pass(500ms);
  stream(sse_text(" once"));
  pass(1500ms); // the streaming edit with the whole text is taken
  CAF_REQUIRE_EQUAL(room->shown_reply(), "echo: edited once");
  stream_ends();
  pass(5s);
  CAF_CHECK_EQUAL(room->edits(), 1u);
  CAF_CHECK_GREATER(room->index_of_reaction("✅"), room->index_of_text("echo: edited once"));
  CAF_CHECK_EQUAL(store->pending_outbox_count(), 0u);
}

CAF_TEST(the parts of a long reply and its check mark go in order under 429s) {
  room->answers = {0, 429, 0, 429};
  ask("long");
  std::string text(40000, 'a');
  text += "\n\nthe end";
  stream(sse_text(text));
  stream_ends(); // 40 kB: split into parts (16,000 characters each)
  pass(20s);
  auto done = room->index_of_reaction("✅");
  CAF_REQUIRE_GREATER_OR_EQUAL(done, 0);
  size_t parts_seen = 0;
  for (int i = 0; i < done; ++i)
    parts_seen += room->events[static_cast<size_t>(i)].type == "m.room.message" ? 1 : 0;
  CAF_CHECK_EQUAL(parts_seen, 3u);
  CAF_CHECK_EQUAL(static_cast<size_t>(done), room->events.size() - 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
