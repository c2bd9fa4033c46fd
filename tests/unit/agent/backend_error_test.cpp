#define CAF_SUITE backend_error
#include "caf/test/unit_test.hpp"

#include "agent/backend_error.hpp"

using namespace hm::agent;

CAF_TEST(401 invalid_api_key) {
  const auto e = describe_backend_error(
    401,
    R"({"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}})",
    "sk-sent");
  CAF_CHECK_EQUAL(e.status, 401);
  CAF_CHECK_EQUAL(e.code, "invalid_api_key");
  CAF_CHECK_EQUAL(e.message, "the agent backend refused the API key (GATEWAY_PROXY_KEY)");
  CAF_CHECK(!e.retryable);
}

CAF_TEST(401 without a key asks for one) {
  CAF_CHECK_EQUAL(describe_backend_error(401, R"({"error":{"code":"invalid_api_key"}})").message,
                  "the agent backend wants an API key (set GATEWAY_PROXY_KEY)");
}

CAF_TEST(the key never appears even when the server echoes it) {
  const auto e = describe_backend_error(400, R"({"error":{"message":"bad key sk-secret-1"}})",
                                        "sk-secret-1");
  CAF_CHECK_EQUAL(e.message, "the agent backend answered HTTP 400: bad key [redacted]");
  const auto p = describe_backend_error(500, "oops sk-secret-1 oops", "sk-secret-1");
  CAF_CHECK_EQUAL(p.message, "the agent backend failed (HTTP 500): oops [redacted] oops");
}

CAF_TEST(other shapes) {
  CAF_CHECK_EQUAL(describe_backend_error(500, "Internal Server Error\nTraceback ...").message,
                  "the agent backend failed (HTTP 500): Internal Server Error");
  CAF_CHECK_EQUAL(describe_backend_error(503, R"({"detail":"warming up"})").message,
                  "the agent backend is unavailable (HTTP 503): warming up");
  CAF_CHECK_EQUAL(describe_backend_error(502, "<html><body>Bad Gateway</body></html>").message,
                  "the agent backend failed (HTTP 502)");
  CAF_CHECK_EQUAL(describe_backend_error(404, "").message,
                  "the agent backend has no chat completions endpoint there (check "
                  "GATEWAY_PROXY_URL)");
  CAF_CHECK_EQUAL(describe_backend_error(429, R"({"error":"slow down"})").message,
                  "the agent backend is busy (HTTP 429), try again shortly: slow down");
  CAF_CHECK_EQUAL(describe_backend_error(400, R"({"message":"no model"})").message,
                  "the agent backend answered HTTP 400: no model");
}

CAF_TEST(retryable) {
  CAF_CHECK(describe_backend_error(503, "").retryable);
  CAF_CHECK(describe_backend_error(429, "").retryable);
  CAF_CHECK(!describe_backend_error(501, "").retryable);
  CAF_CHECK(!describe_backend_error(400, "").retryable);
}

CAF_TEST(long details are cut to one short line) {
  const auto e = describe_backend_error(500, std::string(1000, 'a') + "\u00e9");
  CAF_CHECK_LESS_OR_EQUAL(e.message.size(), 250u);
  CAF_CHECK(e.message.find('\n') == std::string::npos);
}
