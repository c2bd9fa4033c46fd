// Hermes' runs API: the requests, the event stream as 0.18.x frames it (data: lines
// only, the event name inside, keepalive and "stream closed" comments), the status.
#define CAF_SUITE runs
#include "caf/test/unit_test.hpp"

#include "agent/runs.hpp"

#include <nlohmann/json.hpp>

using namespace hm::agent;

namespace {

// A 0.18.x stream (the bytes of Hermes' _handle_run_events: json.dumps defaults).
constexpr std::string_view approval_run =
  "data: {\"event\": \"tool.started\", \"run_id\": \"run_0123\", \"timestamp\": 1752000001.25, "
  "\"tool\": \"terminal\", \"preview\": \"rm -rf /tmp/build\"}\n\n"
  "data: {\"command\": \"rm -rf /tmp/build\", \"pattern_key\": \"recursive delete\", "
  "\"pattern_keys\": [\"recursive delete\"], \"description\": \"recursive delete\", "
  "\"allow_permanent\": true, \"event\": \"approval.request\", \"run_id\": \"run_0123\", "
  "\"timestamp\": 1752000001.31, \"choices\": [\"once\", \"session\", \"always\", \"deny\"]}\n\n"
  ": keepalive\n\n"
  "data: {\"event\": \"approval.responded\", \"run_id\": \"run_0123\", \"timestamp\": 1752000009.02, "
  "\"choice\": \"once\", \"resolved\": 1}\n\n"
  "data: {\"event\": \"tool.completed\", \"run_id\": \"run_0123\", \"timestamp\": 1752000009.4, "
  "\"tool\": \"terminal\", \"duration\": 8.142, \"error\": false}\n\n"
  "data: {\"event\": \"reasoning.available\", \"run_id\": \"run_0123\", \"timestamp\": 1.0, "
  "\"text\": \"hmm\"}\n\n"
  "data: {\"event\": \"message.delta\", \"run_id\": \"run_0123\", \"timestamp\": 1752000010.0, "
  "\"delta\": \"Removed \\u2705 \"}\n\n"
  "data: {\"event\": \"message.delta\", \"run_id\": \"run_0123\", \"timestamp\": 1752000010.1, "
  "\"delta\": \"the build dir.\"}\n\n"
  "data: {\"event\": \"run.completed\", \"run_id\": \"run_0123\", \"timestamp\": 1752000010.2, "
  "\"output\": \"Removed \\u2705 the build dir.\", \"usage\": {\"input_tokens\": 812, "
  "\"output_tokens\": 31, \"total_tokens\": 843}}\n\n"
  ": stream closed\n\n";

std::vector<run_item> decode_in_pieces(std::string_view bytes, size_t piece) {
  run_stream_decoder d;
  std::vector<run_item> out;
  for (size_t i = 0; i < bytes.size(); i += piece)
    for (auto& item : d.feed(bytes.substr(i, piece)))
      out.push_back(std::move(item));
  return out;
}

} // namespace

CAF_TEST(a run is started with the input and the session and the context and the history) {
  std::vector<chat_message> history{{"user", "hi"}, {"assistant", "hello"}};
  auto req = build_run_request({"http://127.0.0.1:8642/", "sk-1", "matrix-s1", "list /tmp",
                                "You are coder.", history, "hm-run-$ev1:x\r\n"});
  CAF_CHECK_EQUAL(req.method, "POST");
  CAF_CHECK_EQUAL(req.url, "http://127.0.0.1:8642/v1/runs");
  CAF_CHECK_EQUAL(req.header("Authorization"), "Bearer sk-1");
  CAF_CHECK_EQUAL(req.header("Idempotency-Key"), "hm-run-$ev1:x"); // visible ASCII only
  auto body = nlohmann::json::parse(req.body);
  CAF_CHECK_EQUAL(body["input"], "list /tmp");
  CAF_CHECK_EQUAL(body["session_id"], "matrix-s1");
  CAF_CHECK_EQUAL(body["instructions"], "You are coder.");
  CAF_CHECK_EQUAL(body["conversation_history"].size(), 2u);
  CAF_CHECK_EQUAL(body["conversation_history"][1]["content"], "hello");
  CAF_CHECK(!body.contains("model")); // 0.19+ would take it as a model override
  auto plain = build_run_request({"http://h", "", "", "x", "", {}, ""});
  CAF_CHECK(plain.header("Idempotency-Key").empty());
  CAF_CHECK(plain.header("Authorization").empty());
  CAF_CHECK(!nlohmann::json::parse(plain.body).contains("conversation_history"));
}

