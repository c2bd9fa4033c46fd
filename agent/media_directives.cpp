#include "agent/media_directives.hpp"

#include "agent/reply_text.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>

namespace hm::agent {

namespace {

/// Longer than any path a file system takes (PATH_MAX): an unquoted path is looked for
/// no further, so a line of text cannot make the scanner wander.
constexpr std::size_t max_path_bytes = 4096;

/// Hermes' MEDIA_DELIVERY_EXTS (gateway/platforms/base.py): the extensions a path must
/// end on to be sent. It is wider than `_TOOL_MEDIA_RE`'s list, which Hermes grew it
/// from; a .json or .html the agent made is a file a person expects to get.
constexpr std::array<std::string_view, 58> deliverable_extensions{
  "png", "jpg", "jpeg", "gif", "webp", "bmp", "tiff", "svg",
  "mp4", "mov", "avi", "mkv", "webm", "3gp",
  "mp3", "m2a", "wav", "ogg", "opus", "m4a", "flac",
  "pdf", "docx", "doc", "odt", "rtf", "txt", "md", "epub",
  "xlsx", "xls", "ods", "csv", "tsv", "json", "xml", "yaml", "yml",
  "kmz", "kml", "geojson", "gpx",
  "pptx", "ppt", "odp", "key",
  "zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "apk", "ipa",
  "html", "htm"};

constexpr std::string_view voice_tag = "[[audio_as_voice]]";
constexpr std::string_view document_tag = "[[as_document]]";
constexpr std::string_view keyword = "media:";

/// Sentence punctuation of CJK text that may follow a path without a space.
constexpr std::array<std::string_view, 12> wide_punctuation{
  "。", "，", "；", "：", "、", "！", "？", "）", "】", "》", "」", "』"};

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool ascii_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

bool blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), space);
}

/// `MEDIA:` (any case) starts at `at`.
bool keyword_at(std::string_view text, std::size_t at) {
  if (text.size() - at < keyword.size())
    return false;
  for (std::size_t i = 0; i < keyword.size(); ++i)
    if (ascii_lower(text[at + i]) != keyword[i])
      return false;
  return true;
}

bool deliverable(std::string_view ext) {
  if (ext.empty() || ext.size() > 7)
    return false;
  std::string lower;
  for (char c : ext)
    lower += ascii_lower(c);
  return std::find(deliverable_extensions.begin(), deliverable_extensions.end(), lower)
         != deliverable_extensions.end();
}

/// Length of the anchor a path starts with (`/`, `~/`, `C:\`, `C:/`), 0 when none.
std::size_t anchor_length(std::string_view s) {
  if (s.starts_with("/"))
    return 1;
  if (s.starts_with("~/"))
    return 2;
  if (s.size() >= 3 && ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))
      && s[1] == ':' && (s[2] == '/' || s[2] == '\\'))
    return 3;
  return 0;
}

// --- examples: where a MEDIA: is shown, not meant ---------------------------------

struct fence {
  char mark = 0; ///< '`' or '~'; 0 when none is open
  std::size_t length = 0;
};

std::size_t indent_of(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == ' ')
    ++n;
  return n;
}

/// The fence a line opens (CommonMark: at most 3 spaces, 3 or more ` or ~, and a
/// backtick fence's info string holds no backtick).
std::optional<fence> opening_fence(std::string_view line) {
  auto indent = indent_of(line);
  if (indent > 3 || indent >= line.size() || (line[indent] != '`' && line[indent] != '~'))
    return std::nullopt;
  char mark = line[indent];
  auto run = line.find_first_not_of(mark, indent);
  std::size_t length = (run == std::string_view::npos ? line.size() : run) - indent;
  if (length < 3)
    return std::nullopt;
  if (mark == '`' && run != std::string_view::npos
      && line.find('`', run) != std::string_view::npos)
    return std::nullopt;
  return fence{mark, length};
}

bool closes(std::string_view line, const fence& open) {
  auto indent = indent_of(line);
  if (indent > 3)
    return false;
  auto run = line.find_first_not_of(open.mark, indent);
  std::size_t length = (run == std::string_view::npos ? line.size() : run) - indent;
  return length >= open.length
         && (run == std::string_view::npos || blank(line.substr(run)));
}

/// A `"` at `at` opens a JSON string value: it follows `[`, `{`, a key's `":`, or a
/// `,` inside brackets. A stored earlier reply inside a tool result looks like that,
/// and its MEDIA: must not send the file again (Hermes #34375).
bool json_value_starts(std::string_view text, std::size_t at, int depth) {
  auto before = text.find_last_not_of(" \t\r\n", at == 0 ? 0 : at - 1);
  if (at == 0 || before == std::string_view::npos)
    return false;
  char c = text[before];
  if (c == '[' || c == '{')
    return true;
  if (c == ',')
    return depth > 0;
  if (c != ':' || before == 0)
    return false;
  auto key_end = text.find_last_not_of(" \t", before - 1);
  return key_end != std::string_view::npos && text[key_end] == '"';
}

