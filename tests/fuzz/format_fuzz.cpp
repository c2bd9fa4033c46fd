// libFuzzer target: the agent's Markdown is attacker-influenced (prompt injection can
// make it write anything). markdown_to_html must never emit a tag or attribute outside
// the Matrix allowlist, nor nest deeper than allowed; split_message's parts must each
// fit max_len and stay valid UTF-8 (for valid input), and lose only whitespace.
// Sources: tests/fuzz/format_fuzz.cpp matrix/format.cpp matrix/split.cpp (links cmark)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "matrix/format.hpp"
#include "matrix/split.hpp"

using namespace hm::matrix;

namespace {

[[noreturn]] void fail(const char* what, std::string_view html) {
  std::fprintf(stderr, "format_fuzz: %s in: %.*s\n", what, static_cast<int>(html.size()),
               html.data());
  std::abort();
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

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool allowed_attribute(std::string_view tag, std::string_view name, std::string_view value) {
  if (tag == "a" && name == "href")
    return starts_with(value, "https://") || starts_with(value, "http://") ||
           starts_with(value, "ftp://") || starts_with(value, "mailto:") ||
           starts_with(value, "magnet:") || starts_with(value, "matrix:");
  if (tag == "img")
    return name == "src" ? starts_with(value, "mxc://") : name == "alt" || name == "title";
  if (tag == "ol" && name == "start")
    return value.find_first_not_of("0123456789") == std::string_view::npos;
  if (tag == "code" && name == "class")
    return starts_with(value, "language-");
  return false;
}

/// A small scanner for what markdown_to_html may write: allowlisted tags, double-quoted
/// allowlisted attributes, escaped text ('>' and '"' only inside tags), proper nesting.
void check_html(std::string_view html, bool plain_only) {
  static const std::vector<std::string_view> tags = {
      "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "code", "pre",
      "blockquote", "ul", "ol", "li", "a", "img"};
  std::vector<std::string_view> open;
  std::size_t i = 0;
  while (i < html.size()) {
    char c = html[i];
    if (c == '>' || c == '"')
      fail("unescaped > or \" in text", html);
    if (c == '&') { // only the entities html_escape writes
      auto semi = html.find(';', i);
      auto entity = html.substr(i, semi == std::string_view::npos ? 1 : semi - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" &&
          entity != "&#39;")
        fail("unknown entity", html);
    }
    if (c != '<') {
      ++i;
      continue;
    }
    bool closing = i + 1 < html.size() && html[i + 1] == '/';
    auto name_begin = i + (closing ? 2 : 1);
    auto name_end = html.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789", name_begin);
    if (name_end == std::string_view::npos || name_end == name_begin)
      fail("bad tag", html);
    auto name = html.substr(name_begin, name_end - name_begin);
    if (std::find(tags.begin(), tags.end(), name) == tags.end())
      fail("tag outside the allowlist", html);
    if (plain_only && name != "p" && name != "br")
      fail("formatting although plain_is_enough", html);
    i = name_end;
    while (i < html.size() && html[i] == ' ') {
      auto eq = html.find("=\"", i);
      if (eq == std::string_view::npos)
        fail("bad attribute", html);
      auto attr = html.substr(i + 1, eq - i - 1);
      auto value_end = html.find('"', eq + 2);
      if (value_end == std::string_view::npos)
        fail("unterminated attribute", html);
      auto value = html.substr(eq + 2, value_end - eq - 2);
      if (closing || !allowed_attribute(name, attr, value) || value.find('<') != std::string_view::npos)
        fail("attribute outside the allowlist", html);
      i = value_end + 1;
    }
    if (i >= html.size() || html[i] != '>')
      fail("tag not closed", html);
    ++i;
    if (name == "br" || name == "hr" || name == "img")
      continue;
    if (!closing) {
      open.push_back(name);
      if (open.size() > 100)
        fail("nested more than 100 deep", html);
    } else if (open.empty() || open.back() != name) {
      fail("mismatched closing tag", html);
    } else {
      open.pop_back();
    }
  }
  if (!open.empty())
    fail("unclosed tag", html);
  if (!valid_utf8(html))
    fail("invalid UTF-8", html);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// split_message's promise for text without fences: only whitespace is lost at cuts.
bool rejoins(std::string_view original, const std::vector<std::string>& parts) {
  std::size_t q = 0;
  for (const auto& p : parts) {
    while (original.substr(q, p.size()) != p) {
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

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2)
    return 0;
  // The first two bytes choose max_len; small limits stress the fence logic hardest.
  std::size_t max_len = (data[0] | (static_cast<std::size_t>(data[1]) << 8)) % 1024;
  std::string_view markdown{reinterpret_cast<const char*>(data) + 2, size - 2};

  bool plain = plain_is_enough(markdown);
  auto rendered = markdown_to_html(markdown, {{"@alice:example.org", "Alice \"<A>\""},
                                              {"@bob:e.org", ""}});
  check_html(rendered.html, plain && rendered.mentioned_user_ids.empty());

  auto parts = split_message(markdown, max_len);
  auto limit = std::max(max_len, min_split_length);
  bool utf8 = valid_utf8(markdown);
  for (const auto& p : parts) {
    if (p.size() > limit)
      fail("part longer than max_len", p);
    if (utf8 && !valid_utf8(p))
      fail("part splits a code point", p);
  }
  if (markdown.find_first_of("`~") == std::string_view::npos && !rejoins(markdown, parts))
    fail("parts lost more than whitespace", markdown);
  return 0;
}
