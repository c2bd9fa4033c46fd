#define CAF_SUITE json_log_format

#include "logging/json_format.hpp"

#include "caf/test/unit_test.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

#include <string>

namespace {

std::string format(std::string_view logger, spdlog::level::level_enum level,
                   std::string_view text) {
  spdlog::details::log_msg msg{spdlog::string_view_t{logger.data(), logger.size()}, level,
                               spdlog::string_view_t{text.data(), text.size()}};
  spdlog::memory_buf_t buf;
  hm::json_log_format{}.format(msg, buf);
  return std::string(buf.data(), buf.size());
}

} // namespace

CAF_TEST(a line is one object with time level profile and message) {
  auto line = format("coder", spdlog::level::warn, "say \"hi\"\nand\tgo");
  CAF_REQUIRE(!line.empty());
  CAF_CHECK_EQUAL(line.back(), '\n');
  CAF_CHECK_EQUAL(line.find('\n'), line.size() - 1); // the newline in the message is escaped
  auto j = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items())
    keys.push_back(k);
  CAF_CHECK_EQUAL(keys, (std::vector<std::string>{"time", "level", "profile", "message"}));
  CAF_CHECK_EQUAL(j["level"], "warning");
  CAF_CHECK_EQUAL(j["profile"], "coder");
  CAF_CHECK_EQUAL(j["message"], "say \"hi\"\nand\tgo");
  auto time = j["time"].get<std::string>();
  CAF_CHECK_EQUAL(time.size(), 24u); // 2026-01-02T03:04:05.678Z
  CAF_CHECK_EQUAL(time.back(), 'Z');
}

CAF_TEST(the node logger has a null profile and invalid utf8 is replaced) {
  auto j = nlohmann::json::parse(format("", spdlog::level::info, "bad \xff byte"));
  CAF_CHECK(j["profile"].is_null());
  CAF_CHECK_EQUAL(j["message"], "bad \xEF\xBF\xBD byte");
}
