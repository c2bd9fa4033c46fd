#define CAF_SUITE canonical_json
#include "caf/test/unit_test.hpp"
// This suite's binary gets its main() here (and only here).
#include "caf/test/unit_test_impl.hpp"

#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/canonical_json.hpp"

using namespace hm::matrix::crypto;
using nlohmann::json;

namespace {

std::string canon(std::string_view text) {
  auto r = canonical_json(json::parse(text));
  return r ? r.value() : "ERROR: " + r.error().error;
}

} // namespace

// The vectors of the spec appendix "Canonical JSON", in order.
CAF_TEST(spec_vectors) {
  CAF_CHECK_EQUAL(canon("{}"), "{}");
  CAF_CHECK_EQUAL(canon(R"({ "one": 1, "two": "Two" })"), R"({"one":1,"two":"Two"})");
  CAF_CHECK_EQUAL(canon(R"({ "b": "2", "a": "1" })"), R"({"a":"1","b":"2"})");
  CAF_CHECK_EQUAL(canon(R"({"b":"2","a":"1"})"), R"({"a":"1","b":"2"})");
  CAF_CHECK_EQUAL(
      canon(R"({"auth": {"success": true, "mxid": "@john.doe:example.com",
        "profile": {"display_name": "John Doe", "three_pids": [
          {"medium": "email", "address": "john.doe@example.org"},
          {"medium": "msisdn", "address": "123456789"}]}}})"),
      R"({"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}})");
  CAF_CHECK_EQUAL(canon(R"({"a": "日本語"})"), R"({"a":"日本語"})");
  CAF_CHECK_EQUAL(canon(R"({"本": 2, "日": 1})"), R"({"日":1,"本":2})");
  CAF_CHECK_EQUAL(canon(R"({"a": "\u65E5"})"), R"({"a":"日"})");
  CAF_CHECK_EQUAL(canon(R"({"a": null})"), R"({"a":null})");
  CAF_CHECK_EQUAL(canon(R"({"a": -0, "b": 1e10})"), R"({"a":0,"b":10000000000})");
}

CAF_TEST(escapes_follow_the_grammar) {
  // Only the required escapes; \u00XX in lower-case hex for other control characters;
  // "/" and DEL (0x7F) and non-ASCII stay as they are.
  CAF_CHECK_EQUAL(canon(R"(["\"\\\/\b\f\n\r\t\u0001\u001F\u007f é"])"),
                  "[\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f \xC3\xA9\"]");
  CAF_CHECK_EQUAL(canon(R"(["\ud83d\ude00"])"), "[\"\xF0\x9F\x98\x80\"]"); // 😀 unescaped
}

CAF_TEST(numbers) {
  CAF_CHECK_EQUAL(canon("[9007199254740991,-9007199254740991,0,-1]"),
                  "[9007199254740991,-9007199254740991,0,-1]");
  CAF_CHECK(!canonical_json(json::parse("9007199254740992")));
  CAF_CHECK(!canonical_json(json::parse("-9007199254740992")));
  CAF_CHECK(!canonical_json(json::parse("18446744073709551615")));
  CAF_CHECK(!canonical_json(json::parse("1.5")));
  CAF_CHECK(!canonical_json(json::parse("1e300")));
  CAF_CHECK(!canonical_json(json(std::numeric_limits<double>::quiet_NaN())));
  CAF_CHECK_EQUAL(canon("2.0"), "2");
  auto e = canonical_json(json::parse(R"({"a":[0.5]})"));
  CAF_REQUIRE(!e);
  CAF_CHECK_EQUAL(e.error().errcode, "HM_NOT_CANONICAL_JSON");
}

CAF_TEST(invalid_utf8_refused) {
  CAF_CHECK(!canonical_json(json("\xC3")));         // truncated
  CAF_CHECK(!canonical_json(json("\xC0\xAF")));     // overlong
  CAF_CHECK(!canonical_json(json("\xED\xA0\x80"))); // surrogate
  CAF_CHECK(!canonical_json(json("\xF4\x90\x80\x80"))); // above U+10FFFF
  json obj;
  obj["\xFF"] = 1;
  CAF_CHECK(!canonical_json(obj));
}

CAF_TEST(nesting_is_bounded) {
  json deep = 1;
  for (int i = 0; i < 200; ++i)
    deep = json::array({deep});
  CAF_CHECK(!canonical_json(deep));
}

CAF_TEST(signable_drops_signatures_and_unsigned_at_top_only) {
  auto s = signable_json(json::parse(
      R"({"b":1,"signatures":{"x":{}},"unsigned":{"age":3},"a":{"unsigned":1}})"));
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s.value(), R"({"a":{"unsigned":1},"b":1})");
  CAF_CHECK(!signable_json(json::array()));
}

CAF_TEST(base64_unpadded) {
  // Spec appendix "Unpadded Base64".
  CAF_CHECK_EQUAL(base64_encode_unpadded(""), "");
  CAF_CHECK_EQUAL(base64_encode_unpadded("f"), "Zg");
  CAF_CHECK_EQUAL(base64_encode_unpadded("fo"), "Zm8");
  CAF_CHECK_EQUAL(base64_encode_unpadded("foo"), "Zm9v");
  CAF_CHECK_EQUAL(base64_encode_unpadded("foob"), "Zm9vYg");
  CAF_CHECK_EQUAL(base64_encode_unpadded("fooba"), "Zm9vYmE");
  CAF_CHECK_EQUAL(base64_encode_unpadded("foobar"), "Zm9vYmFy");
  auto d = base64_decode("Zm9vYmE");
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(std::string(d->begin(), d->end()), "fooba");
  CAF_CHECK(base64_decode("Zm9vYmE="));  // padding accepted
  CAF_CHECK(!base64_decode("Zm9vY"));    // 4n+1
  CAF_CHECK(!base64_decode("Zm9*"));     // alphabet
  CAF_CHECK(base64_decode("Zh") == base64_decode("Zg")); // stray bits ignored
}
