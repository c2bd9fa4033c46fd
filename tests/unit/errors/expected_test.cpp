#define CAF_SUITE expected

#include "errors/error.hpp"
#include "errors/expected.hpp"

#include "caf/test/unit_test.hpp"

#include <memory>
#include <optional>
#include <string>

using hm::error_code;
using hm::expected;
using hm::unexpected;

namespace {

expected<int> half(int n) {
  if (n % 2 != 0)
    return hm::fail(error_code::invalid_input, std::to_string(n) + " is odd");
  return n / 2;
}

expected<void> even(int n) {
  if (n % 2 != 0)
    return hm::fail(error_code::invalid_input, "odd");
  return {};
}

struct custom_error {
  int status = 0;
};

} // namespace

CAF_TEST(a value) {
  auto r = half(8);
  CAF_REQUIRE(r.has_value());
  CAF_CHECK(static_cast<bool>(r));
  CAF_CHECK_EQUAL(*r, 4);
  CAF_CHECK_EQUAL(r.value(), 4);
  CAF_CHECK_EQUAL(r.value_or(-1), 4);
}

CAF_TEST(an error) {
  auto r = half(7);
  CAF_REQUIRE(!r.has_value());
  CAF_CHECK(!r);
  CAF_CHECK(r.error().code == error_code::invalid_input);
  CAF_CHECK_EQUAL(r.error().message, "7 is odd");
  CAF_CHECK_EQUAL(r.value_or(-1), -1);
  // As std::expected::value() does, value() on an error throws rather than reading
  // what is not there.
  bool threw = false;
  try {
    (void) r.value();
  } catch (const std::exception&) {
    threw = true;
  }
  CAF_CHECK(threw);
}

CAF_TEST(void) {
  CAF_CHECK(even(2).has_value());
  auto r = even(3);
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.error().message, "odd");
  bool threw = false;
  try {
    r.value();
  } catch (const std::exception&) {
    threw = true;
  }
  CAF_CHECK(threw);
}

CAF_TEST(any error type) {
  expected<std::string, custom_error> ok{"body"};
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(ok->size(), 4u);
  expected<std::string, custom_error> failed = unexpected{custom_error{429}};
  CAF_REQUIRE(!failed);
  CAF_CHECK_EQUAL(failed.error().status, 429);
  CAF_CHECK_EQUAL(failed.value_or("fallback"), "fallback");
}

CAF_TEST(move only values move out) {
  expected<std::unique_ptr<int>> r = std::make_unique<int>(5);
  CAF_REQUIRE(r);
  auto p = std::move(r).value();
  CAF_REQUIRE(p != nullptr);
  CAF_CHECK_EQUAL(*p, 5);
  expected<std::unique_ptr<int>> again{std::in_place, std::make_unique<int>(6)};
  auto q = std::move(*again);
  CAF_CHECK_EQUAL(*q, 6);
}

CAF_TEST(a value and an error of the same type stay apart) {
  // The reason the variant<string, string> of the admin API had to go: here the type
  // says which one it is, not the position.
  expected<std::string, std::string> value{"bytes"};
  expected<std::string, std::string> failure = unexpected{std::string{"why"}};
  CAF_CHECK(value.has_value() && *value == "bytes");
  CAF_CHECK(!failure.has_value() && failure.error() == "why");
}

CAF_TEST(optional values are values) {
  // result<std::optional<T>>: "nothing there" is a value, not an error.
  expected<std::optional<int>> none{std::nullopt};
  CAF_CHECK(none.has_value());
  CAF_CHECK(!none->has_value());
}

CAF_TEST(codes have names) {
  CAF_CHECK(hm::to_string(error_code::exists) == "exists");
  CAF_CHECK(hm::to_string(error_code::corrupt) == "corrupt");
}
