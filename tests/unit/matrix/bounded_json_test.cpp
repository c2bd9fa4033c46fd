#define CAF_SUITE bounded_json
#include "caf/test/unit_test.hpp"

#include "matrix/bounded_json.hpp"

using namespace hm::matrix;

CAF_TEST(depth_scan_ignores_strings) {
  CAF_CHECK_EQUAL(json_nesting_depth(R"({"a":[1,{"b":2}]})", 100), 3u);
  CAF_CHECK_EQUAL(json_nesting_depth(R"("[[[[{{{")", 100), 0u);
  CAF_CHECK_EQUAL(json_nesting_depth(R"(["\"[[[", []])", 100), 2u);
  CAF_CHECK_EQUAL(json_nesting_depth(std::string(1000, '['), 10), 11u); // stops early
}

CAF_TEST(limits) {
  std::string why;
  CAF_CHECK(parse_bounded_json(R"({"a":1})"));
  CAF_CHECK(!parse_bounded_json(std::string(65, '[') + std::string(65, ']'), {}, &why));
  CAF_CHECK_EQUAL(why, "JSON nested too deeply");
  CAF_CHECK(parse_bounded_json(std::string(64, '[') + std::string(64, ']')));
  CAF_CHECK(!parse_bounded_json("12345", json_limits{64, 4}, &why));
  CAF_CHECK_EQUAL(why, "JSON body too large");
  CAF_CHECK(!parse_bounded_json("{bad", {}, &why));
  CAF_CHECK_EQUAL(why, "not valid JSON");
  CAF_CHECK(!parse_bounded_json("{} trailing"));
  CAF_CHECK(!parse_bounded_json("/* comment */ {}"));
}

CAF_TEST(typed_fields) {
  auto j = nlohmann::json::parse(R"({"s":"x","i":-3,"u":18446744073709551615,"f":1.5,
    "b":true,"o":{},"a":[]})");
  CAF_CHECK_EQUAL(string_field(j, "s").value_or(""), "x");
  CAF_CHECK(!string_field(j, "i"));
  CAF_CHECK_EQUAL(int_field(j, "i").value_or(0), -3);
  CAF_CHECK(!int_field(j, "u")); // beyond int64
  CAF_CHECK(!int_field(j, "f"));
  CAF_CHECK(bool_field(j, "b").value_or(false));
  CAF_CHECK(object_field(j, "o") != nullptr);
  CAF_CHECK(object_field(j, "a") == nullptr);
  CAF_CHECK(array_field(j, "a") != nullptr);
  CAF_CHECK(!string_field(nlohmann::json::array(), "s"));
}

// A sync body carries everyone's events: one sender's deep content is cut off there,
// the rest of the body stays readable.
CAF_TEST(prune_too_deep) {
  json_limits limits;
  limits.prune_too_deep = true;
  std::string deep = std::string(500, '[') + std::string(500, ']');
  auto j = parse_bounded_json(R"({"ok":"yes","deep":)" + deep + R"(,"after":1})", limits);
  CAF_REQUIRE(j);
  CAF_CHECK_EQUAL(string_field(*j, "ok").value_or(""), "yes");
  CAF_CHECK_EQUAL(int_field(*j, "after").value_or(0), 1);
  CAF_CHECK(json_nesting_depth(j->dump(), 1000) <= limits.max_depth);
  // Nothing deeper than the limit: the text is kept as it is.
  auto shallow = parse_bounded_json(std::string(64, '[') + std::string(64, ']'), limits);
  CAF_REQUIRE(shallow);
  CAF_CHECK_EQUAL(json_nesting_depth(shallow->dump(), 100), 64u);
}

CAF_TEST(repair_lone_surrogates) {
  CAF_CHECK_EQUAL(repair_lone_surrogates(R"({"b":"x\ud800y"})"), R"({"b":"x\uFFFDy"})");
  CAF_CHECK_EQUAL(repair_lone_surrogates(R"({"b":"\udfff"})"), R"({"b":"\uFFFD"})");
  // A proper pair, an escaped backslash before "ud800", and keys stay as they are.
  CAF_CHECK_EQUAL(repair_lone_surrogates(R"({"b":"\ud83d\udc4d"})"), R"({"b":"\ud83d\udc4d"})");
  CAF_CHECK_EQUAL(repair_lone_surrogates(R"({"b":"\\ud800"})"), R"({"b":"\\ud800"})");
  json_limits limits;
  limits.repair_lone_surrogates = true;
  auto j = parse_bounded_json(R"({"body":"bad \ud800 end"})", limits);
  CAF_REQUIRE(j);
  CAF_CHECK_EQUAL(string_field(*j, "body").value_or(""), "bad \xEF\xBF\xBD end");
  CAF_CHECK(!parse_bounded_json(R"({"body":"bad \ud800 end"})"));
}