/// Marks the code spans and JSON string values of the line [from, to).
void shield_spans(std::string_view text, std::size_t from, std::size_t to, int& depth,
                  std::vector<bool>& shielded) {
  auto mark = [&](std::size_t a, std::size_t b) {
    std::fill(shielded.begin() + static_cast<std::ptrdiff_t>(a),
              shielded.begin() + static_cast<std::ptrdiff_t>(b), true);
  };
  std::size_t i = from;
  while (i < to) {
    char c = text[i];
    if (c == '`') {
      // A code span closes with a run of exactly as many backticks; without one the
      // backticks are text.
      std::size_t run = i;
      while (run < to && text[run] == '`')
        ++run;
      std::size_t length = run - i;
      std::size_t j = run;
      std::optional<std::size_t> close;
      while (j < to) {
        if (text[j] != '`') {
          ++j;
          continue;
        }
        std::size_t k = j;
        while (k < to && text[k] == '`')
          ++k;
        if (k - j == length) {
          close = k;
          break;
        }
        j = k;
      }
      if (close) {
        mark(i, *close);
        i = *close;
      } else {
        i = run;
      }
      continue;
    }
    if (c == '"' && json_value_starts(text, i, depth)) {
      std::size_t j = i + 1;
      while (j < to && text[j] != '"')
        j += text[j] == '\\' ? 2 : 1;
      if (j < to) {
        mark(i, j + 1);
        i = j + 1;
        continue;
      }
    }
    if (c == '[' || c == '{')
      ++depth;
    else if ((c == ']' || c == '}') && depth > 0)
      --depth;
    ++i;
  }
}

/// true for every byte of a fenced code block, a blockquote line, an inline code span
/// or a JSON string value: a MEDIA: there is an example (Hermes #35695, #34375).
std::vector<bool> examples(std::string_view text) {
  std::vector<bool> shielded(text.size(), false);
  std::optional<fence> open;
  int depth = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = std::min(text.find('\n', pos), text.size());
    auto line = text.substr(pos, eol - pos);
    auto whole_line = [&] {
      std::fill(shielded.begin() + static_cast<std::ptrdiff_t>(pos),
                shielded.begin() + static_cast<std::ptrdiff_t>(eol), true);
    };
    if (open) {
      whole_line();
      if (closes(line, *open))
        open.reset();
    } else if ((open = opening_fence(line))) {
      whole_line();
      depth = 0;
    } else if (auto indent = indent_of(line); indent <= 3 && indent < line.size()
                                              && line[indent] == '>') {
      whole_line();
    } else if (blank(line)) {
      depth = 0;
    } else {
      shield_spans(text, pos, eol, depth, shielded);
    }
    pos = eol + 1;
  }
  return shielded;
}

// --- directives ------------------------------------------------------------------

/// A part of the text to remove: a directive with its wrappers, or a tag.
struct cut {
  std::size_t begin;
  std::size_t end;
};

struct directive_span {
  cut span;
  std::string path;
};

/// Whether an unquoted path may end at `at` (right after its extension).
bool path_ends_at(std::string_view text, std::size_t at, std::string_view closing) {
  if (at >= text.size())
    return true;
  char c = text[at];
  if (space(c) || std::string_view{"`\"',;:)]}"}.find(c) != std::string_view::npos)
    return true;
  if (c == '.' || c == '!' || c == '?') // the end of the sentence
    return at + 1 == text.size() || space(text[at + 1])
           || std::string_view{"\"')]}*_"}.find(text[at + 1]) != std::string_view::npos;
  if (!closing.empty() && text.substr(at).starts_with(closing))
    return true; // **MEDIA:/x.png**
  if (keyword_at(text, at))
    return true;
  // Symbols, arrows, dashes (U+2000-U+2FFF) and emoji (U+1xxxx) are no part of a name.
  auto lead = static_cast<unsigned char>(c);
  if (lead == 0xE2 || lead == 0xF0)
    return true;
  auto rest = text.substr(at);
  return std::any_of(wide_punctuation.begin(), wide_punctuation.end(),
                     [&](std::string_view p) { return rest.starts_with(p); });
}

