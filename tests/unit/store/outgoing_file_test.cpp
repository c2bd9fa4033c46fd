// The files the agent sends: read only from HERMES_HOME or the folders a profile names,
// after following `..` and links to where they lead; folders, FIFOs, secrets and files
// over the limit refused with a sentence that never holds what the file contains.
#define CAF_SUITE outgoing_file
#include "caf/test/unit_test.hpp"

#include "store/outgoing_file.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace hm::store;
namespace fs = std::filesystem;

namespace {

/// A 1x1 red PNG as Pillow writes it.
const std::string png_bytes{
  "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00"
  "\x00\x01\x08\x02\x00\x00\x00\x90\x77\x53\xde\x00\x00\x00\x0c\x49\x44\x41\x54\x78\x9c\x63"
  "\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00\x49\x45\x4e\x44\xae"
  "\x42\x60\x82",
  69};

const std::string pdf_bytes = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n"
                              "<< /Root 1 0 R >>\n%%EOF\n";

/// What no error text may ever show.
const std::string secret_words = "TOPSECRET-7d1f";

struct fixture {
  fs::path base = fs::temp_directory_path()
                  / ("hm-outgoing-file-test-" + std::to_string(::getpid()));
  fs::path home = base / "home";
  fs::path outside = base / "outside";
  static constexpr std::uint64_t limit = 1024 * 1024;

  fixture() {
    fs::remove_all(base);
    fs::create_directories(home / "cache" / "images");
    fs::create_directories(outside);
  }
  ~fixture() { fs::remove_all(base); }

  static void write(const fs::path& p, const std::string& bytes) {
    std::ofstream{p, std::ios::binary} << bytes;
  }

