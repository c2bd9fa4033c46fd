#define CAF_SUITE text_log_format

#include "logging/text_format.hpp"

#include "caf/test/unit_test.hpp"

#include <spdlog/details/log_msg.h>

#include <string>

namespace {

std::string format(std::string_view logger, std::string_view text) {
  spdlog::details::log_msg msg{spdlog::string_view_t{logger.data(), logger.size()},
                               spdlog::level::warn,
                               spdlog::string_view_t{text.data(), text.size()}};
  spdlog::memory_buf_t buf;
  hm::text_log_format{}.format(msg, buf);
  return std::string(buf.data(), buf.size());
}

} // namespace

CAF_TEST(a message is one line whatever it holds) {
  // A profile name from an admin request, "%0A" decoded: it must not start a line.
  auto line = format("", "unknown profile 'x\n2026-01-01T00:00:00.000 info [coder] forged'");
  CAF_CHECK_EQUAL(line.find('\n'), line.size() - 1);
  CAF_CHECK(line.find("unknown profile 'x\\n2026-01-01") != std::string::npos);
  CAF_CHECK(line.find(" warning [] ") != std::string::npos);
}

CAF_TEST(control characters are escaped and text is kept) {
  CAF_CHECK_EQUAL(hm::escape_control_characters("a\rb\x1b[31mc\x7f\td ü🌧"),
                  "a\\rb\\x1b[31mc\\x7f\td ü🌧");
  CAF_CHECK_EQUAL(hm::escape_control_characters(std::string_view{"nul\0end", 7}), "nul\\x00end");
  CAF_CHECK_EQUAL(format("coder", "plain").substr(23), " warning [coder] plain\n");
}
