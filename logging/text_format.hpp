#pragma once

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>

#include <memory>
#include <string>
#include <string_view>

namespace hm {

/// The text log format: "2026-01-02T03:04:05.678 info [coder] message", one line per
/// message whatever it holds. Messages quote what others sent (a profile name in an
/// admin request, an error text from a server), so control characters in them are
/// escaped (\n, \r, \xNN): nobody can forge a log line or send the terminal an escape
/// sequence. Tabs and UTF-8 are kept.
class text_log_format final : public spdlog::formatter {
public:
  text_log_format();
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

private:
  spdlog::pattern_formatter pattern_;
};

/// `text` with its control characters (but tab) escaped as text_log_format does.
[[nodiscard]] std::string escape_control_characters(std::string_view text);

} // namespace hm
