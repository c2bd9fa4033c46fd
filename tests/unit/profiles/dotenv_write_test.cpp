// with_dotenv_key / write_dotenv_key: in-place replace, append, line ends, file mode,
// quoting round trips and atomic replacement.
#define CAF_SUITE dotenv_write
#include "caf/test/unit_test.hpp"

#include "test_support.hpp"

using namespace hm::profiles;
using namespace hm::profiles::test;
namespace fs = std::filesystem;

namespace {

const std::string seed_env =
  "# Matrix Gateway — Coder Profile\n"
  "MATRIX_HOMESERVER=https://matrix.chiabur.xyz\n"
  "MATRIX_ACCESS_TOKEN=syt_aGVybWVzLWNvZGVy_QbTfVxLrBJmZkTqPRuWw_1a2b3c # token for @hermes-coder\n"
  "\n"
  "MATRIX_ALLOWED_USERS=@doru:chiabur.xyz\n"
  "export MATRIX_HOME_ROOM=!old:chiabur.xyz   # set by /sethome\n"
  "MATRIX_E2EE_MODE=required\n";

} // namespace

CAF_TEST(replace in place keeps every other byte) {
  auto out = with_dotenv_key(seed_env, "MATRIX_HOME_ROOM", "!CinRAVDERPuYUJSjBz:chiabur.xyz");
  std::string expected = seed_env;
  auto at = expected.find("!old:chiabur.xyz");
  expected.replace(at, std::string("!old:chiabur.xyz").size(), "!CinRAVDERPuYUJSjBz:chiabur.xyz");
  CAF_CHECK_EQUAL(out, expected);
}

CAF_TEST(append when absent) {
  auto out = with_dotenv_key(seed_env, "MATRIX_DEVICE_ID", "HERMES_CODER");
  CAF_CHECK_EQUAL(out, seed_env + "MATRIX_DEVICE_ID=HERMES_CODER\n");
}

CAF_TEST(append adds the missing final line end first) {
  CAF_CHECK_EQUAL(with_dotenv_key("A=1", "B", "2"), "A=1\nB=2\n");
  CAF_CHECK_EQUAL(with_dotenv_key("", "B", "2"), "B=2\n");
}

CAF_TEST(crlf files stay crlf) {
  std::string crlf = "# c\r\nA=1\r\nB=2\r\n";
  CAF_CHECK_EQUAL(with_dotenv_key(crlf, "A", "x y"), "# c\r\nA='x y'\r\nB=2\r\n");
  CAF_CHECK_EQUAL(with_dotenv_key(crlf, "C", "3"), crlf + "C=3\r\n");
  CAF_CHECK_EQUAL(with_dotenv_key("A=1", "C", "3"), "A=1\nC=3\n");
}

CAF_TEST(last assignment is the one replaced) {
  CAF_CHECK_EQUAL(with_dotenv_key("A=1\nA=2\n", "A", "3"), "A=1\nA=3\n");
}

CAF_TEST(multi line value replaced by one line) {
  CAF_CHECK_EQUAL(with_dotenv_key("A=\"x\ny\"\nB=1\n", "A", "z"), "A=z\nB=1\n");
}

CAF_TEST(comment glued to a quoted value stays a comment) {
  auto out = with_dotenv_key("A=\"x\"# note\n", "A", "plain");
  CAF_CHECK_EQUAL(out, "A=plain # note\n");
  CAF_CHECK_EQUAL(value(parse(out), "A"), "plain");
}

CAF_TEST(values that need quotes round trip) {
  const std::vector<std::string> values = {
    "",          "plain",     "with space", " lead",    "trail ",   "a#b",     "a # b",
    "#start",    "it's",      "say \"hi\"", "back\\slash", "$HOME",  "tab\there",
    "line\nbreak", "cr\rlf",  "both ' and \"", "'", "\"", "\\n literal", "h\xC3\xA9llo",
    "!room:server", "=equals=", "ends with quote'", "mixed ' \\ x"};
  for (const auto& v : values) {
    CAF_REQUIRE(quote_dotenv_value(v).has_value());
    for (const std::string& base : {std::string(""), std::string("A=1\nK=old\nB=2\n"),
                                    std::string("K=\"multi\nline\" # c\r\n")}) {
      auto out = with_dotenv_key(base, "K", v);
      auto f = parse(out);
      CAF_CHECK_EQUAL(value(f, "K"), v);
      CAF_CHECK_EQUAL(errors(f.issues), 0);
    }
  }
}

CAF_TEST(values that cannot be written are refused) {
  using namespace std::string_literals;
  CAF_CHECK(!quote_dotenv_value("nul\0byte"s).has_value());
  CAF_CHECK(!quote_dotenv_value("bad \xFF utf8").has_value());
  CAF_CHECK(!quote_dotenv_value("it's a \\").has_value());
  CAF_CHECK(!quote_dotenv_value("${HOME}").has_value()); // Hermes would interpolate it
  CAF_CHECK(quote_dotenv_value("${HOME").has_value());
  CAF_CHECK(quote_dotenv_value("C:\\").has_value()); // bare works
}

