#pragma once

// Helpers shared by the profiles suites: parsing shortcuts, problem lookups and a
// temporary directory that is removed again (tests never touch the real ~/.hermes).

#include "profiles/dotenv.hpp"
#include "profiles/problem.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace hm::profiles::test {

inline dotenv_file parse(std::string_view text) { return parse_dotenv(text, ".env"); }

/// The effective value of `key`, or "<unset>".
inline std::string value(const dotenv_file& f, std::string_view key) {
  const dotenv_entry* e = f.find(key);
  return e ? e->value : std::string("<unset>");
}

inline int count(const problems& ps, problem::severity level) {
  int n = 0;
  for (const auto& p : ps)
    n += p.level == level ? 1 : 0;
  return n;
}
inline int errors(const problems& ps) { return count(ps, problem::severity::error); }
inline int warnings(const problems& ps) { return count(ps, problem::severity::warning); }

/// The first problem at `line` (and with `key`, when given), or nullptr.
inline const problem* find(const problems& ps, int line, std::string_view key = {},
                           std::string_view message_part = {}) {
  for (const auto& p : ps)
    if (p.line == line && (key.empty() || p.key == key) &&
        (message_part.empty() || p.message.find(message_part) != std::string::npos))
      return &p;
  return nullptr;
}

inline std::string all_text(const problems& ps) {
  std::string out;
  for (const auto& p : ps)
    out += p.to_string() + "\n";
  return out;
}

/// A fresh directory under the system temp dir, removed with everything in it.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("hm-profiles-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

inline void write_file(const std::filesystem::path& p, std::string_view text, mode_t mode = 0600) {
  std::filesystem::create_directories(p.parent_path());
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  ::chmod(p.c_str(), mode);
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string out;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    out.append(buf, static_cast<std::size_t>(in.gcount()));
  return out;
}

inline mode_t file_mode(const std::filesystem::path& p) {
  struct stat st{};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

} // namespace hm::profiles::test
