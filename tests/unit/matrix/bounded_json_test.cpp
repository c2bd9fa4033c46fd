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
