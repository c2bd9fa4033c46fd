#pragma once
// What the store suites share: a fresh profile directory in the temp dir (removed
// again afterwards), its store path, and opening the store or failing the test.
// Include after caf/test/unit_test.hpp (CAF_FAIL).

#include "store/profile_store.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>

namespace hm::test {

struct store_fixture {
  std::filesystem::path dir;
  std::filesystem::path path;

  /// `name` keeps the suites' directories apart; the pid keeps parallel runs apart.
  explicit store_fixture(const std::string& name)
    : dir(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))),
      path(profile_store::path_for(dir)) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~store_fixture() {
    std::filesystem::remove_all(dir);
  }
  store_fixture(const store_fixture&) = delete;
  store_fixture& operator=(const store_fixture&) = delete;

  static mode_t mode_of(const std::filesystem::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
};

inline std::unique_ptr<profile_store> open_ok(const std::filesystem::path& path) {
  auto res = profile_store::open(path);
  if (!res)
    CAF_FAIL("cannot open store: " << res.error().message);
  return std::move(*res);
}

} // namespace hm::test
