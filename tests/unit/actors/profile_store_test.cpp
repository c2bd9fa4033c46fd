#define CAF_SUITE profile_store

#include "actors/profile_store.hpp"

#include "caf/test/unit_test.hpp"

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm;

namespace {

struct fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("hm-store-test-" + std::to_string(::getpid()));
  std::filesystem::path path = profile_store::path_for(dir);

  fixture() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~fixture() {
    std::filesystem::remove_all(dir);
  }

  static mode_t mode_of(const std::filesystem::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
};

std::unique_ptr<profile_store> open_ok(const std::filesystem::path& path) {
  auto res = profile_store::open(path);
  if (auto* err = std::get_if<std::string>(&res))
    CAF_FAIL("cannot open store: " << *err);
  return std::move(std::get<std::unique_ptr<profile_store>>(res));
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(profile_store_tests, fixture)

CAF_TEST(the store lives beside the profile and its files are private) {
  CAF_CHECK_EQUAL(path, dir / "platforms" / "matrix" / "hermes-matrix.db");
  auto old_umask = ::umask(022); // even with a permissive umask
  {
    auto store = open_ok(path);
    CAF_CHECK(!store->put("next_batch", "s72594_4483_1934"));
    CAF_CHECK_EQUAL(mode_of(path), 0600u);
    auto wal = path;
    wal += "-wal";
    if (std::filesystem::exists(wal))
      CAF_CHECK_EQUAL(mode_of(wal), 0600u);
  }
  ::umask(old_umask);
}

CAF_TEST(values survive closing and reopening) {
  {
    auto store = open_ok(path);
    CAF_CHECK(!store->put("next_batch", "s1"));
    CAF_CHECK(!store->put("next_batch", "s2"));
  }
  auto store = open_ok(path);
  CAF_CHECK_EQUAL(store->get("next_batch"), std::optional<std::string>{"s2"});
  CAF_CHECK_EQUAL(store->get("missing"), std::nullopt);
  CAF_CHECK_EQUAL(store->get("schema_version"), std::optional<std::string>{"1"});
}

CAF_TEST(a second opener is refused while the first holds the lock) {
  auto first = open_ok(path);
  auto second = profile_store::open(path);
  CAF_REQUIRE(std::holds_alternative<std::string>(second));
  auto& msg = std::get<std::string>(second);
  CAF_CHECK_NOT_EQUAL(msg.find("in use by another hermes-matrix process"), std::string::npos);
  first.reset();
  CAF_CHECK(std::holds_alternative<std::unique_ptr<profile_store>>(profile_store::open(path)));
}

CAF_TEST(a corrupt store is refused with a message that says what to do) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out{path, std::ios::binary};
    out << std::string(8192, 'x');
  }
  auto res = profile_store::open(path);
  CAF_REQUIRE(std::holds_alternative<std::string>(res));
  auto& msg = std::get<std::string>(res);
  CAF_MESSAGE(msg);
  CAF_CHECK_NOT_EQUAL(msg.find(path.string()), std::string::npos);
  CAF_CHECK_NOT_EQUAL(msg.find("move it away"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