/// A quoted path ('…', "…", `…`) starting at `open`: what is inside, trimmed, when it
/// is anchored and ends on a deliverable extension. Sets `end` past the closing quote.
std::optional<std::string> quoted_path(std::string_view text, std::size_t open,
                                       std::size_t& end) {
  char quote = text[open];
  std::size_t limit = std::min(text.size(), open + 1 + max_path_bytes);
  std::size_t close = open + 1;
  while (close < limit && text[close] != quote && text[close] != '\n'
         && !keyword_at(text, close))
    ++close;
  if (close >= limit || text[close] != quote)
    return std::nullopt;
  auto inner = text.substr(open + 1, close - open - 1);
  auto first = inner.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return std::nullopt;
  inner = inner.substr(first, inner.find_last_not_of(" \t") - first + 1);
  auto dot = inner.rfind('.');
  auto slash = inner.find_last_of("/\\");
  if (anchor_length(inner) == 0 || dot == std::string_view::npos
      || (slash != std::string_view::npos && dot < slash) || !deliverable(inner.substr(dot + 1)))
    return std::nullopt;
  end = close + 1;
  return std::string{inner};
}

/// An unquoted path at `start`: anchored, then up to the first deliverable extension
/// that a delimiter follows (so it may hold spaces, as "/tmp/Jane Doe/speech.flac").
std::optional<std::string> bare_path(std::string_view text, std::size_t start,
                                     std::string_view closing, std::size_t& end) {
  auto anchor = anchor_length(text.substr(start, 3));
  if (anchor == 0 || start + anchor >= text.size() || space(text[start + anchor]))
    return std::nullopt;
  std::size_t limit = std::min(text.size(), start + max_path_bytes);
  for (std::size_t k = start + anchor; k < limit; ++k) {
    char c = text[k];
    if (c == '\n' || c == '\r' || keyword_at(text, k))
      return std::nullopt;
    if (c != '.')
      continue;
    std::size_t ext_end = k + 1;
    while (ext_end < text.size() && ascii_alnum(text[ext_end]) && ext_end - k <= 8)
      ++ext_end;
    if (deliverable(text.substr(k + 1, ext_end - k - 1)) && path_ends_at(text, ext_end, closing)) {
      end = ext_end;
      return std::string{text.substr(start, ext_end - start)};
    }
  }
  return std::nullopt;
}

/// The directive whose `MEDIA:` starts at `at`, with the quotes, backticks or emphasis
/// around it (Hermes: `[`"']?MEDIA:…[`"']?`, and `**MEDIA:…**`).
std::optional<directive_span> directive_at(std::string_view text, std::size_t at) {
  std::size_t begin = at;
  while (begin > 0 && at - begin < 3
         && std::string_view{"*_`\"'"}.find(text[begin - 1]) != std::string_view::npos)
    --begin;
  std::string closing{text.substr(begin, at - begin)};
  std::reverse(closing.begin(), closing.end());
  std::size_t value = at + keyword.size();
  while (value < text.size() && (text[value] == ' ' || text[value] == '\t'))
    ++value;
  if (value >= text.size())
    return std::nullopt;
  std::size_t end = 0;
  std::optional<std::string> path;
  char first = text[value];
  if (first == '"' || first == '\'' || first == '`')
    path = quoted_path(text, value, end);
  else
    path = bare_path(text, value, closing, end);
  if (!path)
    return std::nullopt;
  for (char c : closing) { // what wraps the directive goes with it
    if (end >= text.size() || text[end] != c)
      break;
    ++end;
  }
  return directive_span{{begin, end}, std::move(*path)};
}

struct parsed {
  std::vector<bool> shielded;
  std::vector<cut> cuts; ///< in order, not overlapping, none across a line break
  media_directives found;
};

parsed parse(std::string_view text) {
  parsed p{examples(text), {}, {}};
  auto& found = p.found;
  std::size_t i = 0;
  while (i < text.size()) {
    if (p.shielded[i]) {
      ++i;
      continue;
    }
    auto rest = text.substr(i);
    if (rest.starts_with(voice_tag) || rest.starts_with(document_tag)) {
      bool voice = rest.starts_with(voice_tag);
      (voice ? found.as_voice : found.as_document) = true;
      auto length = voice ? voice_tag.size() : document_tag.size();
      p.cuts.push_back({i, i + length});
      i += length;
      continue;
    }
    if (keyword_at(text, i) && (i == 0 || !ascii_alnum(text[i - 1]))) {
      if (auto d = directive_at(text, i)) {
        auto begin = std::max(d->span.begin, p.cuts.empty() ? std::size_t{0} : p.cuts.back().end);
        p.cuts.push_back({begin, d->span.end});
        media_directive file{std::move(d->path)};
        if (std::find(found.files.begin(), found.files.end(), file) == found.files.end())
          found.files.push_back(std::move(file));
        i = d->span.end;
        continue;
      }
      i += keyword.size();
      continue;
    }
    ++i;
  }
  return p;
}

