#pragma once

#include <spdlog/formatter.h>

#include <memory>

namespace hm {

/// `--log-format json`: every log line as one JSON object,
/// {"time":"2026-01-02T03:04:05.678Z","level":"info","profile":"coder","message":"..."}.
/// `profile` is the logger's name, or null for the node's own logger (whose name is
/// empty in this format). Invalid UTF-8 in a message is replaced, never passed on.
class json_log_format final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

} // namespace hm