CAF_TEST(write keeps mode 0600 and other bytes) {
  temp_dir tmp;
  auto path = tmp.path / ".env";
  write_file(path, seed_env, 0600);
  auto err = write_dotenv_key(path, "MATRIX_HOME_ROOM", "!new:chiabur.xyz");
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(read_file(path), with_dotenv_key(seed_env, "MATRIX_HOME_ROOM", "!new:chiabur.xyz"));
  CAF_CHECK_EQUAL(file_mode(path), 0600u);
  CAF_CHECK_EQUAL(value(read_dotenv(path), "MATRIX_HOME_ROOM"), "!new:chiabur.xyz");
}

CAF_TEST(write keeps another mode too) {
  temp_dir tmp;
  auto path = tmp.path / ".env";
  write_file(path, "A=1\r\n", 0640);
  CAF_REQUIRE(write_dotenv_key(path, "B", "two words").has_value());
  CAF_CHECK_EQUAL(file_mode(path), 0640u);
  CAF_CHECK_EQUAL(read_file(path), "A=1\r\nB='two words'\r\n");
}

CAF_TEST(write creates a missing file with mode 0600) {
  temp_dir tmp;
  auto path = tmp.path / ".env";
  CAF_REQUIRE(write_dotenv_key(path, "MATRIX_HOME_ROOM", "!r:example.org").has_value());
  CAF_CHECK_EQUAL(read_file(path), "MATRIX_HOME_ROOM=!r:example.org\n");
  CAF_CHECK_EQUAL(file_mode(path), 0600u);
}

CAF_TEST(write leaves no temporary files) {
  temp_dir tmp;
  auto path = tmp.path / ".env";
  write_file(path, seed_env);
  for (int i = 0; i < 5; ++i)
    CAF_REQUIRE(write_dotenv_key(path, "K" + std::to_string(i), "v").has_value());
  int files = 0;
  for (const auto& e : fs::directory_iterator(tmp.path)) {
    (void)e;
    ++files;
  }
  CAF_CHECK_EQUAL(files, 1);
}

CAF_TEST(write through a symlink keeps the link) {
  temp_dir tmp;
  auto real = tmp.path / "real.env";
  auto link = tmp.path / ".env";
  write_file(real, "A=1\n");
  fs::create_symlink(real, link);
  CAF_REQUIRE(write_dotenv_key(link, "B", "2").has_value());
  CAF_CHECK(fs::is_symlink(link));
  CAF_CHECK_EQUAL(read_file(real), "A=1\nB=2\n");
}

CAF_TEST(write refuses bad keys and values without echoing the value) {
  temp_dir tmp;
  auto path = tmp.path / ".env";
  auto err = write_dotenv_key(path, "BAD KEY", "v");
  CAF_CHECK(!err.has_value());
  CAF_CHECK(err.error().code == hm::error_code::invalid_input);
  using namespace std::string_literals;
  auto err2 = write_dotenv_key(path, "GOOD", "syt_secret\0x"s);
  CAF_REQUIRE(!err2.has_value());
  CAF_CHECK(err2.error().message.find("syt_secret") == std::string::npos);
  CAF_CHECK(!fs::exists(path));
}

CAF_TEST(write into a missing directory fails cleanly) {
  auto err = write_dotenv_key("/nonexistent/hm-test/.env", "A", "1");
  CAF_CHECK(!err.has_value());
  CAF_CHECK(err.error().code == hm::error_code::io);
}

CAF_TEST(several keys are written in one go or not at all) {
  temp_dir tmp;
  auto path = tmp.path / ".env";
  write_file(path, seed_env, 0600);
  auto err = write_dotenv_keys(path, {{"MATRIX_ACCESS_TOKEN", "syt_new_token_1"},
                                      {"MATRIX_USER_ID", "@hermes-coder:chiabur.xyz"},
                                      {"MATRIX_DEVICE_ID", "HERMES_CODER"}});
  CAF_REQUIRE(err.has_value());
  auto env = read_dotenv(path);
  CAF_CHECK_EQUAL(value(env, "MATRIX_ACCESS_TOKEN"), "syt_new_token_1");
  CAF_CHECK_EQUAL(value(env, "MATRIX_USER_ID"), "@hermes-coder:chiabur.xyz");
  CAF_CHECK_EQUAL(value(env, "MATRIX_DEVICE_ID"), "HERMES_CODER");
  CAF_CHECK_EQUAL(value(env, "MATRIX_E2EE_MODE"), "required");
  CAF_CHECK_EQUAL(file_mode(path), 0600u);
  // One unwritable value: the file is left exactly as it was.
  auto before = read_file(path);
  err = write_dotenv_keys(path, {{"MATRIX_USER_ID", "@other:chiabur.xyz"},
                                 {"MATRIX_DEVICE_ID", "${NOPE}"}});
  CAF_CHECK(!err.has_value());
  CAF_CHECK_EQUAL(read_file(path), before);
}
