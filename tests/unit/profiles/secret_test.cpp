// secret: never printed, compared by value, wiped on destruction.
#define CAF_SUITE secret
#include "caf/test/unit_test.hpp"

#include "profiles/secret.hpp"

#include <sstream>
#include <type_traits>

using hm::secret;

// No implicit way from a secret to text.
static_assert(!std::is_convertible_v<secret, std::string>);
static_assert(!std::is_convertible_v<secret, std::string_view>);
static_assert(!std::is_convertible_v<std::string, secret>);

CAF_TEST(streaming never shows the value) {
  std::ostringstream os;
  os << secret("syt_abc") << ' ' << secret();
  CAF_CHECK_EQUAL(os.str(), "[redacted] [empty]");
}

CAF_TEST(reveal and compare) {
  secret a("syt_abc");
  secret b("syt_abc");
  CAF_CHECK(a == b);
  CAF_CHECK(!(a == secret("other")));
  CAF_CHECK_EQUAL(a.reveal(), "syt_abc");
}

CAF_TEST(copies and moves keep the value and empty the source) {
  secret a("syt_value_long_enough_to_live_on_the_heap_0123456789");
  secret b = a;
  CAF_CHECK(b == a);
  secret c = std::move(a);
  CAF_CHECK(c == b);
  CAF_CHECK(a.empty()); // NOLINT(bugprone-use-after-move): moved-from is wiped on purpose
  secret d("short");
  d = std::move(c);
  CAF_CHECK(d == b);
  CAF_CHECK(c.empty()); // NOLINT(bugprone-use-after-move)
  d = secret("x");
  CAF_CHECK_EQUAL(d.reveal(), "x");
  d = d; // self-assignment keeps the value
  CAF_CHECK_EQUAL(d.reveal(), "x");
}
