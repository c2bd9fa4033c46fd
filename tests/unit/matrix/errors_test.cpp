#define CAF_SUITE errors
#include "caf/test/unit_test.hpp"

#include "matrix/errors.hpp"

#include "fixture.hpp"

using namespace hm::matrix;
using namespace std::chrono_literals;
using hm::matrix::test::read_fixture;
using hm::matrix::test::response;

namespace {

// 2015-10-21 07:28:00 UTC
const auto reference_now = std::chrono::system_clock::time_point{1445412480s};

} // namespace

CAF_TEST(rate_limited_body) {
  auto body = read_fixture("error_rate_limited.json");
  auto e = parse_matrix_error(response(429, body));
  CAF_CHECK_EQUAL(e.http_status, 429);
  CAF_CHECK_EQUAL(e.errcode, "M_LIMIT_EXCEEDED");
  CAF_CHECK_EQUAL(e.error, "Too many requests");
  CAF_REQUIRE(e.retry_after);
  CAF_CHECK_EQUAL(e.retry_after->count(), 2000);
  CAF_CHECK(classify(e) == error_action::retry);
}

CAF_TEST(retry_after_header_wins_over_body) {
  auto body = read_fixture("error_rate_limited.json");
  auto r = response(429, body);
  r.retry_after_header = "5";
  auto e = parse_matrix_error(r);
  CAF_REQUIRE(e.retry_after);
  CAF_CHECK_EQUAL(e.retry_after->count(), 5000);
  // An unreadable header leaves the body's value.
  r.retry_after_header = "soon";
  CAF_CHECK_EQUAL(parse_matrix_error(r).retry_after->count(), 2000);
  // HTTP-date form, relative to when the response arrived.
  r.retry_after_header = "Wed, 21 Oct 2015 07:28:30 GMT";
  r.received_at = reference_now;
  CAF_CHECK_EQUAL(parse_matrix_error(r).retry_after->count(), 30000);
}

CAF_TEST(retry_after_parsing) {
  CAF_CHECK_EQUAL(parse_retry_after("120", reference_now).value_or(-1ms).count(), 120000);
  CAF_CHECK_EQUAL(parse_retry_after(" 0 ", reference_now).value_or(-1ms).count(), 0);
  CAF_CHECK_EQUAL(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", reference_now)
                      .value_or(-1ms)
                      .count(),
                  0);
  // In the past: do not wait.
  CAF_CHECK_EQUAL(parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", reference_now)
                      .value_or(-1ms)
                      .count(),
                  0);
  CAF_CHECK_EQUAL(parse_retry_after("Thu, 22 Oct 2015 07:28:00 GMT", reference_now)
                      .value_or(-1ms)
                      .count(),
                  86400000);
  // Huge values are clamped to a day, never overflow.
  CAF_CHECK_EQUAL(parse_retry_after("99999999999999999999999", reference_now)
                      .value_or(-1ms)
                      .count(),
                  86400000);
  CAF_CHECK(!parse_retry_after("", reference_now));
  CAF_CHECK(!parse_retry_after("-5", reference_now));
  CAF_CHECK(!parse_retry_after("1.5", reference_now));
  CAF_CHECK(!parse_retry_after("Wed, 32 Oct 2015 07:28:00 GMT", reference_now));
  CAF_CHECK(!parse_retry_after("Wed, 21 Foo 2015 07:28:00 GMT", reference_now));
}

CAF_TEST(html_body_from_a_proxy) {
  auto body = read_fixture("error_bad_gateway.html");
  auto e = parse_matrix_error(response(502, body));
  CAF_CHECK_EQUAL(e.http_status, 502);
  CAF_CHECK_EQUAL(e.errcode, "M_UNKNOWN");
  CAF_CHECK(!e.body_was_json);
  CAF_CHECK(e.error.find("502 Bad Gateway") != std::string::npos);
  CAF_CHECK(e.error.find('\n') == std::string::npos);
  CAF_CHECK(e.error.size() < 160);
  CAF_CHECK(classify(e) == error_action::retry);
}

CAF_TEST(excerpt_is_bounded_and_masks_tokens) {
  std::string big(100000, 'x');
  auto e = parse_matrix_error(response(500, big));
  CAF_CHECK(e.error.size() < 160);
  auto echoed = parse_matrix_error(
      response(400, "Authorization: Bearer syt_Ym90_SECRETSECRET_0abc rejected"));
  CAF_CHECK(echoed.error.find("SECRET") == std::string::npos);
  auto truncated = parse_matrix_error(response(500, R"({"errcode":"M_UNK)"));
  CAF_CHECK_EQUAL(truncated.errcode, "M_UNKNOWN");
  CAF_CHECK(!truncated.body_was_json);
  auto empty = parse_matrix_error(response(503, ""));
  CAF_CHECK_EQUAL(empty.error, "empty response body");
  auto no_errcode = parse_matrix_error(response(400, R"({"error":"what"})"));
  CAF_CHECK_EQUAL(no_errcode.errcode, "M_UNKNOWN");
  CAF_CHECK(no_errcode.body_was_json);
}

CAF_TEST(classification) {
  auto err = [](int status, std::string errcode) {
    matrix_error e;
    e.http_status = status;
    e.errcode = std::move(errcode);
    return classify(e);
  };
  CAF_CHECK(err(401, "M_UNKNOWN_TOKEN") == error_action::stop_profile);
  CAF_CHECK(err(401, "M_MISSING_TOKEN") == error_action::stop_profile);
  CAF_CHECK(err(401, "M_UNKNOWN") == error_action::stop_profile);
  CAF_CHECK(err(400, "M_UNKNOWN_POS") == error_action::restart_sync);
  CAF_CHECK(err(429, "M_LIMIT_EXCEEDED") == error_action::retry);
  CAF_CHECK(err(429, "M_UNKNOWN") == error_action::retry);
  CAF_CHECK(err(500, "M_UNKNOWN") == error_action::retry);
  CAF_CHECK(err(504, "M_UNKNOWN") == error_action::retry);
  CAF_CHECK(err(403, "M_FORBIDDEN") == error_action::fail_request);
  CAF_CHECK(err(404, "M_NOT_FOUND") == error_action::fail_request);
  CAF_CHECK(err(413, "M_TOO_LARGE") == error_action::fail_request);
  CAF_CHECK(classify(network_error("connection refused")) == error_action::retry);
  CAF_CHECK(classify(bad_response(200, "x")) == error_action::retry);
  auto soft = parse_matrix_error(response(
      401, R"({"errcode":"M_UNKNOWN_TOKEN","error":"Token expired","soft_logout":true})"));
  CAF_CHECK(soft.soft_logout);
  CAF_CHECK(classify(soft) == error_action::stop_profile);
  CAF_CHECK_EQUAL(to_string(soft), "M_UNKNOWN_TOKEN (HTTP 401): Token expired");
  CAF_CHECK_EQUAL(to_string(error_action::restart_sync), "restart_sync");
}
