#define CAF_SUITE reply_text
#include "caf/test/unit_test.hpp"

#include "agent/reply_text.hpp"
#include "tests/unit/agent/render.hpp"

#include <fstream>
#include <iterator>

using namespace hm::agent;

CAF_TEST(blank lines around the reply are trimmed and the rest is kept) {
  CAF_CHECK_EQUAL(trim_blank_lines("\n\nreal-hermes says"), "real-hermes says");
  CAF_CHECK_EQUAL(trim_blank_lines(" \n\t\n  indented code\n\n"), "  indented code");
  CAF_CHECK_EQUAL(trim_blank_lines("one\n\n\ntwo\n \n"), "one\n\n\ntwo");
  CAF_CHECK_EQUAL(trim_blank_lines("\r\n\r\nwindows\r\n"), "windows\r");
  CAF_CHECK_EQUAL(trim_blank_lines("\n \n"), "");
  CAF_CHECK_EQUAL(trim_blank_lines(""), "");
}

CAF_TEST(a tool call keeps its emoji and label when it completes) {
  tool_activity tools;
  tools.apply({"terminal", "💻", "echo fake-tool-ran", "running", "call_1"});
  CAF_CHECK_EQUAL(tools.lines(), "💻 echo fake-tool-ran…");
  tools.apply({"terminal", "", "", "completed", "call_1"});
  CAF_CHECK_EQUAL(tools.lines(), "💻 echo fake-tool-ran ✓");
}

CAF_TEST(each tool call has its own line) {
  tool_activity tools;
  tools.apply({"web_search", "🔍", "Searching the web", "running", "a"});
  tools.apply({"terminal", "💻", "ls", "running", "b"});
  tools.apply({"web_search", "", "", "completed", "a"});
  CAF_CHECK_EQUAL(tools.lines(), "🔍 Searching the web ✓\n💻 ls…");
}

CAF_TEST(without ids a completion marks the newest running call of its tool) {
  tool_activity tools;
  tools.apply({"terminal", "", "", "running", ""});
  tools.apply({"terminal", "", "", "running", ""});
  tools.apply({"terminal", "", "", "completed", ""});
  CAF_CHECK_EQUAL(tools.lines(), "🔧 terminal…\n🔧 terminal ✓");
  tools.apply({"unknown", "", "", "completed", ""}); // nothing to mark
  CAF_CHECK_EQUAL(tools.lines(), "🔧 terminal…\n🔧 terminal ✓");
}

CAF_TEST(a long run shows its newest calls and counts the others) {
  tool_activity tools;
  for (int i = 0; i < 10; ++i)
    tools.apply({"terminal", "💻", "step " + std::to_string(i), "running",
                 "c" + std::to_string(i)});
  auto lines = tools.lines();
  CAF_CHECK(lines.starts_with("(2 earlier tool calls)\n💻 step 2…"));
  CAF_CHECK(lines.ends_with("💻 step 9…"));
}

CAF_TEST(a label is one line of bounded length) {
  tool_activity tools;
  tools.apply({"terminal", "💻", "echo a\necho b", "running", "x"});
  CAF_CHECK_EQUAL(tools.lines(), "💻 echo a echo b…");
  tool_activity long_one;
  long_one.apply({"terminal", "💻", std::string(500, 'x') + "ü", "running", "y"});
  CAF_CHECK_LESS(long_one.lines().size(), 220u);
}

CAF_TEST(the recorded tool turn of a real Hermes server shows a labelled done line and trimmed text) {
  std::ifstream in{std::string{HM_TEST_FIXTURES_DIR} + "/agent/hermes-0.18.2-tool-turn.sse",
                   std::ios::binary};
  std::string stream{std::istreambuf_iterator<char>{in}, {}};
  CAF_REQUIRE(!stream.empty());
  tool_activity tools;
  std::string text;
  for (auto& item : test::decode(stream)) {
    if (auto* p = std::get_if<tool_progress>(&item))
      tools.apply(*p);
    else if (auto* t = std::get_if<text_delta>(&item))
      text += t->text;
  }
  CAF_CHECK_EQUAL(tools.lines(), "💻 echo fake-tool-ran ✓");
  CAF_CHECK(text.starts_with("\n\n"));
  CAF_CHECK_EQUAL(trim_blank_lines(text), "real-hermes says: please FAKE_TOOL now");
}
