#include "matrix/split.hpp"

#include <algorithm>
#include <optional>

namespace hm::matrix {

namespace {

constexpr auto npos = std::string_view::npos;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_space(char c) { return is_blank(c) || c == '\n'; }
bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

/// A fenced code block of the source, by byte offsets.
struct fence {
  std::size_t open_begin;  // start of the opening line
  std::size_t open_nl;     // its newline (text size when it has none)
  std::size_t close_begin; // start of the closing line (text size when unclosed)
  std::size_t close_nl;    // its newline (text size when none)
  std::string reopen;      // the opening line again, with its newline
  std::string close;       // newline and the marker, ending a part inside the fence
};

struct marker {
  std::size_t end; // just after the run of ` or ~
  char ch;
  std::size_t len;
};

/// CommonMark fence line: at most 3 spaces of indentation, then 3 or more ` or ~.
std::optional<marker> marker_of(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && i < 4 && line[i] == ' ')
    ++i;
  if (i > 3 || i >= line.size() || (line[i] != '`' && line[i] != '~'))
    return std::nullopt;
  std::size_t j = i;
  while (j < line.size() && line[j] == line[i])
    ++j;
  if (j - i < 3)
    return std::nullopt;
  return marker{j, line[i], j - i};
}

std::string_view trim_cr(std::string_view line) {
  while (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return line;
}

/// The fences worth reopening: those whose lines take at most half of max_len.
std::vector<fence> find_fences(std::string_view text, std::size_t max_len) {
  std::vector<fence> found;
  std::optional<fence> open;
  marker opener{};
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    auto end = nl == npos ? text.size() : nl;
    auto line = text.substr(pos, end - pos);
    auto m = marker_of(line);
    if (!open && m && !(m->ch == '`' && line.find('`', m->end) != npos)) {
      opener = *m;
      open = fence{pos, end, text.size(), text.size(),
                   std::string{trim_cr(line)} + "\n", "\n" + std::string(m->len, m->ch)};
    } else if (open && m && m->ch == opener.ch && m->len >= opener.len &&
               line.find_first_not_of(" \t\r", m->end) == npos) {
      open->close_begin = pos;
      open->close_nl = end;
      found.push_back(std::move(*open));
      open.reset();
    }
    if (nl == npos)
      break;
    pos = nl + 1;
  }
  if (open)
    found.push_back(std::move(*open));
  // The source's opening line counts too: no part may end inside it, so a window must
  // reach past it.
  std::erase_if(found, [max_len](const fence& f) {
    auto opening = std::max(f.reopen.size(), f.open_nl + 1 - f.open_begin);
    return 2 * (opening + f.close.size()) > max_len;
  });
  return found;
}

class splitter {
public:
  splitter(std::string_view text, std::size_t max_len)
    : text_{text}, max_{max_len}, fences_{find_fences(text, max_len)},
      inside_(text.size() + 1, -1), bad_end_(text.size() + 1, false),
      bad_start_(text.size() + 1, false) {
    for (std::size_t k = 0; k < fences_.size(); ++k) {
      const auto& f = fences_[k];
      for (auto p = std::min(f.open_nl + 1, text.size()); p < f.close_begin; ++p)
        inside_[p] = static_cast<int>(k);
      // A part may not end or start in a fence line, nor end right after the opening
      // line (an empty code block); nor may a part start at a closing line (it would
      // open a new fence there).
      for (auto p = f.open_begin + 1; p <= f.open_nl && p <= text.size(); ++p)
        bad_end_[p] = bad_start_[p] = true;
      for (auto p = f.close_begin + 1; p < f.close_nl; ++p)
        bad_end_[p] = bad_start_[p] = true;
      if (f.close_begin < text.size())
        bad_start_[f.close_begin] = true;
    }
  }

  std::vector<std::string> run() {
    std::vector<std::string> parts;
    std::size_t pos = 0;
    while (pos < text_.size() && !only_space(pos)) {
      auto carried = inside_[pos];
      std::string_view prefix = carried >= 0 ? fences_[carried].reopen : std::string_view{};
      if (prefix.size() + (text_.size() - pos) <= max_) {
        parts.push_back(std::string{prefix} + std::string{text_.substr(pos)});
        break;
      }
      auto [end, next, no_fences] = choose(pos, prefix.size());
      auto closing = next < text_.size() && !no_fences ? inside_[next] : -1;
      std::string part{prefix};
      part += text_.substr(pos, end - pos);
      if (closing >= 0)
        part += fences_[closing].close;
      parts.push_back(std::move(part));
      pos = next;
    }
    return parts;
  }

private:
  struct cut {
    std::size_t end;  // the part ends here (exclusive)
    std::size_t next; // the next part starts here; [end, next) is whitespace
    bool no_fences = false; // the last resort: no closing fence line is added
  };

