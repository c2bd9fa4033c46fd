#include "logging/json_format.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

#include <chrono>
#include <ctime>
#include <string>

namespace hm {

namespace {

/// UTC, millisecond precision, so lines from several hosts sort together.
std::string utc_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = system_clock::to_time_t(t);
  auto millis = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis < 0 ? 0 : millis));
  return out + ms;
}

} // namespace

void json_log_format::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  // ordered_json keeps the fields in the order a reader expects them.
  nlohmann::ordered_json line;
  line["time"] = utc_time(msg.time);
  auto level = spdlog::level::to_string_view(msg.level);
  line["level"] = std::string(level.data(), level.size());
  if (msg.logger_name.size() == 0)
    line["profile"] = nullptr;
  else
    line["profile"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  line["message"] = std::string(msg.payload.data(), msg.payload.size());
  auto text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> json_log_format::clone() const {
  return std::make_unique<json_log_format>();
}

} // namespace hm
