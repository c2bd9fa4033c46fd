#pragma once

// The driver's output: one JSON object per line, with "t" in CLOCK_MONOTONIC seconds
// (Python's time.monotonic() on the same host). Safe from several threads.

#include <chrono>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

namespace hm {

inline double monotonic_seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

inline void emit(nlohmann::json event) {
  static std::mutex m;
  event["t"] = monotonic_seconds(std::chrono::steady_clock::now());
  std::lock_guard lock{m};
  std::cout << event.dump() << std::endl;
}

} // namespace hm
