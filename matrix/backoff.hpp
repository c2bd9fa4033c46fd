#pragma once

// Jittered exponential backoff as a value: it computes delays, it never sleeps. The sync
// actor (1 s .. 60 s) and the outbox own one each and ask it after every failure.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace hm::matrix {

class backoff {
public:
  using duration = std::chrono::milliseconds;

  /// Delays grow initial, 2×initial, 4×initial, ... up to `cap`; each is spread by
  /// ±`jitter` (0.2 = ±20 %) so that many profiles failing together (the homeserver
  /// restarts) do not come back in lockstep. The result never exceeds `cap`.
  constexpr explicit backoff(duration initial = std::chrono::seconds{1},
                             duration cap = std::chrono::seconds{60},
                             double jitter = 0.2) noexcept
    : initial_(std::max(initial, duration{1})),
      cap_(std::max(cap, std::max(initial, duration{1}))),
      jitter_(std::clamp(jitter, 0.0, 1.0)) {}

  /// The delay before the next attempt, given a uniform random number `u` in [0, 1)
  /// (0.5 gives the un-jittered value); then counts the failure. Pure given `u`.
  constexpr duration next(double u) noexcept {
    u = std::clamp(u, 0.0, 1.0);
    auto base = base_delay();
    if (failures_ < 63)
      ++failures_;
    auto factor = 1.0 + jitter_ * (2.0 * u - 1.0);
    auto ms = static_cast<double>(base.count()) * factor;
    // Compare in double before converting back: a cap near the int64 limit is not
    // exactly representable, and converting a too-large double is undefined.
    if (ms >= static_cast<double>(cap_.count()))
      return cap_;
    return duration{static_cast<std::int64_t>(std::max(ms, 0.0))};
  }

  /// Same, drawing `u` from any uniform random bit generator (std::mt19937, a test's
  /// fixed sequence, ...).
  template <class URBG>
  duration next_with(URBG& gen) {
    std::uniform_real_distribution<double> dist(0.0, 1.0);
    return next(dist(gen));
  }

  /// The un-jittered delay the next call would be centred on.
  [[nodiscard]] constexpr duration base_delay() const noexcept {
    // Doubling stops once past the cap, so neither the shift nor the product overflows.
    auto d = initial_;
    for (unsigned i = 0; i < failures_ && d < cap_; ++i) {
      if (d > cap_ / 2)
        return cap_;
      d *= 2;
    }
    return std::min(d, cap_);
  }

  /// After a success: the next failure waits `initial` again.
  constexpr void reset() noexcept { failures_ = 0; }

  /// Consecutive failures counted so far.
  [[nodiscard]] constexpr unsigned failures() const noexcept { return failures_; }

  [[nodiscard]] constexpr duration initial() const noexcept { return initial_; }
  [[nodiscard]] constexpr duration cap() const noexcept { return cap_; }

private:
  duration initial_;
  duration cap_;
  double jitter_;
  unsigned failures_ = 0;
};

} // namespace hm::matrix