/// `text` without `cuts`. A line a cut leaves blank goes, and so does a blank line it
/// would leave next to another one, so no gap is left where a directive stood; lines
/// without a cut (code blocks included) stay as they were.
std::string without(std::string_view text, const std::vector<cut>& cuts) {
  if (cuts.empty())
    return std::string{text};
  std::string out;
  bool emitted = false;
  bool last_blank = false;
  bool dropped = false;
  auto next_cut = cuts.begin();
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto eol = std::min(text.find('\n', pos), text.size());
    std::string line;
    bool cut_here = false;
    std::size_t from = pos;
    while (next_cut != cuts.end() && next_cut->begin < eol) {
      line.append(text.substr(from, next_cut->begin - from));
      from = next_cut->end;
      cut_here = true;
      ++next_cut;
      // One space where the directive stood between two words, none at either end.
      bool left_open = line.empty() || line.back() == ' ' || line.back() == '\t';
      if (left_open)
        while (from < eol && (text[from] == ' ' || text[from] == '\t'))
          ++from;
      // "Your chart: MEDIA:/tmp/chart.png." leaves "Your chart:", not "Your chart: .".
      auto after = text.substr(from, eol - from);
      auto kept = after.find_first_not_of(".,;!? \t\r");
      if (kept == std::string_view::npos && after.find_first_not_of(" \t\r") != std::string_view::npos
          && (next_cut == cuts.end() || next_cut->begin >= eol))
        from = eol;
    }
    line.append(text.substr(from, eol - from));
    if (cut_here) {
      auto last = line.find_last_not_of(" \t");
      line.resize(last == std::string::npos ? 0 : last + 1);
    }
    bool is_blank = blank(line);
    if (cut_here && is_blank) {
      dropped = true;
    } else if (!(is_blank && dropped && (last_blank || !emitted))) {
      if (emitted)
        out += '\n';
      out += line;
      emitted = true;
      last_blank = is_blank;
      dropped = false;
    }
    if (eol == text.size())
      break;
    pos = eol + 1;
  }
  return trim_blank_lines(out);
}

/// Where what may become a directive starts at the end of a streaming text: an
/// unfinished `MEDIA:` on the last line, or a last word that may grow into `MEDIA:` or
/// a tag. npos when there is none.
std::size_t unfinished_from(std::string_view text, const parsed& p) {
  auto line_start = text.rfind('\n');
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  auto cut_covers = [&](std::size_t at) {
    return std::any_of(p.cuts.begin(), p.cuts.end(),
                       [&](const cut& c) { return c.begin <= at && at < c.end; });
  };
  auto wrapped_start = [&](std::size_t at) {
    std::size_t begin = at;
    while (begin > line_start && at - begin < 3
           && std::string_view{"*_`\"'"}.find(text[begin - 1]) != std::string_view::npos)
      --begin;
    return begin;
  };
  for (std::size_t i = line_start; i < text.size(); ++i)
    if (!p.shielded[i] && !cut_covers(i) && keyword_at(text, i)
        && (i == 0 || !ascii_alnum(text[i - 1])))
      return wrapped_start(i);
  // The last word: "MEDI" or "[[audio_" may be the start of one.
  auto word = text.find_last_of(" \t\n");
  word = word == std::string_view::npos ? 0 : word + 1;
  std::size_t start = word;
  while (start < text.size() && std::string_view{"*_`\"'"}.find(text[start]) != std::string_view::npos)
    ++start;
  auto tail = text.substr(start);
  if (tail.empty() || start >= text.size() || p.shielded[start] || cut_covers(start))
    return std::string_view::npos;
  bool may_be_keyword = tail.size() < keyword.size()
                        && std::equal(tail.begin(), tail.end(), keyword.begin(),
                                      [](char a, char b) { return ascii_lower(a) == b; });
  bool may_be_tag = voice_tag.starts_with(tail) || document_tag.starts_with(tail);
  if (!may_be_keyword && !may_be_tag) {
    // A tag may also follow a word directly ("done.[[audio_").
    auto bracket = tail.rfind("[[");
    if (bracket == std::string_view::npos)
      return std::string_view::npos;
    auto from = tail.substr(bracket);
    if (!voice_tag.starts_with(from) && !document_tag.starts_with(from))
      return std::string_view::npos;
    return start + bracket;
  }
  return word;
}

} // namespace

media_directives extract_media(std::string_view reply_text) {
  auto p = parse(reply_text);
  p.found.visible_text = without(reply_text, p.cuts);
  return std::move(p.found);
}

std::string hide_partial_media(std::string_view streaming_text) {
  auto p = parse(streaming_text);
  auto from = unfinished_from(streaming_text, p);
  if (from != std::string_view::npos) {
    while (!p.cuts.empty() && p.cuts.back().end > from) {
      from = std::min(from, p.cuts.back().begin);
      p.cuts.pop_back();
    }
    p.cuts.push_back({from, streaming_text.size()});
  }
  return without(streaming_text, p.cuts);
}

} // namespace hm::agent