  bool only_space(std::size_t pos) const {
    return std::all_of(text_.begin() + static_cast<long>(pos), text_.end(), is_space);
  }

  bool fits(std::size_t pos, std::size_t prefix, cut c) const {
    if (c.end <= pos || bad_end_[c.end] || bad_start_[c.next])
      return false;
    auto closing = c.next < text_.size() ? inside_[c.next] : -1;
    auto size = prefix + (c.end - pos) + (closing >= 0 ? fences_[closing].close.size() : 0);
    return size <= max_;
  }

  /// The cut at the newline `nl`. In code the line's spaces are kept; elsewhere the
  /// part's trailing spaces and any blank lines after it are dropped (not the
  /// indentation of the next line: it may be an indented code block).
  cut line_cut(std::size_t nl, bool& paragraph) const {
    paragraph = false;
    if (inside_[nl] >= 0)
      return {nl, nl + 1};
    auto end = nl;
    while (end > 0 && is_space(text_[end - 1]))
      --end;
    auto next = nl + 1;
    for (;;) { // skip whole blank lines
      auto probe = next;
      while (probe < text_.size() && is_blank(text_[probe]))
        ++probe;
      if (probe < text_.size() && text_[probe] == '\n') {
        paragraph = true;
        next = probe + 1;
      } else {
        break;
      }
    }
    return {end, next};
  }

  cut choose(std::size_t pos, std::size_t prefix) const {
    auto limit = std::min(text_.size(), pos + (max_ - prefix));
    auto half = pos + (max_ - prefix) / 2;
    std::optional<cut> paragraph, line, word, any;
    for (auto i = std::min(limit, text_.size() - 1); i > pos; --i) {
      std::optional<cut> c;
      bool is_paragraph = false;
      if (text_[i] == '\n') {
        c = line_cut(i, is_paragraph);
      } else if ((text_[i] == ' ' || text_[i] == '\t') && !is_space(text_[i - 1])) {
        auto next = i;
        while (next < text_.size() && (text_[next] == ' ' || text_[next] == '\t'))
          ++next;
        if (next < text_.size() && !is_space(text_[next]))
          c = cut{i, next};
        else
          continue;
      } else {
        continue;
      }
      if (!fits(pos, prefix, *c))
        continue;
      if (!any)
        any = c;
      if (c->end < half)
        break; // a better kind of cut far back would make a small part: take `any`
      auto& slot = text_[i] != '\n' ? word : is_paragraph ? paragraph : line;
      if (!slot)
        slot = c;
      if (paragraph)
        break;
    }
    for (const auto& c : {paragraph, line, word, any})
      if (c)
        return *c;
    return hard_cut(pos, prefix, limit);
  }

  /// Whether a cut at p keeps every code point whole. In invalid UTF-8 (a run of more
  /// than 3 continuation bytes) any offset 3 bytes past a lead byte will do.
  bool boundary(std::size_t p) const {
    if (p >= text_.size() || !is_continuation(text_[p]))
      return true;
    return p >= 3 && is_continuation(text_[p - 1]) && is_continuation(text_[p - 2]) &&
           is_continuation(text_[p - 3]);
  }

  /// Inside a word: the last code point boundary that fits.
  cut hard_cut(std::size_t pos, std::size_t prefix, std::size_t limit) const {
    for (auto p = limit; p > pos; --p)
      if (boundary(p) && fits(pos, prefix, {p, p}))
        return {p, p};
    // Nothing fits around the fences: cut without them (pos + 1 keeps progress).
    auto p = limit;
    while (p > pos + 1 && !boundary(p))
      --p;
    p = std::max(p, pos + 1);
    return {p, p, true};
  }

  std::string_view text_;
  std::size_t max_;
  std::vector<fence> fences_;
  std::vector<int> inside_;     // per offset: the fence whose code holds it, or -1
  std::vector<bool> bad_end_;   // per offset: no part may end here
  std::vector<bool> bad_start_; // per offset: no part may start here
};

} // namespace

std::vector<std::string> split_message(std::string_view markdown, std::size_t max_len) {
  return splitter{markdown, std::max(max_len, min_split_length)}.run();
}

} // namespace hm::matrix
