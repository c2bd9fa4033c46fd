#include "profiles/mentions.hpp"

#include <algorithm>
#include <array>
#include <cstddef>

namespace hm::profiles {

namespace {

bool ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/// Characters that make up a word around a name. `-` counts, so that `hermes-coder-2`
/// does not mention `hermes-coder`; bytes of multi-byte UTF-8 count, so that a name is not
/// found inside a word in another script.
bool word_byte(char c) {
  return ascii_alnum(c) || c == '_' || c == '-' || static_cast<unsigned char>(c) >= 0x80;
}

/// Characters that join two parts of one token (`hermes.example`, `a/b`, `x=y`, `a+b`):
/// they end a word only when no letter or digit follows.
bool joiner(char c) { return c == '.' || c == '/' || c == '=' || c == '+'; }

bool equal_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool starts_with_ci(std::string_view s, std::size_t at, std::string_view prefix) {
  return s.size() - at >= prefix.size() && equal_ci(s.substr(at, prefix.size()), prefix);
}

/// Nothing of the same word (or id) before `at`.
bool boundary_before(std::string_view s, std::size_t at) {
  if (at == 0)
    return true;
  char p = s[at - 1];
  if (word_byte(p))
    return false;
  return !(joiner(p) && at >= 2 && ascii_alnum(s[at - 2]));
}

/// Nothing of the same word (or id) from `at` on. `:` followed by a letter or digit
/// continues a user id (`hermes-coder:other.org` is somebody else).
bool boundary_after(std::string_view s, std::size_t at) {
  if (at >= s.size())
    return true;
  char n = s[at];
  if (word_byte(n))
    return false;
  bool next_alnum = at + 1 < s.size() && (ascii_alnum(s[at + 1]) || s[at + 1] == '[');
  if (joiner(n) || n == ':')
    return !next_alnum;
  return true;
}

/// Position of `needle` in `s` from `from` on, ignoring ASCII case, standing alone.
std::size_t find_token(std::string_view s, std::string_view needle, std::size_t from = 0) {
  if (needle.empty() || s.size() < needle.size())
    return std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= s.size(); ++i)
    if (starts_with_ci(s, i, needle) && boundary_before(s, i) &&
        boundary_after(s, i + needle.size()))
      return i;
  return std::string_view::npos;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

/// Where a link target ends in HTML: at a quote, a tag bracket, whitespace, a query
/// (`?via=`) or an entity (`&amp;`).
std::size_t link_end(std::string_view s, std::size_t from) {
  std::size_t i = from;
  while (i < s.size() && s[i] != '"' && s[i] != '\'' && s[i] != '<' && s[i] != '>' &&
         s[i] != '?' && s[i] != '&' && !ascii_space(s[i]))
    ++i;
  return i;
}

/// True when `html` links to `user_id` with a matrix.to permalink or a matrix: URI.
bool links_to(std::string_view html, std::string_view user_id) {
  static constexpr std::array<std::string_view, 2> prefixes{"matrix.to/#/", "matrix:u/"};
  for (std::string_view prefix : prefixes) {
    // matrix:u/ URIs name the user without the sigil (MSC2312 / spec "Matrix URI scheme").
    std::string_view want = prefix == "matrix:u/" ? user_id.substr(1) : user_id;
    for (std::size_t i = 0; i + prefix.size() <= html.size(); ++i) {
      if (!starts_with_ci(html, i, prefix))
        continue;
      std::size_t start = i + prefix.size();
      std::size_t end = link_end(html, start);
      std::string target = percent_decode(html.substr(start, end - start));
      if (!target.empty() && target.back() == '/')
        target.pop_back();
      if (equal_ci(target, want))
        return true;
    }
  }
  return false;
}

/// A leading address to the bot at `at`: how many bytes it takes (with `:`/`,` and the
/// spaces after it), or 0. Bare names need the `:` or `,` ("Hermes: do x"), ids and
/// `@names` do not ("@hermes-coder do x").
std::size_t leading_address(std::string_view s, std::size_t at, const bot_identity& bot) {
  std::string lp = localpart(bot.user_id);
  struct candidate {
    std::string text;
    bool needs_punctuation;
  };
  std::array<candidate, 5> candidates{{
      {bot.user_id, false},
      {bot.display_name.empty() ? std::string() : "@" + bot.display_name, false},
      {bot.display_name, true},
      {lp.empty() ? std::string() : "@" + lp, false},
      {lp, true},
  }};
  for (const auto& c : candidates) {
    if (c.text.empty() || c.text == "@" || !starts_with_ci(s, at, c.text) ||
        !boundary_after(s, at + c.text.size()))
      continue;
    std::size_t j = at + c.text.size();
    std::size_t k = j;
    while (k < s.size() && (s[k] == ' ' || s[k] == '\t'))
      ++k;
    bool punctuated = k < s.size() && (s[k] == ':' || s[k] == ',');
    if (c.needs_punctuation && !punctuated)
      continue;
    if (punctuated)
      j = k + 1;
    while (j < s.size() && ascii_space(s[j]))
      ++j;
    return j - at;
  }
  return 0;
}

/// Removes [from, to) from `s` and tidies the gap: one space where two would meet, none
/// before punctuation that now follows a space.
void cut(std::string& s, std::size_t from, std::size_t to) {
  s.erase(from, to - from);
  bool space_before = from > 0 && (s[from - 1] == ' ' || s[from - 1] == '\t');
  if (!space_before)
    return;
  if (from < s.size() && (s[from] == ' ' || s[from] == '\t'))
    s.erase(from, 1);
  else if (from < s.size() && std::string_view(",.;:!?").find(s[from]) != std::string_view::npos)
    s.erase(from - 1, 1);
}

std::string trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && ascii_space(s[b]))
    ++b;
  while (e > b && ascii_space(s[e - 1]))
    --e;
  return std::string(s.substr(b, e - b));
}

} // namespace

