#define CAF_SUITE capabilities
#include "caf/test/unit_test.hpp"

#include "agent/capabilities.hpp"

using namespace hm::agent;

namespace {

// The shape of Hermes' answer (gateway/platforms/api_server.py, _handle_capabilities).
constexpr std::string_view hermes_answer = R"({
  "object": "hermes.api_server.capabilities", "platform": "hermes-agent", "model": "hermes-agent",
  "auth": {"type": "bearer", "required": true},
  "features": {"chat_completions": true, "chat_completions_streaming": true,
               "run_submission": true, "run_status": true, "run_events_sse": true,
               "run_stop": true, "run_approval_response": true, "tool_progress_events": true,
               "approval_events": true, "session_continuity_header": "X-Hermes-Session-Id"}})";

} // namespace

CAF_TEST(the request goes to the v1 capabilities path with the key) {
  auto req = build_capabilities_request("http://127.0.0.1:8642/", "sk-1\r\nX: y");
  CAF_CHECK_EQUAL(req.method, "GET");
  CAF_CHECK_EQUAL(req.url, "http://127.0.0.1:8642/v1/capabilities");
  CAF_CHECK_EQUAL(req.header("Authorization"), "Bearer sk-1X: y");
  CAF_CHECK_EQUAL(build_capabilities_request("http://h/v1", "").url, "http://h/v1/capabilities");
  CAF_CHECK(build_capabilities_request("http://h", "").header("Authorization").empty());
}

CAF_TEST(a Hermes server keeps sessions and offers runs) {
  auto caps = parse_capabilities(200, hermes_answer);
  CAF_REQUIRE(caps);
  CAF_CHECK(caps->keeps_sessions);
  CAF_CHECK(caps->runs);
  CAF_CHECK(caps->approvals);
  CAF_CHECK(caps->stop);
  CAF_CHECK(!caps->idempotent_runs); // 0.18.x has none on runs
}

CAF_TEST(newer servers take an idempotency key on runs) {
  auto newer = std::string{hermes_answer};
  newer.replace(newer.find("\"run_status\""), 0,
                R"("runs_idempotency": {"supported": true, "durable": true, "retention_seconds": 86400}, )");
  auto caps = parse_capabilities(200, newer);
  CAF_REQUIRE(caps);
  CAF_CHECK(caps->idempotent_runs);
}

CAF_TEST(a server without the endpoint is a plain backend) {
  CAF_CHECK_EQUAL(parse_capabilities(404, R"({"detail":"Not Found"})"), backend_capabilities{});
  CAF_CHECK_EQUAL(parse_capabilities(405, ""), backend_capabilities{});
  CAF_CHECK_EQUAL(parse_capabilities(200, "<html>catch-all</html>"), backend_capabilities{});
  CAF_CHECK_EQUAL(parse_capabilities(200, R"({"features": {"run_submission": "yes"}})"),
                  backend_capabilities{});
}

CAF_TEST(nothing is learned from no answer or an error or a wrong key) {
  for (int status : {0, 401, 403, 429, 500, 502, 503})
    CAF_CHECK(!parse_capabilities(status, "{}"));
}
