#define CAF_SUITE split
#include "caf/test/unit_test.hpp"

#include "matrix/split.hpp"

#include <string>

using namespace hm::matrix;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// split_message's rejoin promise: original == p1 + s1 + p2 + ... + pn + s_n with every
/// s_i whitespace only (the parts here have no added fence lines).
bool rejoins(std::string_view original, const std::vector<std::string>& parts) {
  std::size_t q = 0;
  for (const auto& p : parts) {
    for (;;) {
      if (original.substr(q, p.size()) == p)
        break;
      if (q == original.size() || !is_space(original[q]))
        return false;
      ++q;
    }
    q += p.size();
  }
  for (; q < original.size(); ++q)
    if (!is_space(original[q]))
      return false;
  return true;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
        return false;
    i += n;
  }
  return true;
}

bool all_fit(const std::vector<std::string>& parts, std::size_t max_len) {
  for (const auto& p : parts)
    if (p.size() > max_len)
      return false;
  return true;
}

std::string words(std::size_t count, std::string_view word = "lorem") {
  std::string s;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0)
      s += ' ';
    s += word;
  }
  return s;
}

} // namespace

CAF_TEST(a_message_that_fits_is_unchanged) {
  CAF_CHECK_EQUAL(split_message("short *reply*\n", 500), std::vector<std::string>{"short *reply*\n"});
  std::string exact(500, 'x');
  CAF_CHECK_EQUAL(split_message(exact, 500), std::vector<std::string>{exact});
  CAF_CHECK(split_message("", 500).empty());
  CAF_CHECK(split_message(" \n\n \t", 500).empty());
}

CAF_TEST(paragraph_boundaries_first) {
  auto para = words(40); // 239 bytes
  auto text = para + "\n\n" + para + "\n\n" + para;
  auto parts = split_message(text, 500);
  CAF_REQUIRE_EQUAL(parts.size(), 2u);
  CAF_CHECK_EQUAL(parts[0], para + "\n\n" + para);
  CAF_CHECK_EQUAL(parts[1], para);
  CAF_CHECK(rejoins(text, parts));
}

CAF_TEST(then_line_boundaries_then_words) {
  auto line = words(20); // 119 bytes
  std::string text;
  for (int i = 0; i < 6; ++i)
    text += line + "\n";
  auto parts = split_message(text, 500);
  CAF_REQUIRE_EQUAL(parts.size(), 2u);
  CAF_CHECK_EQUAL(parts[0], line + "\n" + line + "\n" + line + "\n" + line);
  CAF_CHECK(rejoins(text, parts));
  auto long_line = words(300); // one line of 1799 bytes
  parts = split_message(long_line, 500);
  CAF_CHECK(all_fit(parts, 500));
  CAF_CHECK(rejoins(long_line, parts));
  for (const auto& p : parts) // cut between words: every part is whole words
    CAF_CHECK(p.front() == 'l' && p.back() == 'm');
}

CAF_TEST(exact_byte_limit_for_every_part) {
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "Line " + std::to_string(i) + (i % 7 == 0 ? "\n\n" : i % 3 == 0 ? "\n" : " ");
  for (std::size_t max : {500u, 501u, 777u, 1000u, 4096u}) {
    auto parts = split_message(text, max);
    CAF_CHECK(parts.size() > 1);
    CAF_CHECK(all_fit(parts, max));
    CAF_CHECK(rejoins(text, parts));
  }
}