  hm::expected<outgoing_file> read(const fs::path& p, std::uint64_t max = limit) const {
    return read_outgoing_file(p, home, {}, max);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(outgoing_file_tests, fixture)

CAF_TEST(a png and a pdf are read with their types from the bytes) {
  write(home / "cache" / "images" / "chart.png", png_bytes);
  auto png = read(home / "cache" / "images" / "chart.png");
  CAF_REQUIRE(png.has_value());
  CAF_CHECK(png->bytes == png_bytes);
  CAF_CHECK_EQUAL(png->filename, "chart.png");
  CAF_CHECK_EQUAL(png->mimetype, "image/png");
  write(home / "report.pdf", pdf_bytes);
  auto pdf = read(home / "report.pdf");
  CAF_REQUIRE(pdf.has_value());
  CAF_CHECK_EQUAL(pdf->bytes, pdf_bytes);
  CAF_CHECK_EQUAL(pdf->mimetype, "application/pdf");
  // The bytes decide, not the name: a PNG called .pdf is a PNG.
  write(home / "wrong.pdf", png_bytes);
  auto wrong = read(home / "wrong.pdf"); // kept: CAF_CHECK_EQUAL binds references
  CAF_REQUIRE(wrong.has_value());
  CAF_CHECK_EQUAL(wrong->mimetype, "image/png");
}

CAF_TEST(a home path is expanded to HERMES_HOME) {
  write(home / "notes.md", "# Notes\n\nplain words\n");
  auto md = read("~/notes.md");
  CAF_REQUIRE(md.has_value());
  CAF_CHECK_EQUAL(md->bytes, "# Notes\n\nplain words\n");
  CAF_CHECK_EQUAL(md->filename, "notes.md");
  CAF_CHECK_EQUAL(md->mimetype, "text/markdown");
  auto other = read("~root/notes.md");
  CAF_CHECK(contains(other.error().message, "cannot send ~root/notes.md"));
  CAF_CHECK(contains(other.error().message, "another user"));
}

CAF_TEST(dot dot escaping the home is refused) {
  write(outside / "elsewhere.txt", secret_words);
  auto p = home / "cache" / ".." / ".." / "outside" / "elsewhere.txt";
  auto res = read(p);
  CAF_CHECK(!res.has_value());
  CAF_CHECK(contains(res.error().message, "cannot send " + p.string()));
  CAF_CHECK(contains(res.error().message, "leads to " + fs::canonical(outside / "elsewhere.txt").string()));
  CAF_CHECK(contains(res.error().message, "outside the folders"));
  CAF_CHECK(!contains(res.error().message, secret_words));
  // `..` that stays inside is fine.
  write(home / "ok.txt", "fine");
  CAF_CHECK(read(home / "cache" / ".." / "ok.txt").has_value());
}

CAF_TEST(a link inside the home to a file outside it is refused) {
  fs::create_symlink("/etc/passwd", home / "passwd.txt");
  auto res = read(home / "passwd.txt");
  CAF_CHECK(!res.has_value());
  CAF_CHECK(contains(res.error().message, "leads to /etc/passwd"));
  CAF_CHECK(!contains(res.error().message, "root:"));
  write(outside / "secret.png", secret_words);
  fs::create_directory_symlink(outside, home / "cache" / "linked");
  res = read(home / "cache" / "linked" / "secret.png");
  CAF_CHECK(contains(res.error().message, "outside the folders"));
  CAF_CHECK(!contains(res.error().message, secret_words));
}

CAF_TEST(a folder the profile names may be sent from) {
  write(outside / "table.csv", "a,b\n1,2\n3,4\n");
  auto refused = read(outside / "table.csv");
  CAF_CHECK(contains(refused.error().message, "outside the folders"));
  auto res = read_outgoing_file(outside / "table.csv", home, {base / "missing", outside}, limit);
  CAF_REQUIRE(res.has_value());
  CAF_CHECK_EQUAL(res->bytes, "a,b\n1,2\n3,4\n");
  CAF_CHECK_EQUAL(res->mimetype, "text/csv");
  // A link in the home into a named folder leads somewhere allowed.
  fs::create_symlink(outside / "table.csv", home / "table-link.csv");
  CAF_CHECK(read_outgoing_file(home / "table-link.csv", home, {outside}, limit).has_value());
}

CAF_TEST(a file over the limit is refused) {
  write(home / "big.txt", std::string(100, 'x') + secret_words);
  auto size = 100 + secret_words.size();
  auto res = read(home / "big.txt", size - 1);
  CAF_CHECK(!res.has_value());
  CAF_CHECK(contains(res.error().message, "larger than"));
  CAF_CHECK(!contains(res.error().message, secret_words));
  auto whole = read(home / "big.txt", size);
  CAF_REQUIRE(whole.has_value());
  CAF_CHECK_EQUAL(whole->bytes.size(), size);
}

CAF_TEST(a fifo is refused without waiting for a writer) {
  CAF_REQUIRE_EQUAL(::mkfifo((home / "voice.ogg").c_str(), 0600), 0);
  auto res = read(home / "voice.ogg"); // would block forever if it were opened for reading
  CAF_CHECK(!res.has_value());
  CAF_CHECK(contains(res.error().message, "not a regular file"));
  CAF_CHECK(contains(read("/dev/zero").error().message, "outside the folders"));
  CAF_CHECK(contains(read_outgoing_file("/dev/zero", home, {"/dev"}, limit).error().message,
                     "not a regular file"));
}

CAF_TEST(a folder is refused) {
  auto res = read(home / "cache");
  CAF_CHECK(contains(res.error().message, "is a folder"));
  CAF_CHECK(contains(read("~/").error().message, "is a folder"));
}

CAF_TEST(the profile secrets are never sent) {
  write(home / ".env", "OPENAI_API_KEY=" + secret_words);
  write(home / "auth.json", "{\"token\": \"" + secret_words + "\"}");
  fs::create_directories(home / "platforms" / "matrix");
  write(home / "platforms" / "matrix" / "hermes-matrix.db", secret_words);
  write(home / "platforms" / "matrix" / "hermes-matrix.pickle-key", secret_words);
  fs::create_directories(home / ".ssh");
  write(home / ".ssh" / "id_ed25519.txt", secret_words);
  for (auto p : {home / ".env", home / "auth.json", home / "platforms/matrix/hermes-matrix.db",
                 home / "platforms/matrix/hermes-matrix.pickle-key",
                 home / ".ssh/id_ed25519.txt"}) {
    auto res = read(p);
    CAF_CHECK(!res.has_value());
    CAF_CHECK(contains(res.error().message, "never sent"));
    CAF_CHECK(!contains(res.error().message, secret_words));
  }
  // A link with an innocent name is judged by where it leads.
  fs::create_symlink(home / ".env", home / "innocent.txt");
  CAF_CHECK(contains(read(home / "innocent.txt").error().message, "never sent"));
}

CAF_TEST(relative windows and missing paths are refused) {
  CAF_CHECK(contains(read("cache/x.png").error().message, "not an absolute path"));
  CAF_CHECK(contains(read("C:\\Users\\x\\file.pdf").error().message, "not an absolute path"));
  auto missing = read(home / "nothing.png");
  CAF_CHECK(contains(missing.error().message, "cannot send " + (home / "nothing.png").string()));
  CAF_CHECK(contains(missing.error().message, "does not exist"));
}

CAF_TEST(a file the service may not read is refused) {
  if (::geteuid() == 0) {
    CAF_MESSAGE("skipped: root reads every file");
    return;
  }
  write(home / "locked.txt", secret_words);
  ::chmod((home / "locked.txt").c_str(), 0);
  auto res = read(home / "locked.txt");
  CAF_CHECK(contains(res.error().message, "permission denied"));
  CAF_CHECK(!contains(res.error().message, secret_words));
}

CAF_TEST(vague answers of libmagic are refined by a known extension only) {
  CAF_CHECK_EQUAL(sniff_mimetype("# Title\n\nwords\n", "notes.md"), "text/markdown");
  CAF_CHECK_EQUAL(sniff_mimetype("a,b\n1,2\n", "table.CSV"), "text/csv");
  CAF_CHECK_EQUAL(sniff_mimetype("just words\n", "words.txt"), "text/plain");
  std::string ogg{"OggS\0\2\0\0\0\0\0\0\0\0\1\2\3\4\0\0\0\0\0\0\0\0\1\23OpusHead\1\1\0\0"
                  "\200\273\0\0\0\0\0",
                  47};
  CAF_CHECK_EQUAL(sniff_mimetype(ogg, "voice.opus"), "audio/ogg");
  CAF_CHECK_EQUAL(sniff_mimetype(std::string{"\x01\x02\x03\x04 binary", 11}, "fake.png"),
                  "application/octet-stream");
  CAF_CHECK_EQUAL(sniff_mimetype(png_bytes, "image.md"), "image/png");
  CAF_CHECK_EQUAL(sniff_mimetype("", "empty.bin"), "application/octet-stream");
}

CAF_TEST_FIXTURE_SCOPE_END()
