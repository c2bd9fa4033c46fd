// The media cache: Hermes' folder and file names, 0600 files in 0700 folders, names
// from a hostile sender made safe, and planted links refused.
#define CAF_SUITE media_cache
#include "caf/test/unit_test.hpp"

#include "store/media_cache.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm::store;
namespace fs = std::filesystem;

namespace {

struct fixture {
  fs::path home = fs::temp_directory_path() / ("hm-media-cache-test-" + std::to_string(::getpid()));
  fixture() {
    fs::remove_all(home);
    fs::create_directories(home);
  }
  ~fixture() { fs::remove_all(home); }

  static mode_t mode_of(const fs::path& p) {
    struct stat st {};
    ::lstat(p.c_str(), &st);
    return st.st_mode & 07777;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in{p, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(media_cache_tests, fixture)

CAF_TEST(documents keep their name under cache documents) {
  auto out = cache_media(home, media_kind::document, "report 2026.pdf", "%PDF-1.7 bytes");
  CAF_REQUIRE(out.has_value());
  CAF_CHECK_EQUAL(out->parent_path(), home / "cache" / "documents");
  auto name = out->filename().string();
  CAF_CHECK_EQUAL(name.substr(0, 4), "doc_");
  CAF_CHECK_EQUAL(name.size(), 4 + 12 + 1 + std::string{"report 2026.pdf"}.size());
  CAF_CHECK_EQUAL(name.substr(17), "report 2026.pdf");
  CAF_CHECK_EQUAL(read(*out), "%PDF-1.7 bytes");
  CAF_CHECK_EQUAL(mode_of(*out), 0600u);
  CAF_CHECK_EQUAL(mode_of(home / "cache"), 0700u);
  CAF_CHECK_EQUAL(mode_of(home / "cache" / "documents"), 0700u);
  // Two of the same name are two files.
  auto again = cache_media(home, media_kind::document, "report 2026.pdf", "other");
  CAF_REQUIRE(again.has_value());
  CAF_CHECK(*again != *out);
}

CAF_TEST(images audio and video get Hermes prefixes and a safe extension) {
  auto img = cache_media(home, media_kind::image, "Cat.PNG", "x");
  CAF_REQUIRE(img.has_value());
  CAF_CHECK_EQUAL(img->parent_path(), home / "cache" / "images");
  CAF_CHECK_EQUAL(img->filename().string().substr(0, 4), "img_");
  CAF_CHECK_EQUAL(img->extension(), ".png");
  auto voice = cache_media(home, media_kind::audio, "Voice message", "x");
  CAF_REQUIRE(voice.has_value());
  CAF_CHECK_EQUAL(voice->extension(), ".ogg");
  CAF_CHECK_EQUAL(voice->parent_path(), home / "cache" / "audio");
  auto odd = cache_media(home, media_kind::video, "clip.m p4;rm -rf", "x");
  CAF_REQUIRE(odd.has_value());
  CAF_CHECK_EQUAL(odd->extension(), ".mp4");
  CAF_CHECK_EQUAL(odd->parent_path(), home / "cache" / "video");
}

CAF_TEST(hostile names stay inside the folder) {
  CAF_CHECK_EQUAL(safe_file_name("../../.ssh/authorized_keys"), "authorized_keys");
  CAF_CHECK_EQUAL(safe_file_name("..\\..\\boot.ini"), "boot.ini");
  CAF_CHECK_EQUAL(safe_file_name(".."), "document");
  CAF_CHECK_EQUAL(safe_file_name(""), "document");
  CAF_CHECK_EQUAL(safe_file_name(std::string{"a\0b\nc.txt", 9}), "abc.txt");
  CAF_CHECK_EQUAL(safe_file_name("  .hidden "), "hidden");
  auto long_name = std::string(200, 'a') + "\xc3\xa9.txt";
  CAF_CHECK(safe_file_name(long_name).size() <= 120);
  auto utf8 = safe_file_name(std::string(119, 'a') + "\xc3\xa9");
  CAF_CHECK_EQUAL(utf8, std::string(119, 'a')); // the two-byte é is not cut in half
  auto out = cache_media(home, media_kind::document, "../../escape.txt", "x");
  CAF_REQUIRE(out.has_value());
  CAF_CHECK_EQUAL(out->parent_path(), home / "cache" / "documents");
  CAF_CHECK(!fs::exists(home.parent_path() / "escape.txt"));
}

CAF_TEST(a planted link is refused) {
  auto elsewhere = home / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_directories(home / "cache");
  fs::create_symlink(elsewhere, home / "cache" / "documents");
  auto out = cache_media(home, media_kind::document, "a.txt", "secret words");
  CAF_CHECK(!out.has_value());
  CAF_CHECK(out.error().message.find("symbolic link") != std::string::npos);
  CAF_CHECK(out.error().message.find("secret words") == std::string::npos);
  CAF_CHECK(fs::is_empty(elsewhere));
}

CAF_TEST_FIXTURE_SCOPE_END()