CAF_TEST(minimum_limit_of_500) {
  auto text = words(1000, "word"); // 4999 bytes
  auto parts = split_message(text, 500);
  CAF_CHECK_EQUAL(parts.size(), 10u); // 100 words (499 bytes) each
  CAF_CHECK(all_fit(parts, 500));
  CAF_CHECK(rejoins(text, parts));
  // Below the smallest meaningful limit the limit is raised (a code point is 4 bytes).
  parts = split_message("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 1);
  CAF_CHECK_EQUAL(parts, (std::vector<std::string>{"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"}));
}

CAF_TEST(a_word_longer_than_a_part_is_cut_hard) {
  std::string word(1200, 'a');
  auto parts = split_message("start " + word + " end", 500);
  CAF_REQUIRE_EQUAL(parts.size(), 4u);
  CAF_CHECK_EQUAL(parts[0], "start");
  CAF_CHECK_EQUAL(parts[1], std::string(500, 'a'));
  CAF_CHECK_EQUAL(parts[2], std::string(500, 'a'));
  CAF_CHECK_EQUAL(parts[3], std::string(200, 'a') + " end");
}

CAF_TEST(never_splits_a_code_point) {
  // 2-, 3- and 4-byte characters with no spaces: every hard cut lands near a sequence.
  for (std::string_view ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    for (std::size_t offset = 0; offset < 4; ++offset) {
      std::string text(offset, 'x');
      while (text.size() < 2000)
        text += ch;
      auto parts = split_message(text, 500);
      CAF_CHECK(all_fit(parts, 500));
      std::string joined;
      for (const auto& p : parts) {
        CAF_CHECK(valid_utf8(p));
        if (&p != &parts.back())
          CAF_CHECK(p.size() + ch.size() > 500); // cut as late as the code points allow
        joined += p;
      }
      CAF_CHECK_EQUAL(joined, text);
    }
  }
}

CAF_TEST(code_fences_are_closed_and_reopened) {
  std::string code;
  for (int i = 0; i < 100; ++i) // about 1600 bytes
    code += "print(" + std::to_string(i) + ")  # \xC3\xA9\n";
  auto text = "Here:\n\n```python\n" + code + "```\n\nDone.";
  auto parts = split_message(text, 500);
  CAF_REQUIRE(parts.size() >= 3);
  CAF_CHECK(all_fit(parts, 500));
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    CAF_MESSAGE("part " << i << ":\n" << parts[i]);
    CAF_CHECK(parts[i].ends_with("\n```"));
    if (i > 0)
      CAF_CHECK(parts[i].starts_with("```python\n"));
  }
  CAF_CHECK(parts.front().starts_with("Here:\n\n```python\nprint(0)"));
  CAF_CHECK(parts.back().starts_with("```python\n"));
  CAF_CHECK(parts.back().ends_with("```\n\nDone."));
  // Without the added fence lines the code is the original code, line for line.
  std::string rebuilt;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (i > 0)
      p.remove_prefix(std::string_view{"```python\n"}.size());
    if (i + 1 < parts.size())
      p.remove_suffix(std::string_view{"\n```"}.size());
    rebuilt += std::string{p} + (i + 1 < parts.size() ? "\n" : "");
  }
  CAF_CHECK_EQUAL(rebuilt, text);
}

CAF_TEST(fence_markers_and_indentation_are_kept) {
  std::string code;
  for (int i = 0; i < 80; ++i)
    code += "    indented " + std::to_string(i) + "\n";
  auto text = "~~~~ sh title\n" + code + "~~~~";
  auto parts = split_message(text, 500);
  CAF_REQUIRE(parts.size() >= 2);
  CAF_CHECK(all_fit(parts, 500));
  CAF_CHECK(parts[0].ends_with("\n~~~~"));
  CAF_CHECK(parts[1].starts_with("~~~~ sh title\n    indented "));
}

CAF_TEST(a_split_before_a_fence_leaves_it_whole) {
  auto prose = words(60);            // 359 bytes
  std::string code = "```js\n";      // 6 + 11 * 20 + 3 = 229 bytes
  for (int i = 0; i < 20; ++i)
    code += "let x = " + std::to_string(i % 10) + ";\n";
  code += "```";
  auto text = prose + "\n\n" + code;
  auto parts = split_message(text, 500);
  CAF_REQUIRE_EQUAL(parts.size(), 2u);
  CAF_CHECK_EQUAL(parts[0], prose);
  CAF_CHECK_EQUAL(parts[1], code);
}

CAF_TEST(the_closing_fence_never_starts_a_part) {
  // The code ends close to the limit: the cut must not fall just before "```".
  for (std::size_t n = 470; n < 510; ++n) {
    std::string text = "```\n" + std::string(n, 'x') + "\n```\nafter";
    auto parts = split_message(text, 500);
    CAF_CHECK(all_fit(parts, 500));
    for (const auto& p : parts) {
      CAF_CHECK(!p.starts_with("```\n```"));
      CAF_CHECK(p != "```");
    }
  }
}

CAF_TEST(crlf_line_endings) {
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "line " + std::to_string(i) + "\r\n";
  auto parts = split_message(text, 500);
  CAF_CHECK(parts.size() > 1);
  CAF_CHECK(all_fit(parts, 500));
  CAF_CHECK(rejoins(text, parts));
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) // the last keeps the text's end
    CAF_CHECK(parts[i].back() != '\r' && parts[i].back() != '\n');
}

CAF_TEST(a_fence_too_long_to_reopen_is_split_like_text) {
  // Reopening would spend more than half of every part on fence lines: not done.
  auto text = "```" + std::string(300, 'i') + "\n" + words(200) + "\n```";
  auto parts = split_message(text, 500);
  CAF_CHECK(parts.size() > 1);
  CAF_CHECK(all_fit(parts, 500));
  CAF_CHECK(rejoins(text, parts));
}
