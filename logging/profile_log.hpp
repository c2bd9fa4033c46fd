#pragma once

#include <spdlog/logger.h>

#include <filesystem>
#include <memory>
#include <string>

namespace hm {

/// How log lines look: text (the default) or one JSON object per line.
enum class log_format { text, json };

/// Sets up the node's own logger: lines to stderr at `level` ("info", "debug",
/// ...) in `format`, which every profile logger then uses too. Called once by
/// main before any actor starts.
void init_logging(const std::string& level, log_format format = log_format::text);

/// The logger of one profile: every line goes to stderr (tagged with the
/// profile) and to `<profile_dir>/logs/gateway.log`, rotated at 10 MiB with
/// three old files kept. The same logger is returned for the same profile, so
/// a restarted cell keeps writing to the same file. The logs folder is created
/// private (0700). Falls back to stderr only (with a warning) when the log file
/// cannot be opened, its folder is open to other users, or a link (or another
/// user's file) stands in its place: the log is never appended to a file of
/// someone else's choosing.
[[nodiscard]] std::shared_ptr<spdlog::logger>
profile_logger(const std::string& profile, const std::filesystem::path& profile_dir);

} // namespace hm
