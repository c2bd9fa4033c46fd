#define CAF_SUITE store_carry

#include "store/carry.hpp"

#include "caf/test/unit_test.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

using namespace hm;
namespace fs = std::filesystem;

namespace {

struct fixture {
  fs::path root = fs::temp_directory_path() / ("hm-carry-test-" + std::to_string(::getpid()));
  fs::path source = store_dir_for(root / "source");
  fs::path target = store_dir_for(root / "target");

  fixture() {
    fs::remove_all(root);
    fs::create_directories(source);
  }
  ~fixture() {
    fs::remove_all(root);
  }

  static void write(const fs::path& p, const std::string& text) {
    std::ofstream{p, std::ios::binary} << text;
  }

  static std::string read(const fs::path& p) {
    std::ifstream in{p, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
  }

  /// Sends the store from source to target as a node would, in pieces of `max`.
  store_manifest carry(uint64_t epoch, uint64_t max) {
    auto described = describe_store(source);
    CAF_REQUIRE(described.has_value());
    store_manifest m{"p", epoch, *described};
    for (auto& f : m.files) {
      uint64_t offset = 0;
      do {
        auto piece = read_store_piece(source, f.name, offset, max);
        CAF_REQUIRE(piece.has_value());
        auto bytes = *piece;
        auto size = bytes.size();
        CAF_REQUIRE(write_store_piece(target, {"p", epoch, f.name, offset, std::move(bytes)}));
        offset += size;
      } while (offset < f.size);
    }
    return m;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(store_carry_tests, fixture)

CAF_TEST(the store is carried whole and verified and the lock file stays behind) {
  std::string db(3 * 1000 + 17, '\0');
  for (size_t i = 0; i < db.size(); ++i)
    db[i] = static_cast<char>(i * 7);
  write(source / "hermes-matrix.db", db);
  write(source / "hermes-matrix.db-wal", "");
  write(source / "hermes-matrix.pickle-key", "key");
  write(source / "hermes-matrix.db.lock", "");
  auto m = carry(5, 1000);
  CAF_CHECK_EQUAL(m.files.size(), 3u);
  CAF_CHECK(commit_store(target, m));
  CAF_CHECK_EQUAL(read(target / "hermes-matrix.db"), db);
  CAF_CHECK(fs::exists(target / "hermes-matrix.db-wal"));
  CAF_CHECK(!fs::exists(target / "hermes-matrix.db.lock"));
  struct stat st {};
  ::stat((target / "hermes-matrix.pickle-key").c_str(), &st);
  CAF_CHECK_EQUAL(st.st_mode & 0777, 0600u);
  CAF_CHECK(!fs::exists(staging_dir_for(target, 5)));
  // The source sets its copy aside; nothing is deleted.
  CAF_CHECK(set_store_aside(source, "b", 5));
  CAF_CHECK(!fs::exists(source));
  CAF_CHECK_EQUAL(read(moved_dir_for(source, "b", 5) / "hermes-matrix.db"), db);
}

CAF_TEST(a store that does not match its manifest is refused and nothing is replaced) {
  write(source / "hermes-matrix.db", "the real content");
  fs::create_directories(target);
  write(target / "hermes-matrix.db", "what the target had");
  auto m = carry(6, 4);
  m.files.at(0).sha256[0] = m.files.at(0).sha256[0] == 'a' ? 'b' : 'a';
  auto committed = commit_store(target, m);
  CAF_REQUIRE(!committed);
  CAF_CHECK(committed.error().message.find("does not match") != std::string::npos);
  CAF_CHECK_EQUAL(read(target / "hermes-matrix.db"), "what the target had");
  m.files.push_back({"missing", 1, "00"});
  CAF_CHECK(!commit_store(target, m));
}

CAF_TEST(a store already on the target is set aside and not overwritten) {
  write(source / "hermes-matrix.db", "new");
  fs::create_directories(target);
  write(target / "hermes-matrix.db", "old");
  auto m = carry(7, 1000);
  CAF_CHECK(commit_store(target, m));
  CAF_CHECK_EQUAL(read(target / "hermes-matrix.db"), "new");
  auto old = target;
  old += ".replaced-7";
  CAF_CHECK_EQUAL(read(old / "hermes-matrix.db"), "old");
}

CAF_TEST(the source mark is seen in the same directory and never carried) {
  write(source / "hermes-matrix.db", "db");
  CAF_CHECK(mark_carry_source(source, 9));
  CAF_CHECK(is_carry_source(source, 9));
  CAF_CHECK(!is_carry_source(source, 10));
  CAF_CHECK(!is_carry_source(target, 9));
  auto described = describe_store(source);
  CAF_REQUIRE(described.has_value());
  CAF_CHECK_EQUAL(described->size(), 1u);
}

CAF_TEST(file names that leave the store directory are refused) {
  CAF_CHECK(!write_store_piece(target, {"p", 1, "../.env", 0, "x"}));
  CAF_CHECK(!write_store_piece(target, {"p", 1, "a/b", 0, "x"}));
  CAF_CHECK(!write_store_piece(target, {"p", 1, "", 0, "x"}));
  // A lock sent along would be planted in place with the store (found by the fuzzer).
  CAF_CHECK(!write_store_piece(target, {"p", 1, "hermes-matrix.db.lock", 0, ""}));
  CAF_CHECK(!valid_store_file_name("x.lock"));
  CAF_CHECK(!fs::exists(target.parent_path() / ".env"));
  CAF_CHECK(valid_store_file_name("hermes-matrix.db-wal"));
}

CAF_TEST_FIXTURE_SCOPE_END()
