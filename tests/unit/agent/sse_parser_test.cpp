#define CAF_SUITE sse_parser
#include "caf/test/unit_test.hpp"

#include "tests/unit/agent/render.hpp"

using namespace hm::agent;
using hm::agent::test::parse_sse;
using hm::agent::test::render;

namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

} // namespace

CAF_TEST(fields and dispatch) {
  const auto got = parse_sse("event: hermes.tool.progress\ndata: {}\n\n"
                             "data:no space\n\n"
                             "data:  two spaces\n\n"
                             "data\n\n"
                             "id: 7\nretry: 1000\nfoo: bar\ndata: x\n\n");
  CAF_CHECK_EQUAL(render(got), "event hermes.tool.progress [{}]\n"
                               "event message [no space]\n"
                               "event message [ two spaces]\n"
                               "event message []\n"
                               "event message [x]\n");
}

CAF_TEST(multi-line data is joined with newlines) {
  CAF_CHECK_EQUAL(render(parse_sse("data: one\ndata: two\ndata:\ndata: four\n\n")),
                  "event message [one\ntwo\n\nfour]\n");
}

CAF_TEST(an event without data is not dispatched and its type does not leak) {
  CAF_CHECK_EQUAL(render(parse_sse("event: ping\n\ndata: x\n\n")), "event message [x]\n");
}

CAF_TEST(comments) {
  CAF_CHECK_EQUAL(render(parse_sse(": keepalive\n\n:\n:x\n")),
                  "comment [keepalive]\ncomment []\ncomment [x]\n");
}

CAF_TEST(line endings CR LF and CRLF all work) {
  const std::string lf = "event: a\ndata: 1\ndata: 2\n\n: c\ndata: 3\n\n";
  const auto want = render(parse_sse(lf));
  CAF_CHECK_EQUAL(want, "event a [1\n2]\ncomment [c]\nevent message [3]\n");
  CAF_CHECK_EQUAL(render(parse_sse(replace_all(lf, "\n", "\r\n"))), want);
  CAF_CHECK_EQUAL(render(parse_sse(replace_all(lf, "\n", "\r"))), want);
  // Mixed, and a CRLF split between two chunks must not count as two line ends.
  const std::string mixed = "event: a\r\ndata: 1\rdata: 2\n\r\n: c\r\rdata: 3\r\n\n";
  for (std::size_t cut = 0; cut <= mixed.size(); ++cut)
    CAF_CHECK_EQUAL(render(parse_sse(mixed, {cut})), want);
}

CAF_TEST(a pending event is not dispatched at the end of the stream) {
  sse_parser p;
  std::vector<sse_record> out;
  p.feed("data: partial\n", out);
  CAF_CHECK(out.empty());
  CAF_CHECK(p.mid_event());
  p.feed("\n", out);
  CAF_CHECK_EQUAL(out.size(), 1u);
  CAF_CHECK(!p.mid_event());
}

CAF_TEST(a leading BOM is stripped even when split) {
  const std::string s = "\xEF\xBB\xBF" "data: x\n\n";
  for (std::size_t cut = 0; cut <= 4; ++cut)
    CAF_CHECK_EQUAL(render(parse_sse(s, {cut})), "event message [x]\n");
  // Something that only starts like a BOM is content: here the field "\xEF" "data",
  // which is unknown, so nothing is dispatched.
  CAF_CHECK_EQUAL(render(parse_sse("\xEF" "data: x\n\n", {1})), "");
  CAF_CHECK_EQUAL(render(parse_sse("\xEF\xBB" ": c\n", {1})), "");
}

CAF_TEST(UTF-8 split across chunks survives) {
  const std::string s = "data: Köln 🌧\n\n";
  for (std::size_t a = 0; a <= s.size(); ++a)
    for (std::size_t b = a; b <= s.size(); ++b)
      CAF_CHECK_EQUAL(render(parse_sse(s, {a, b})), "event message [Köln 🌧]\n");
}

CAF_TEST(an oversized event is skipped and the stream goes on) {
  constexpr std::size_t limit = 64;
  const std::string big(100, 'x');
  const std::string s = "data: small\n\ndata: " + big + "\ndata: more\n: c\n\ndata: after\n\n";
  const auto want = "event message [small]\noversized 119\nevent message [after]\n";
  for (std::size_t cut = 0; cut <= s.size(); ++cut)
    CAF_CHECK_EQUAL(render(parse_sse(s, {cut}, limit)), want);
  // Many data lines each under the limit but together over it.
  std::string many;
  for (int i = 0; i < 10; ++i)
    many += "data: 0123456789\n";
  many += "\ndata: ok\n\n";
  for (std::size_t cut = 0; cut <= many.size(); ++cut)
    CAF_CHECK_EQUAL(render(parse_sse(many, {cut}, limit)), "oversized 135\nevent message [ok]\n");
}

CAF_TEST(memory stays bounded for a line that never ends) {
  sse_parser p{1024};
  std::vector<sse_record> out;
  const std::string block(4096, 'a');
  for (int i = 0; i < 1000; ++i)
    p.feed(block, out); // 4 MB without a line end
  CAF_CHECK(out.empty());
  p.feed("\n\ndata: ok\n\n", out);
  CAF_CHECK_EQUAL(render(out), "oversized 4096000\nevent message [ok]\n");
}

CAF_TEST(the default limit is 1 MiB) {
  CAF_CHECK_EQUAL(sse_parser::default_max_event_bytes, 1048576u);
  const std::string at_limit = "data: " + std::string(1048576 - 6, 'y') + "\n\n";
  const auto got = parse_sse(at_limit);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK(std::holds_alternative<sse_event>(got[0]));
  const std::string over = "data: " + std::string(1048576, 'y') + "\n\n";
  const auto got2 = parse_sse(over);
  CAF_REQUIRE_EQUAL(got2.size(), 1u);
  CAF_CHECK(std::holds_alternative<sse_oversized>(got2[0]));
}