CAF_TEST(a run with images sends the input as one user message of parts) {
  std::vector<chat_message> history{{"user", "earlier", {"data:image/png;base64,OLD"}}};
  std::vector<std::string> images{"data:image/png;base64,AAAA", "data:image/webp;base64,UklG"};
  auto req = build_run_request({.base_url = "http://h",
                                .session_id = "s1",
                                .input = "what is on these?",
                                .history = history,
                                .images = images});
  CAF_CHECK_EQUAL(req.body,
                  R"({"conversation_history":[{"content":"earlier","role":"user"}],)"
                  R"("input":[{"content":[{"text":"what is on these?","type":"text"},)"
                  R"({"image_url":{"url":"data:image/png;base64,AAAA"},"type":"image_url"},)"
                  R"({"image_url":{"url":"data:image/webp;base64,UklG"},"type":"image_url"}],)"
                  R"("role":"user"}],"session_id":"s1"})");
  // An image without a caption: no text part.
  auto bare = build_run_request({.base_url = "http://h", .images = {images.data(), 1}});
  CAF_CHECK_EQUAL(bare.body, R"({"input":[{"content":[{"image_url":)"
                             R"({"url":"data:image/png;base64,AAAA"},"type":"image_url"}],)"
                             R"("role":"user"}]})");
  // Without images the input stays the plain string.
  auto text = build_run_request({.base_url = "http://h", .input = "hi"});
  CAF_CHECK_EQUAL(text.body, R"({"input":"hi"})");
}

CAF_TEST(the answer to a started run names it) {
  auto started = parse_run_started(202, R"({"run_id": "run_9f4c", "status": "started"})");
  CAF_REQUIRE(started);
  CAF_CHECK_EQUAL(started->run_id, "run_9f4c");
  CAF_CHECK(!started->replayed);
  auto replay = parse_run_started(
    202, R"({"run_id": "run_9f4c", "status": "running", "replayed": true})");
  CAF_REQUIRE(replay);
  CAF_CHECK(replay->replayed);
  CAF_CHECK(!parse_run_started(429, R"({"error": {"message": "Too many concurrent runs"}})"));
  CAF_CHECK(!parse_run_started(202, R"({"status": "started"})"));
  CAF_CHECK(!parse_run_started(202, "not json"));
}

CAF_TEST(run ids are one path segment) {
  auto req = build_run_events_request("http://h/v1", "k", "run_1/../x y");
  CAF_CHECK_EQUAL(req.url, "http://h/v1/runs/run_1%2F%2E%2E%2Fx%20y/events");
  CAF_CHECK_EQUAL(req.header("Accept"), "text/event-stream");
  CAF_CHECK_EQUAL(build_run_status_request("http://h", "", "run_1").url, "http://h/v1/runs/run_1");
  auto answer = build_run_approval_request("http://h", "k", "run_1", approval_choice::session);
  CAF_CHECK_EQUAL(answer.url, "http://h/v1/runs/run_1/approval");
  auto answer_body = nlohmann::json::parse(answer.body);
  CAF_CHECK_EQUAL(answer_body["choice"], "session");
  auto stop = build_run_stop_request("http://h", "k", "run_1");
  CAF_CHECK_EQUAL(stop.method, "POST");
  CAF_CHECK_EQUAL(stop.url, "http://h/v1/runs/run_1/stop");
}

