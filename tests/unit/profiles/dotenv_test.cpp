// parse_dotenv: well-formed, malformed and edge-case .env inputs. Expected values
// follow python-dotenv (what Hermes uses) unless a comment says otherwise.
#define CAF_SUITE dotenv
#include "caf/test/unit_test.hpp"

#include "test_support.hpp"

#include <chrono>

using namespace hm::profiles;
using namespace hm::profiles::test;
using severity = problem::severity;

CAF_TEST(plain assignment) {
  auto f = parse("MATRIX_HOMESERVER=https://matrix.example.org\n");
  CAF_CHECK_EQUAL(value(f, "MATRIX_HOMESERVER"), "https://matrix.example.org");
  CAF_CHECK_EQUAL(f.entries.at(0).line, 1);
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(export prefix) {
  auto f = parse("export MATRIX_USER_ID=@bot:example.org\nexport\tB=2\n");
  CAF_CHECK_EQUAL(value(f, "MATRIX_USER_ID"), "@bot:example.org");
  CAF_CHECK_EQUAL(value(f, "B"), "2");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(spaces around the equal sign) {
  auto f = parse("KEY = value\nK2=   spaced value  \n");
  CAF_CHECK_EQUAL(value(f, "KEY"), "value");
  CAF_CHECK_EQUAL(value(f, "K2"), "spaced value");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(empty values) {
  auto f = parse("A=\nB=''\nC=\"\"\n");
  CAF_CHECK_EQUAL(value(f, "A"), "");
  CAF_CHECK_EQUAL(value(f, "B"), "");
  CAF_CHECK_EQUAL(value(f, "C"), "");
  CAF_CHECK_EQUAL(f.entries.size(), 3u);
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(single quotes are literal except backslash quote and backslash backslash) {
  auto f = parse("A='a # b $x \\n'\nB='it\\'s'\nC='back\\\\slash'\n");
  CAF_CHECK_EQUAL(value(f, "A"), "a # b $x \\n");
  CAF_CHECK_EQUAL(value(f, "B"), "it's");
  CAF_CHECK_EQUAL(value(f, "C"), "back\\slash");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(double quote escapes) {
  auto f = parse("A=\"a\\nb\\t\\\"c\\\"\\\\d\\r\"\n");
  CAF_CHECK_EQUAL(value(f, "A"), "a\nb\t\"c\"\\d\r");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(backslash dollar stays as written like python-dotenv) {
  auto f = parse("A=\"cost \\$5 \\q\"\n");
  CAF_CHECK_EQUAL(value(f, "A"), "cost \\$5 \\q");
}

CAF_TEST(escaped quotes inside double quotes) {
  auto f = parse("A=\"say \\\"hi\\\"\"\n");
  CAF_CHECK_EQUAL(value(f, "A"), "say \"hi\"");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(multi line double quoted value) {
  auto f = parse("KEY=\"line1\nline2\"\nNEXT=1\n");
  CAF_CHECK_EQUAL(value(f, "KEY"), "line1\nline2");
  CAF_CHECK_EQUAL(value(f, "NEXT"), "1");
  CAF_REQUIRE_EQUAL(f.entries.size(), 2u);
  CAF_CHECK_EQUAL(f.entries[0].line, 1);
  CAF_CHECK_EQUAL(f.entries[1].line, 3);
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(comment after an unquoted value) {
  auto f = parse("A=abc # a comment\nB=abc\t# tab comment\n");
  CAF_CHECK_EQUAL(value(f, "A"), "abc");
  CAF_CHECK_EQUAL(value(f, "B"), "abc");
}

CAF_TEST(hash without whitespace before it is part of the value) {
  auto f = parse("A=abc#def\nB=#value\n");
  CAF_CHECK_EQUAL(value(f, "A"), "abc#def");
  CAF_CHECK_EQUAL(value(f, "B"), "#value");
}

CAF_TEST(hash inside quotes is not a comment) {
  auto f = parse("A=\"abc # not a comment\"\nB='x #y' # real comment\nC=\"x\"# glued comment\n");
  CAF_CHECK_EQUAL(value(f, "A"), "abc # not a comment");
  CAF_CHECK_EQUAL(value(f, "B"), "x #y");
  CAF_CHECK_EQUAL(value(f, "C"), "x");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(value that looks like only a comment is the value in python-dotenv 1.2.2) {
  auto f = parse("A=  # only a comment\nB=\n");
  CAF_CHECK_EQUAL(value(f, "A"), "# only a comment");
  CAF_CHECK(find(f.issues, 1, "A", "starts with '#'") != nullptr);
  CAF_CHECK_EQUAL(value(f, "B"), "");
}

CAF_TEST(comments and blank lines keep line numbers) {
  auto f = parse("# header\n\n   \n  # indented comment\nA=1\n\n\nB=2");
  CAF_REQUIRE_EQUAL(f.entries.size(), 2u);
  CAF_CHECK_EQUAL(f.entries[0].line, 5);
  CAF_CHECK_EQUAL(f.entries[1].line, 8);
  CAF_CHECK_EQUAL(value(f, "B"), "2");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(crlf line ends) {
  auto f = parse("A=1\r\n# c\r\nB=\"x\"\r\nC=y # z\r\n");
  CAF_CHECK_EQUAL(value(f, "A"), "1");
  CAF_CHECK_EQUAL(value(f, "B"), "x");
  CAF_CHECK_EQUAL(value(f, "C"), "y");
  CAF_CHECK_EQUAL(f.find("B")->line, 3);
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(crlf inside a multi line value becomes lf) {
  auto f = parse("A=\"x\r\ny\"\r\nB=2\r\n");
  CAF_CHECK_EQUAL(value(f, "A"), "x\ny");
  CAF_CHECK_EQUAL(f.find("B")->line, 3);
}

CAF_TEST(lone cr line ends) {
  auto f = parse("A=1\rB=2\r");
  CAF_CHECK_EQUAL(value(f, "A"), "1");
  CAF_CHECK_EQUAL(value(f, "B"), "2");
  CAF_CHECK_EQUAL(f.find("B")->line, 2);
}

CAF_TEST(utf8 bom at the start) {
  auto f = parse("\xEF\xBB\xBFMATRIX_HOMESERVER=https://a.example\n");
  CAF_CHECK_EQUAL(value(f, "MATRIX_HOMESERVER"), "https://a.example");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(trailing whitespace and tabs) {
  auto f = parse("\tKEY\t=\tvalue \t \nB='q'  \t\n");
  CAF_CHECK_EQUAL(value(f, "KEY"), "value");
  CAF_CHECK_EQUAL(value(f, "B"), "q");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(no newline at end of file) {
  auto f = parse("A=1\nB=last");
  CAF_CHECK_EQUAL(value(f, "B"), "last");
}

CAF_TEST(unterminated double quote is an error and the next line still counts) {
  auto f = parse("A=\"abc\nB=2\n");
  CAF_CHECK_EQUAL(value(f, "A"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "B"), "2");
  CAF_CHECK_EQUAL(errors(f.issues), 1);
  auto* p = find(f.issues, 1, "A", "never closed");
  CAF_REQUIRE(p != nullptr);
  CAF_CHECK(!p->fix.empty());
  CAF_CHECK_EQUAL(p->file, std::filesystem::path(".env"));
}

CAF_TEST(unterminated single quote) {
  auto f = parse("A=1\nB='abc\nC=3\n");
  CAF_CHECK_EQUAL(value(f, "B"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "C"), "3");
  CAF_CHECK(find(f.issues, 2, "B", "single quote") != nullptr);
}

CAF_TEST(unterminated quote that a later quote closes resumes after its own line) {
  // python-dotenv would swallow B and C into A and then fail; we report A and keep B, C.
  auto f = parse("A=\"abc\nB=2\nC=\"x\"\n");
  CAF_CHECK_EQUAL(value(f, "A"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "B"), "2");
  CAF_CHECK_EQUAL(value(f, "C"), "x");
  CAF_CHECK_EQUAL(errors(f.issues), 1);
  CAF_CHECK(find(f.issues, 1, "A", "closed on line 3") != nullptr);
}

CAF_TEST(text after the closing quote) {
  auto f = parse("A=\"x\"y\nB=1\n");
  CAF_CHECK_EQUAL(value(f, "A"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "B"), "1");
  CAF_CHECK(find(f.issues, 1, "A", "follows the closing quote") != nullptr);
}

CAF_TEST(space inside a name) {
  auto f = parse("MATRIX_USER ID=value\nB=1\nmy key=2\n");
  CAF_CHECK_EQUAL(value(f, "MATRIX_USER"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "B"), "1");
  CAF_CHECK(find(f.issues, 1, "MATRIX_USER", "expected '='") != nullptr);
  // Not shaped like an environment variable: could be a pasted secret, so not named.
  CAF_CHECK(find(f.issues, 3, "", "expected '='") != nullptr);
  CAF_CHECK(all_text(f.issues).find("my") == std::string::npos);
}

CAF_TEST(equal sign without a name) {
  auto f = parse("A=1\n=value\n");
  CAF_CHECK_EQUAL(f.entries.size(), 1u);
  CAF_CHECK(find(f.issues, 2, "", "no name") != nullptr);
  CAF_CHECK_EQUAL(errors(f.issues), 1);
}

CAF_TEST(export without assignment sets nothing) {
  auto f = parse("export MATRIX_PROXY\n");
  CAF_CHECK(f.entries.empty());
  CAF_CHECK_EQUAL(warnings(f.issues), 1);
  CAF_CHECK(find(f.issues, 1, "MATRIX_PROXY", "no '='") != nullptr);
}

CAF_TEST(a bare name cancels an earlier assignment like python-dotenv) {
  auto f = parse("MATRIX_PROXY=http://p:3128\nB=1\nMATRIX_PROXY\nB=2\n");
  CAF_CHECK_EQUAL(value(f, "MATRIX_PROXY"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "B"), "2");
  CAF_CHECK(find(f.issues, 3, "MATRIX_PROXY", "cancels") != nullptr);
  // Setting the key again replaces the bare line.
  CAF_CHECK_EQUAL(with_dotenv_key("A=1\nK # note\n", "K", "v"), "A=1\nK=v # note\n");
}

CAF_TEST(ascii separators count as whitespace like python) {
  auto f = parse("C=B  \x1f \n");
  CAF_CHECK_EQUAL(value(f, "C"), "B");
}

CAF_TEST(a pasted token alone on a line is never echoed) {
  const std::string token = "syt_aGVybWVzLWNvZGVy_QbTfVxLrBJmZkTqPRuWw_1a2b3c";
  auto f = parse("A=1\n" + token + "\n");
  CAF_CHECK(f.entries.size() == 1u);
  CAF_CHECK_EQUAL(warnings(f.issues), 1);
  CAF_CHECK(all_text(f.issues).find("syt_") == std::string::npos);
}

CAF_TEST(duplicate keys last wins with a warning naming both lines) {
  auto f = parse("A=1\nB=x\nA=2\n");
  CAF_CHECK_EQUAL(value(f, "A"), "2");
  auto* p = find(f.issues, 3, "A");
  CAF_REQUIRE(p != nullptr);
  CAF_CHECK(p->level == severity::warning);
  CAF_CHECK(p->message.find("line 1") != std::string::npos);
  CAF_CHECK(p->message.find("line 3") != std::string::npos);
}

CAF_TEST(one megabyte line) {
  std::string big(1 << 20, 'a');
  auto f = parse("A=" + big + "\nB=\"" + big + "\"\nC=2\n");
  CAF_CHECK_EQUAL(value(f, "A").size(), big.size());
  CAF_CHECK_EQUAL(value(f, "B").size(), big.size());
  CAF_CHECK_EQUAL(value(f, "C"), "2");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(many unterminated quotes parse in linear time) {
  std::string text;
  for (int i = 0; i < 20000; ++i)
    text += "A=\"x\n";
  auto start = std::chrono::steady_clock::now();
  auto f = parse(text);
  auto took = std::chrono::steady_clock::now() - start;
  CAF_CHECK_EQUAL(errors(f.issues), 20000);
  CAF_CHECK(took < std::chrono::seconds(5));
}

CAF_TEST(nul byte is a problem and the value is dropped) {
  using namespace std::string_literals;
  auto f = parse("A=1\nB=ab\0cd\nC=3\n"s);
  CAF_CHECK_EQUAL(value(f, "B"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "C"), "3");
  CAF_CHECK(find(f.issues, 2, "B", "NUL") != nullptr);
}

CAF_TEST(invalid utf8 is a problem and the value is dropped) {
  auto f = parse("A=1\nB=caf\xE9\nC=\"x\ny\xFF\"\nD=4\n");
  CAF_CHECK_EQUAL(value(f, "B"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "C"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "D"), "4");
  CAF_CHECK(find(f.issues, 2, "B", "UTF-8") != nullptr);
  CAF_CHECK(find(f.issues, 4, "C", "UTF-8") != nullptr); // the line of the bad byte
}

CAF_TEST(invalid utf8 in a comment is a warning) {
  auto f = parse("# caf\xE9\nA=1\n");
  CAF_CHECK_EQUAL(value(f, "A"), "1");
  CAF_CHECK_EQUAL(errors(f.issues), 0);
  CAF_CHECK(find(f.issues, 1, "", "UTF-8") != nullptr);
}

CAF_TEST(overlong and surrogate utf8 are invalid) {
  auto f = parse("A=\xC0\xAF\nB=\xED\xA0\x80\nC=ok\n");
  CAF_CHECK_EQUAL(value(f, "A"), "<unset>");
  CAF_CHECK_EQUAL(value(f, "B"), "<unset>");
  CAF_CHECK_EQUAL(errors(f.issues), 2);
}

CAF_TEST(valid multibyte utf8 is kept) {
  auto f = parse("A=h\xC3\xA9llo \xF0\x9F\x91\x80\n");
  CAF_CHECK_EQUAL(value(f, "A"), "h\xC3\xA9llo \xF0\x9F\x91\x80");
  CAF_CHECK(f.issues.empty());
}

CAF_TEST(quoted key) {
  auto f = parse("'MATRIX_DEVICE_ID'=HERMES_CODER\n");
  CAF_CHECK_EQUAL(value(f, "MATRIX_DEVICE_ID"), "HERMES_CODER");
}

CAF_TEST(unusual key names are kept with a warning) {
  auto f = parse("MY-KEY=1\n");
  CAF_CHECK_EQUAL(value(f, "MY-KEY"), "1");
  CAF_CHECK_EQUAL(warnings(f.issues), 1);
  CAF_CHECK_EQUAL(errors(f.issues), 0);
}

CAF_TEST(trailing backslash before closing quote backtracks like python-dotenv) {
  auto f = parse("A=\"C:\\\\\"\n");
  CAF_CHECK_EQUAL(value(f, "A"), "C:\\");
}

CAF_TEST(empty and whitespace only input) {
  CAF_CHECK(parse("").entries.empty());
  CAF_CHECK(parse(" \n\t\n\r\n").entries.empty());
  CAF_CHECK(parse(" \n\t\n\r\n").issues.empty());
  CAF_CHECK(parse("\xEF\xBB\xBF").entries.empty());
}

CAF_TEST(missing file is a problem not an exception) {
  auto f = read_dotenv("/nonexistent/hm-test/.env");
  CAF_CHECK(f.entries.empty());
  CAF_CHECK_EQUAL(errors(f.issues), 1);
}

namespace {

std::optional<std::string> fake_env(const std::string& name) {
  if (name == "HS")
    return std::string("https://from-env.example");
  if (name == "EMPTY")
    return std::string();
  return std::nullopt;
}

} // namespace

CAF_TEST(interpolation like python-dotenv) {
  auto f = parse("A=one\n"
                 "B=${A}-${HS}\n"
                 "C='${A}'\n"                 // single quotes are interpolated too
                 "D=${MISSING:-fallback}\n"
                 "E=${EMPTY:-unused}\n"       // set but empty: the empty value wins
                 "F=${MISSING}\n"
                 "G=$A ${A ${A:x} ${\n"       // not references
                 "A=two\n"
                 "H=${A}\n");
  interpolate_dotenv(f, fake_env);
  CAF_CHECK_EQUAL(value(f, "B"), "one-https://from-env.example");
  CAF_CHECK_EQUAL(value(f, "C"), "one");
  CAF_CHECK_EQUAL(value(f, "D"), "fallback");
  CAF_CHECK_EQUAL(value(f, "E"), "");
  CAF_CHECK_EQUAL(value(f, "F"), "");
  CAF_CHECK_EQUAL(value(f, "G"), "$A ${A ${A:x} ${");
  CAF_CHECK_EQUAL(value(f, "H"), "two");
  CAF_CHECK(find(f.issues, 6, "F", "${MISSING}") != nullptr);
}
