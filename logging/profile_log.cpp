#include "logging/profile_log.hpp"
#include "logging/json_format.hpp"
#include "logging/text_format.hpp"
#include "store/private_file.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace hm {

namespace {

constexpr size_t max_log_bytes = 10 * 1024 * 1024;
constexpr size_t kept_log_files = 3;

/// One stderr sink shared by every logger, so lines never interleave mid-line.
std::shared_ptr<spdlog::sinks::stderr_sink_mt> stderr_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return sink;
}

/// Profile loggers by profile name. Kept out of spdlog's registry so that a
/// profile named like the node's logger cannot replace it.
struct profile_loggers {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<spdlog::logger>> by_profile;
};

profile_loggers& loggers() {
  static profile_loggers instance;
  return instance;
}

/// Set once by init_logging, before any profile logger exists.
log_format chosen_format = log_format::text;

/// Every logger gets the same format: they share the stderr sink, and a
/// logger's formatter is set on each of its sinks.
void apply_format(spdlog::logger& logger) {
  if (chosen_format == log_format::json)
    logger.set_formatter(std::make_unique<json_log_format>());
  else
    logger.set_formatter(std::make_unique<text_log_format>());
}

/// Whether the log file may be written where it is, or why not: spdlog opens it (and renames it
/// when rotating) by name, so its folder must be one nobody else can write to, and
/// the file itself no link planted to make us append to a file of someone's choosing.
hm::expected<void> safe_log_place(const std::filesystem::path& file) {
  auto dir = file.parent_path();
  if (auto made = store::make_private_dir(dir); !made)
    return made;
  if (auto why = store::private_dir_problem(dir))
    return fail(error_code::refused, dir.string() + " " + *why);
  struct stat st {};
  if (::lstat(file.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode))
      return fail(error_code::refused, "it is a symbolic link");
    if (!S_ISREG(st.st_mode))
      return fail(error_code::refused, "it is not a regular file");
    if (st.st_uid != ::geteuid())
      return fail(error_code::refused,
                  "it belongs to another user (uid " + std::to_string(st.st_uid) + ")");
  }
  return {};
}

} // namespace

void init_logging(const std::string& level, log_format format) {
  chosen_format = format;
  // In JSON the node's own lines have "profile": null, told apart by an empty
  // name (no profile can have one).
  auto logger = std::make_shared<spdlog::logger>(
    format == log_format::json ? "" : "hermes-matrix", stderr_sink());
  apply_format(*logger);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::warn);
}

std::shared_ptr<spdlog::logger>
profile_logger(const std::string& profile, const std::filesystem::path& profile_dir) {
  auto& all = loggers();
  std::lock_guard guard{all.mutex};
  if (auto i = all.by_profile.find(profile); i != all.by_profile.end())
    return i->second;
  std::vector<spdlog::sink_ptr> sinks{stderr_sink()};
  auto file = profile_dir / "logs" / "gateway.log";
  if (auto safe = safe_log_place(file); !safe) {
    spdlog::warn("[{}] not writing {}: {}; logging to stderr only", profile, file.string(),
                 safe.error().message);
  } else {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        file.string(), max_log_bytes, kept_log_files));
    } catch (const spdlog::spdlog_ex& ex) {
      spdlog::warn("[{}] cannot write {} ({}); logging to stderr only", profile,
                   file.string(), ex.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>(profile, sinks.begin(), sinks.end());
  apply_format(*logger);
  logger->set_level(spdlog::get_level());
  logger->flush_on(spdlog::level::info);
  all.by_profile.emplace(profile, logger);
  return logger;
}

} // namespace hm
