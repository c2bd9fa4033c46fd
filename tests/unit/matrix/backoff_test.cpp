#define CAF_SUITE backoff
#include "caf/test/unit_test.hpp"

#include <random>

#include "matrix/backoff.hpp"

using namespace hm::matrix;
using namespace std::chrono_literals;

CAF_TEST(doubles_to_the_cap) {
  backoff b{1s, 60s};
  std::vector<long long> got;
  for (int i = 0; i < 9; ++i)
    got.push_back(b.next(0.5).count()); // 0.5: no jitter
  CAF_CHECK((got == std::vector<long long>{1000, 2000, 4000, 8000, 16000, 32000, 60000,
                                           60000, 60000}));
  CAF_CHECK_EQUAL(b.failures(), 9u);
  b.reset();
  CAF_CHECK_EQUAL(b.next(0.5).count(), 1000);
}

CAF_TEST(jitter_bounds) {
  backoff b{1s, 60s, 0.2};
  CAF_CHECK_EQUAL(b.next(0.0).count(), 800);   // -20 %
  CAF_CHECK_EQUAL(b.next(1.0).count(), 2400);  // +20 % of 2 s
  b = backoff{1s, 60s, 0.2};
  for (int i = 0; i < 10; ++i)
    b.next(0.5);
  // At the cap jitter only goes down: never above the cap.
  CAF_CHECK_EQUAL(b.next(1.0).count(), 60000);
  CAF_CHECK_EQUAL(b.next(0.0).count(), 48000);
}

CAF_TEST(injectable_generator) {
  std::mt19937 gen{42};
  backoff b{1s, 60s};
  for (int i = 0; i < 200; ++i) {
    auto base = b.base_delay();
    auto d = b.next_with(gen);
    CAF_CHECK(d >= base * 8 / 10 - 1ms);
    CAF_CHECK(d <= 60s);
  }
  CAF_CHECK_EQUAL(b.base_delay().count(), 60000);
}

CAF_TEST(degenerate_parameters) {
  backoff zero{0ms, 0ms, 5.0};
  CAF_CHECK(zero.next(1.0) >= 0ms);
  backoff huge{1ms, std::chrono::milliseconds::max()};
  for (int i = 0; i < 100; ++i)
    CAF_CHECK(huge.next(0.5) >= 1ms); // no overflow into negative delays
  CAF_CHECK_EQUAL(backoff{}.initial().count(), 1000);
  CAF_CHECK_EQUAL(backoff{}.cap().count(), 60000);
}