std::string localpart(std::string_view user_id) {
  auto colon = user_id.find(':');
  if (colon == std::string_view::npos || user_id.empty() || user_id.front() != '@')
    return {};
  return std::string(user_id.substr(1, colon - 1));
}

bool mentions_bot(const mention_sources& m, const bot_identity& bot) {
  if (bot.user_id.empty())
    return false;
  if (m.mentioned_user_ids != nullptr &&
      std::find(m.mentioned_user_ids->begin(), m.mentioned_user_ids->end(), bot.user_id) !=
          m.mentioned_user_ids->end())
    return true;
  if (find_token(m.body, bot.user_id) != std::string_view::npos)
    return true;
  // The localpart alone: find_token() does not take it from `@hermes-coder:other.org`,
  // another account with the same localpart (`:` and a letter continue the id).
  if (std::string lp = localpart(bot.user_id);
      !lp.empty() && find_token(m.body, lp) != std::string_view::npos)
    return true;
  if (!bot.display_name.empty() && find_token(m.body, bot.display_name) != std::string_view::npos)
    return true;
  return !m.formatted_body.empty() && links_to(m.formatted_body, bot.user_id);
}

std::string strip_mention(std::string_view body, const bot_identity& bot) {
  std::string s(body);
  if (bot.user_id.empty())
    return trim(s);
  std::size_t start = 0;
  while (start < s.size() && ascii_space(s[start]))
    ++start;
  if (std::size_t n = leading_address(s, start, bot); n > 0)
    s.erase(start, n);
  // Hermes `_strip_mention`: every full user id and every `@localpart` token goes.
  for (std::size_t at = find_token(s, bot.user_id); at != std::string::npos;
       at = find_token(s, bot.user_id, at))
    cut(s, at, at + bot.user_id.size());
  if (std::string lp = localpart(bot.user_id); !lp.empty()) {
    std::string token = "@" + lp;
    for (std::size_t at = find_token(s, token); at != std::string::npos;
         at = find_token(s, token, at))
      cut(s, at, at + token.size());
  }
  return trim(s);
}

} // namespace hm::profiles
