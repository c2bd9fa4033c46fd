#define CAF_SUITE profile_log

#include "logging/profile_log.hpp"

#include "caf/test/unit_test.hpp"

#include <spdlog/logger.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm;

namespace {

struct fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("hm-profile-log-test-" + std::to_string(::getpid()));
  fixture() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~fixture() {
    std::filesystem::remove_all(dir);
  }
  static std::string read(const std::filesystem::path& p) {
    std::ifstream in{p};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(profile_log_tests, fixture)

CAF_TEST(the log goes to a private folder of the profile) {
  auto log = profile_logger("log-test-plain", dir);
  log->error("a line for the file");
  log->flush();
  CAF_CHECK(read(dir / "logs" / "gateway.log").find("a line for the file") != std::string::npos);
  struct stat st {};
  ::stat((dir / "logs").c_str(), &st);
  CAF_CHECK_EQUAL(st.st_mode & 0777, 0700u);
}

CAF_TEST(a planted link in place of the log file is not followed) {
  std::filesystem::create_directories(dir / "logs");
  ::chmod((dir / "logs").c_str(), 0700);
  auto victim = dir / "someone-elses-file";
  { std::ofstream{victim} << "precious\n"; }
  std::filesystem::create_symlink(victim, dir / "logs" / "gateway.log");
  auto log = profile_logger("log-test-linked", dir);
  log->error("must not reach the victim");
  log->flush();
  CAF_CHECK_EQUAL(read(victim), "precious\n");
}

CAF_TEST(a log folder others may write to is not used) {
  std::filesystem::create_directories(dir / "logs");
  ::chmod((dir / "logs").c_str(), 0777);
  auto log = profile_logger("log-test-open", dir);
  log->error("not into an open folder");
  log->flush();
  CAF_CHECK(!std::filesystem::exists(dir / "logs" / "gateway.log"));
}

CAF_TEST_FIXTURE_SCOPE_END()