CAF_TEST(the events of a run whatever the chunking) {
  for (size_t piece : {approval_run.size(), size_t{1}, size_t{7}, size_t{64}}) {
    auto items = decode_in_pieces(approval_run, piece);
    CAF_REQUIRE_EQUAL(items.size(), 9u);
    auto& started = std::get<tool_progress>(items[0]);
    CAF_CHECK_EQUAL(started.status, "running");
    CAF_CHECK_EQUAL(started.label, "terminal: rm -rf /tmp/build");
    auto& ask = std::get<approval_request>(items[1]);
    CAF_CHECK_EQUAL(ask.command, "rm -rf /tmp/build");
    CAF_CHECK_EQUAL(ask.description, "recursive delete");
    CAF_CHECK_EQUAL(ask.choices.size(), 4u);
    CAF_CHECK(std::holds_alternative<keepalive>(items[2]));
    CAF_CHECK_EQUAL(std::get<approval_responded>(items[3]).choice, "once");
    CAF_CHECK_EQUAL(std::get<tool_progress>(items[4]).status, "completed");
    // reasoning.available is skipped
    CAF_CHECK_EQUAL(std::get<text_delta>(items[5]).text, "Removed ✅ ");
    CAF_CHECK_EQUAL(std::get<text_delta>(items[6]).text, "the build dir.");
    auto& end = std::get<run_end>(items[7]);
    CAF_CHECK(end.kind == run_end_kind::completed);
    CAF_CHECK_EQUAL(end.output, "Removed ✅ the build dir.");
    CAF_CHECK(std::holds_alternative<keepalive>(items[8])); // ": stream closed"
  }
}

CAF_TEST(always is left out when the server does not allow it) {
  run_stream_decoder d;
  auto items = d.feed("data: {\"event\": \"approval.request\", \"command\": \"x\", "
                      "\"allow_permanent\": false, \"choices\": [\"once\", \"session\", "
                      "\"always\", \"deny\", \"bogus\"]}\n\n");
  CAF_REQUIRE_EQUAL(items.size(), 1u);
  auto& ask = std::get<approval_request>(items[0]);
  CAF_CHECK(ask.choices == (std::vector<approval_choice>{approval_choice::once,
                                                          approval_choice::session,
                                                          approval_choice::deny}));
}

CAF_TEST(failed and cancelled runs and bad frames) {
  run_stream_decoder d;
  auto items = d.feed("data: not json\n\ndata: {\"event\": \"run.failed\", \"error\": \"boom\"}\n\n"
                      "data: {\"event\": \"run.cancelled\"}\n\ndata: {\"event\": \"run.failed\"}\n\n");
  CAF_REQUIRE_EQUAL(items.size(), 4u);
  CAF_CHECK(std::holds_alternative<malformed>(items[0]));
  CAF_CHECK_EQUAL(std::get<run_end>(items[1]).error, "boom");
  CAF_CHECK(std::get<run_end>(items[2]).kind == run_end_kind::cancelled);
  CAF_CHECK_EQUAL(std::get<run_end>(items[3]).error, "agent run failed");
}

CAF_TEST(a run status) {
  auto got = parse_run_status(200, R"({"object": "hermes.run", "run_id": "run_1",
    "status": "completed", "output": "Done.", "usage": {}})");
  CAF_REQUIRE(got);
  auto& st = std::get<run_status>(*got);
  CAF_CHECK(st.terminal());
  CAF_CHECK_EQUAL(st.output, "Done.");
  auto waiting = parse_run_status(200, R"({"status": "waiting_for_approval"})");
  CAF_REQUIRE(waiting);
  CAF_CHECK(!std::get<run_status>(*waiting).terminal());
  auto gone = parse_run_status(404, R"({"error": {"code": "run_not_found"}})");
  CAF_REQUIRE(gone);
  CAF_CHECK(std::holds_alternative<run_not_found>(*gone));
  CAF_CHECK(!parse_run_status(500, ""));
  CAF_CHECK(!parse_run_status(200, "{}"));
}

CAF_TEST(approval choices) {
  CAF_CHECK(parse_approval_choice("Session") == approval_choice::session);
  CAF_CHECK(parse_approval_choice("deny") == approval_choice::deny);
  CAF_CHECK(!parse_approval_choice("maybe"));
}
