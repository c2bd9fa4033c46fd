#define CAF_SUITE homeserver

// to_http_call: how a sans-I/O request of matrix/ becomes a call of the http engine.
// What matters for media: a raw body goes out as it is with its own Content-Type, and a
// download's response limit reaches the engine (which enforces it while receiving).

#include "actors/cell/homeserver.hpp"

#include "caf/test/unit_test.hpp"

#include <string>

using namespace hm;

namespace {

homeserver_link test_link() {
  homeserver_link link;
  link.base_url = "https://hs.example.org";
  link.access_token = secret{"syt_test_token"};
  return link;
}

std::string header(const http_call& call, const std::string& name) {
  for (const auto& [n, v] : call.headers)
    if (n == name)
      return v;
  return "<absent>";
}

} // namespace

CAF_TEST(a json body goes out as application json with the default limit) {
  matrix::http_request req;
  req.method = matrix::http_method::post;
  req.target = "/_matrix/client/v3/join/%21a%3Ab";
  req.body = nlohmann::json{{"reason", "hi"}};
  auto call = to_http_call(test_link(), req, 7);
  CAF_CHECK_EQUAL(call.url, "https://hs.example.org/_matrix/client/v3/join/%21a%3Ab");
  CAF_CHECK_EQUAL(header(call, "Content-Type"), "application/json");
  CAF_CHECK_EQUAL(call.body, R"({"reason":"hi"})");
  CAF_CHECK_EQUAL(call.max_body_bytes, http_call{}.max_body_bytes);
}

CAF_TEST(a raw body goes out unchanged with its content type) {
  matrix::http_request req;
  req.method = matrix::http_method::post;
  req.target = "/_matrix/media/v3/upload?filename=a.png";
  req.raw_body = std::string{"\x89PNG\r\n\x1a\n\0\xff", 10};
  req.content_type = "image/png";
  auto call = to_http_call(test_link(), req, 8);
  CAF_CHECK_EQUAL(header(call, "Content-Type"), "image/png");
  CAF_CHECK_EQUAL(call.body.size(), 10u);
  CAF_CHECK(call.body == *req.raw_body);
  CAF_CHECK(!call.authorization.empty());
}

CAF_TEST(a raw body without a type is sent as octet stream) {
  matrix::http_request req;
  req.method = matrix::http_method::post;
  req.raw_body = std::string{"abc"};
  auto call = to_http_call(test_link(), req, 9);
  CAF_CHECK_EQUAL(header(call, "Content-Type"), "application/octet-stream");
}

CAF_TEST(no body means no content type) {
  matrix::http_request req;
  auto call = to_http_call(test_link(), req, 10);
  CAF_CHECK_EQUAL(header(call, "Content-Type"), "<absent>");
  CAF_CHECK(call.body.empty());
}

CAF_TEST(a response limit reaches the engine) {
  matrix::http_request req;
  req.max_response_bytes = 5u * 1024 * 1024;
  auto call = to_http_call(test_link(), req, 11);
  CAF_CHECK_EQUAL(call.max_body_bytes, 5u * 1024 * 1024);
}
