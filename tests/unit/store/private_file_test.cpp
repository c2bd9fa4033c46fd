#define CAF_SUITE private_file
#include "caf/test/unit_test.hpp"

#include "store/private_file.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm::store;

namespace {

/// A user that is not us, to plant files as (only root can give a file away).
constexpr uid_t stranger = 65534;

struct fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("hm-private-file-test-" + std::to_string(::getpid()));
  fixture() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0700);
  }
  ~fixture() {
    std::filesystem::remove_all(dir);
  }

  static mode_t mode_of(const std::filesystem::path& p) {
    struct stat st {};
    ::lstat(p.c_str(), &st);
    return st.st_mode & 07777;
  }

  void write(const std::filesystem::path& p, const std::string& text, mode_t mode) {
    std::ofstream{p} << text;
    ::chmod(p.c_str(), mode);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(private_file_tests, fixture)

CAF_TEST(a new private file is 0600 whatever the umask) {
  auto old = ::umask(0);
  auto f = open_private_file(dir / "store.db", "the store");
  ::umask(old);
  CAF_REQUIRE_GREATER_OR_EQUAL(f.fd, 0);
  ::close(f.fd);
  CAF_CHECK_EQUAL(mode_of(dir / "store.db"), 0600u);
}

CAF_TEST(a file of ours that others could read is made private) {
  write(dir / "store.db", "", 0666);
  auto f = open_private_file(dir / "store.db", "the store");
  CAF_REQUIRE_GREATER_OR_EQUAL(f.fd, 0);
  ::close(f.fd);
  CAF_CHECK_EQUAL(mode_of(dir / "store.db"), 0600u);
}

CAF_TEST(a planted link is refused and what it points to is left alone) {
  auto target = dir / "elsewhere";
  std::filesystem::create_symlink(target, dir / "store.db"); // dangling
  auto f = open_private_file(dir / "store.db", "the store");
  CAF_CHECK_EQUAL(f.fd, -1);
  CAF_CHECK(contains(f.error, "symbolic link"));
  CAF_CHECK(contains(f.error, (dir / "store.db").string()));
  CAF_CHECK(!std::filesystem::exists(target));
  write(target, "someone else's file", 0644); // a link to a file that exists
  f = open_private_file(dir / "store.db", "the store");
  CAF_CHECK_EQUAL(f.fd, -1);
  CAF_CHECK_EQUAL(mode_of(target), 0644u);
  auto secret = read_secret_file(dir / "store.db", "the admin token file", 16);
  CAF_CHECK(contains(secret.error, "symbolic link"));
}

CAF_TEST(a file another user planted is refused) {
  if (::geteuid() != 0) {
    CAF_MESSAGE("skipped: only root can plant a file as another user");
    return;
  }
  write(dir / "store.db", "", 0666);
  CAF_REQUIRE_EQUAL(::chown((dir / "store.db").c_str(), stranger, stranger), 0);
  auto f = open_private_file(dir / "store.db", "the store");
  CAF_CHECK_EQUAL(f.fd, -1);
  CAF_CHECK(contains(f.error, "belongs to another user (uid 65534)"));
  CAF_CHECK(contains(f.error, "move it away"));
  CAF_CHECK_EQUAL(mode_of(dir / "store.db"), 0666u); // not ours to change
}

CAF_TEST(a folder others may write to is not private and a link is judged by its folder) {
  CAF_CHECK(!private_dir_problem(dir));
  std::filesystem::create_directories(dir / "open");
  ::chmod((dir / "open").c_str(), 0777);
  CAF_CHECK_EQUAL(private_dir_problem(dir / "open").value_or(""), "is writable by other users");
  std::filesystem::create_directory_symlink(dir / "open", dir / "to-open");
  CAF_CHECK_EQUAL(private_dir_problem(dir / "to-open").value_or(""),
                  "is writable by other users");
  std::filesystem::create_directories(dir / "private");
  ::chmod((dir / "private").c_str(), 0700);
  std::filesystem::create_directory_symlink(dir / "private", dir / "to-private");
  CAF_CHECK(!private_dir_problem(dir / "to-private")); // a store kept on another disk
  CAF_CHECK(private_dir_problem(dir / "missing"));
}

CAF_TEST(missing folders are made private) {
  auto old = ::umask(0);
  auto made = make_private_dir(dir / "a" / "b");
  ::umask(old);
  CAF_CHECK(made.has_value());
  CAF_CHECK_EQUAL(mode_of(dir / "a"), 0700u);
  CAF_CHECK_EQUAL(mode_of(dir / "a" / "b"), 0700u);
}

CAF_TEST(a secret file must be private and long enough and is read trimmed) {
  auto file = dir / "token";
  write(file, "  0123456789abcdef0123  \n", 0644);
  auto open_to_all = read_secret_file(file, "the admin token file", 16);
  CAF_CHECK(open_to_all.value.empty());
  CAF_CHECK(contains(open_to_all.error, "the admin token file " + file.string()));
  CAF_CHECK(contains(open_to_all.error, "chmod 600"));
  CAF_CHECK(!contains(open_to_all.error, "0123456789"));
  CAF_CHECK_EQUAL(mode_of(file), 0644u); // the person's file: reported, not changed
  ::chmod(file.c_str(), 0600);
  CAF_CHECK_EQUAL(read_secret_file(file, "the admin token file", 16).value,
                  "0123456789abcdef0123");
  write(file, "abcd\n", 0600);
  CAF_CHECK(contains(read_secret_file(file, "the admin token file", 16).error, "too short"));
  write(file, "one two\n", 0600);
  CAF_CHECK(contains(read_secret_file(file, "x", 1).error, "more than one"));
  write(file, "\n", 0600);
  CAF_CHECK(contains(read_secret_file(file, "x", 1).error, "empty"));
  CAF_CHECK(contains(read_secret_file(dir / "missing", "x", 1).error, "cannot open"));
}

CAF_TEST_FIXTURE_SCOPE_END()
