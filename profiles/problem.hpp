#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace hm::profiles {

/// Something wrong with a profile's files, said so that the user can fix it:
/// where (file, line, key), what is wrong, and what to do.
struct problem {
  enum class severity { error, warning };

  severity level = severity::error;
  std::filesystem::path file;
  int line = 0;        // 1-based; 0 when the problem is not tied to one line
  std::string key;     // the .env key, empty when none applies
  std::string message; // what is wrong; never contains a secret value
  std::string fix;     // what to do about it

  /// "<file>:<line>: <KEY>: <message>; <fix>" (parts that are empty are left out);
  /// a warning has "warning: " before the key.
  [[nodiscard]] std::string to_string() const;
};

using problems = std::vector<problem>;

/// True when any problem is an error (warnings leave a profile usable).
[[nodiscard]] bool has_errors(const problems& ps);

} // namespace hm::profiles
