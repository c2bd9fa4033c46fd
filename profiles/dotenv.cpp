#include "profiles/dotenv.hpp"

#include "profiles/dotenv_scan.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

// The grammar follows python-dotenv's parser (src/dotenv/parser.py), which is what
// Hermes reads profiles with, so that we see the same keys and values:
//   binding  := ws* ["export" hws+] key hws* ["=" hws* value] [hws* "#" rest] eol
//   key      := '[^']+' | [^=#\s]+
//   value    := '...' (\\ and \' decoded) | "..." (\\ \' \" \a \b \f \n \r \t \v decoded,
//               may span lines) | unquoted up to the line end, cut at the first
//               whitespace followed by '#', right-trimmed
// Hermes pins python-dotenv 1.2.2; where releases differ, 1.2.2 is followed.
// Differences, on purpose: a line python-dotenv cannot parse is a problem here (it only
// logs a warning), NUL bytes and invalid UTF-8 are problems instead of being decoded
// as latin-1, and after a failed multi-line value we resume on the line after the key
// rather than after the text the quote swallowed, so later lines still count.
// `${VAR}` interpolation (python-dotenv's default) is a separate step,
// interpolate_dotenv, so that parse_dotenv's values are what the file says.

namespace hm::profiles {

const dotenv_entry* dotenv_file::find(std::string_view key) const {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (it->key == key)
      return &*it;
  return nullptr;
}

namespace detail {
namespace {

// Python's \s and str.isspace in the ASCII range: also \x1c-\x1f (file, group, record
// and unit separators).
bool is_hspace(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || (c >= '\x1c' && c <= '\x1f');
}
bool is_space(char c) { return is_hspace(c) || c == '\r' || c == '\n'; }

problem make_problem(problem::severity level, const std::filesystem::path& path, int line,
                     std::string key, std::string message, std::string fix) {
  problem p;
  p.level = level;
  p.file = path;
  p.line = line;
  p.key = std::move(key);
  p.message = std::move(message);
  p.fix = std::move(fix);
  return p;
}

// Where the next closing quote of one kind is, remembered between calls so that a file
// full of unterminated quotes is still scanned in linear time.
class quote_finder {
public:
  quote_finder(std::string_view s, char q) : s_(s), q_(q), last_(s.rfind(q)) {}

  /// python-dotenv's `q((?:\\q|[^q])*)q`, from the opening quote at `open`: the first
  /// quote not preceded by a backslash closes; when there is none, the regex backtracks
  /// to the last quote of the text. npos: unterminated.
  std::size_t close(std::size_t open) {
    std::size_t from = open + 1;
    if (!(cache_from_ <= from && (cache_at_ == npos || from <= cache_at_))) {
      cache_from_ = from;
      cache_at_ = npos;
      for (std::size_t p = from; p < s_.size(); ++p) {
        p = s_.find(q_, p);
        if (p == npos)
          break;
        if (s_[p - 1] != '\\') {
          cache_at_ = p;
          break;
        }
      }
    }
    if (cache_at_ != npos)
      return cache_at_;
    if (last_ != npos && last_ > open) {
      used_fallback = true;
      return last_;
    }
    return npos;
  }

  /// Set once a value was closed by the last-quote fallback: such a file changes
  /// meaning when a quote of the same kind is added after it.
  bool used_fallback = false;

private:
  static constexpr std::size_t npos = std::string_view::npos;
  std::string_view s_;
  char q_;
  std::size_t last_;
  std::size_t cache_from_ = npos;
  std::size_t cache_at_ = npos;
};

class scanner {
public:
  scanner(std::string_view text, const std::filesystem::path& path, problems& issues)
    : s_(text), path_(path), issues_(issues), dq_(text, '"'), sq_(text, '\'') {}

  dotenv_scan run() {
    dotenv_scan out;
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") {
      out.bom = 3;
      pos_ = 3;
    }
    while (pos_ < s_.size()) {
      skip_any_space();
      if (pos_ >= s_.size())
        break;
      binding(out);
    }
    out.fragile = dq_.used_fallback || sq_.used_fallback;
    return out;
  }

private:
  static constexpr std::size_t npos = std::string_view::npos;

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at_eol() const { return pos_ >= s_.size() || s_[pos_] == '\r' || s_[pos_] == '\n'; }

  // Moves to `to`, counting line ends (\r\n, \n or a lone \r, as Python's universal
  // newlines do).
  void advance(std::size_t to) {
    for (; pos_ < to; ++pos_) {
      char c = s_[pos_];
      if (c == '\n' || (c == '\r' && (pos_ + 1 >= s_.size() || s_[pos_ + 1] != '\n')))
        ++line_;
    }
  }
  void skip_any_space() {
    std::size_t p = pos_;
    while (p < s_.size() && is_space(s_[p]))
      ++p;
    advance(p);
  }
  void skip_hspace() {
    while (pos_ < s_.size() && is_hspace(s_[pos_]))
      ++pos_;
  }
  std::size_t line_content_end(std::size_t from) const {
    std::size_t p = s_.find_first_of("\r\n", from);
    return p == npos ? s_.size() : p;
  }
  void skip_line_end() {
    if (pos_ < s_.size() && s_[pos_] == '\r')
      ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '\n')
      ++pos_;
    ++line_;
  }

  void fail(int line, std::size_t start, std::string key, std::string message, std::string fix) {
    issues_.push_back(make_problem(problem::severity::error, path_, line, std::move(key),
                                   std::move(message), std::move(fix)));
    // Resume on the line after the one the assignment started on.
    pos_ = line_content_end(start);
    line_ = line;
    if (pos_ < s_.size())
      skip_line_end();
  }

  void binding(dotenv_scan& out) {
    const std::size_t start = pos_;
    const int line = line_;
    if (peek() == '#') { // a comment line
      std::size_t end = line_content_end(pos_);
      check_bytes(start, end, line, {}, problem::severity::warning);
      pos_ = end;
      return;
    }
    if (s_.compare(pos_, 6, "export") == 0 && pos_ + 6 < s_.size() && is_hspace(s_[pos_ + 6])) {
      pos_ += 6;
      skip_hspace();
    }
    const std::size_t key_start = pos_;
    std::string key;
    if (peek() == '\'') {
      std::size_t close = s_.find_first_of("'\r\n", pos_ + 1);
      if (close == npos || s_[close] != '\'' || close == pos_ + 1)
        return fail(line, start, {}, "the quoted name before '=' is not closed on its line",
                    "write the line as KEY=value");
      key.assign(s_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
    } else {
      std::size_t p = pos_;
      while (p < s_.size() && s_[p] != '=' && s_[p] != '#' && !is_space(s_[p]))
        ++p;
      if (p == pos_)
        return fail(line, start, {}, "there is no name before '='",
                    "write KEY=value, or make the line a comment with '#'");
      key.assign(s_.substr(pos_, p - pos_));
      pos_ = p;
    }
    // Only a well-formed name is echoed: a stray token pasted on its own line must
    // never reach a problem text.
    const std::size_t key_end = pos_;
    std::string shown = portable_key(key) && key.size() <= 128 ? key : std::string{};
    skip_hspace();
    if (peek() != '=') {
      // Without '=' the "name" may be a secret pasted on its own line: name it only
      // when it looks like an environment variable (upper case, with '_').
      if (!env_style(key))
        shown.clear();
      if (peek() == '#')
        pos_ = line_content_end(pos_);
      if (!at_eol())
        return fail(line, start, shown, "expected '=' after the name",
                    "write KEY=value (names cannot contain spaces)");
      issues_.push_back(make_problem(
        problem::severity::warning, path_, line, shown,
        "the line has a name but no '=': it sets nothing and cancels an earlier assignment "
        "of the name (as python-dotenv does)",
        "write KEY=value, or delete the line"));
      if (check_bytes(start, pos_, line, shown, problem::severity::warning)) {
        dotenv_binding b;
        b.key = std::move(key);
        b.no_value = true;
        b.line = line;
        b.start = start;
        b.key_start = key_start;
        b.value_end = key_end;
        b.content_end = pos_;
        out.bindings.push_back(std::move(b));
      }
      return;
    }
    ++pos_; // '='
    const std::size_t before_ws = pos_;
    skip_hspace();
    const bool spaced = pos_ > before_ws;
    std::string value;
    const char c = peek();
    if (c == '"' || c == '\'') {
      const std::size_t open = pos_;
      const std::size_t close = (c == '"' ? dq_ : sq_).close(open);
      if (close == npos)
        return fail(line, start, shown,
                    std::string("the ") + (c == '"' ? "double" : "single") +
                      " quote that starts the value is never closed",
                    std::string("add the closing ") + c + " (a quote inside the value needs a backslash: \\" + c + ")");
      std::string raw = normalize_newlines(s_.substr(open + 1, close - open - 1));
      value = c == '"' ? decode_double(raw) : decode_single(raw);
      advance(close + 1);
      const std::size_t value_end = pos_;
      skip_hspace();
      if (peek() == '#')
        pos_ = line_content_end(pos_);
      if (!at_eol()) {
        bool multi = line_ != line;
        return fail(line, start, shown,
                    multi ? std::string("the quote that starts the value on this line is closed on line ") +
                              std::to_string(line_) + ", and text follows it there"
                          : std::string("text follows the closing quote"),
                    multi ? std::string("close the quote on this line; a quote inside the value needs a backslash")
                          : std::string("put the whole value inside the quotes, or start a comment with ' #'"));
      }
      push(out, std::move(key), std::move(value), line, start, key_start, value_end, shown);
      return;
    }
    const std::size_t end = line_content_end(pos_);
    std::string_view part = s_.substr(pos_, end - pos_);
    if (spaced && !part.empty() && part.front() == '#')
      // python-dotenv 1.2.2 (the version Hermes pins) reads `KEY=  # note` as the value
      // "# note"; later releases read it as empty. Keep 1.2.2's value, but say so.
      issues_.push_back(make_problem(
        problem::severity::warning, path_, line, shown,
        "the value starts with '#' after spaces; Hermes (python-dotenv 1.2.2) reads the '#...' "
        "as the value, not as a comment",
        "write KEY= with nothing after it for an empty value, or quote the value"));
    std::size_t cut = part.size();
    for (std::size_t i = 1; i < part.size(); ++i)
      if (part[i] == '#' && is_hspace(part[i - 1])) {
        cut = i;
        break;
      }
    part = part.substr(0, cut);
    while (!part.empty() && is_hspace(part.back()))
      part.remove_suffix(1);
    value.assign(part);
    pos_ = end;
    const auto value_end = static_cast<std::size_t>(part.data() - s_.data()) + part.size();
    push(out, std::move(key), std::move(value), line, start, key_start, value_end, shown);
  }

  void push(dotenv_scan& out, std::string key, std::string value, int line, std::size_t start,
            std::size_t key_start, std::size_t value_end, const std::string& shown) {
    if (!check_bytes(start, pos_, line, shown, problem::severity::error))
      return;
    if (shown.empty())
      issues_.push_back(make_problem(
        problem::severity::warning, path_, line, {},
        "the name before '=' is not of the form [A-Za-z_][A-Za-z0-9_.]*",
        "rename it; hermes-matrix reads only MATRIX_*, GATEWAY_* and HERMES_MATRIX_* keys"));
    dotenv_binding b;
    b.key = std::move(key);
    b.value = std::move(value);
    b.line = line;
    b.start = start;
    b.key_start = key_start;
    b.value_end = value_end;
    b.content_end = pos_;
    out.bindings.push_back(std::move(b));
  }

  // NUL bytes and invalid UTF-8 are reported (never copied into a value silently).
  // Returns false when the span holds either.
  bool check_bytes(std::size_t from, std::size_t to, int line, const std::string& key,
                   problem::severity level) {
    std::string_view span = s_.substr(from, to - from);
    std::size_t nul = span.find('\0');
    std::size_t bad = invalid_utf8_at(span);
    if (nul == npos && bad == npos)
      return true;
    std::size_t at = std::min(nul, bad);
    int where = line + count_lines(s_.substr(from, at));
    issues_.push_back(make_problem(
      level, path_, where, key,
      at == nul ? "the line contains a NUL byte" : "the line is not valid UTF-8",
      level == problem::severity::error
        ? "retype the value in a plain-text editor and save the file as UTF-8; the line is ignored"
        : "save the file as UTF-8"));
    return false;
  }

  static int count_lines(std::string_view s) {
    int n = 0;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')))
        ++n;
    return n;
  }

  static std::string normalize_newlines(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\r') {
        out += '\n';
        if (i + 1 < raw.size() && raw[i + 1] == '\n')
          ++i;
      } else {
        out += raw[i];
      }
    }
    return out;
  }

  static std::string decode_double(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) {
        char d = 0;
        switch (raw[i + 1]) {
          case '\\': d = '\\'; break;
          case '\'': d = '\''; break;
          case '"': d = '"'; break;
          case 'a': d = '\a'; break;
          case 'b': d = '\b'; break;
          case 'f': d = '\f'; break;
          case 'n': d = '\n'; break;
          case 'r': d = '\r'; break;
          case 't': d = '\t'; break;
          case 'v': d = '\v'; break;
          default: break;
        }
        if (d != 0) {
          out += d;
          ++i;
          continue;
        }
      }
      out += raw[i];
    }
    return out;
  }

  static std::string decode_single(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size() && (raw[i + 1] == '\\' || raw[i + 1] == '\'')) {
        out += raw[++i];
        continue;
      }
      out += raw[i];
    }
    return out;
  }

  std::string_view s_;
  const std::filesystem::path& path_;
  problems& issues_;
  quote_finder dq_;
  quote_finder sq_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

} // namespace

bool env_style(std::string_view key) {
  if (key.empty() || key.size() > 64 || key.find('_') == std::string_view::npos ||
      !((key[0] >= 'A' && key[0] <= 'Z') || key[0] == '_'))
    return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool portable_key(std::string_view key) {
  if (key.empty())
    return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(key[0]))
    return false;
  for (char c : key)
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '.')
      return false;
  return true;
}

std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned min = 0;
    unsigned cp = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2; min = 0x80; cp = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3; min = 0x800; cp = b & 0x0Fu;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4; min = 0x10000; cp = b & 0x07u;
    } else {
      return i;
    }
    if (i + len > s.size())
      return i;
    for (std::size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0u) != 0x80u)
        return i;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

dotenv_scan scan_dotenv(std::string_view text, const std::filesystem::path& path,
                        problems& issues) {
  return scanner(text, path, issues).run();
}

} // namespace detail

dotenv_file parse_dotenv(std::string_view text, const std::filesystem::path& path) {
  dotenv_file out;
  out.path = path;
  auto scan = detail::scan_dotenv(text, path, out.issues);
  std::map<std::string, int, std::less<>> seen; // key -> line of its latest assignment
  for (auto& b : scan.bindings) {
    if (b.no_value) {
      // python-dotenv maps a bare `KEY` to None, and load_dotenv skips None: whatever
      // an earlier line assigned is gone.
      std::erase_if(out.entries, [&](const dotenv_entry& e) { return e.key == b.key; });
      seen.erase(b.key);
      continue;
    }
    auto [it, fresh] = seen.emplace(b.key, b.line);
    if (!fresh) {
      if (detail::portable_key(b.key))
        out.issues.push_back(detail::make_problem(
          problem::severity::warning, path, b.line, b.key,
          "also set on line " + std::to_string(it->second) + "; the value from line " +
            std::to_string(b.line) + " is used",
          "delete the line that should not count"));
      it->second = b.line;
    }
    out.entries.push_back(dotenv_entry{std::move(b.key), std::move(b.value), b.line});
  }
  return out;
}

void interpolate_dotenv(
  dotenv_file& file,
  const std::function<std::optional<std::string>(const std::string&)>& environment) {
  std::map<std::string, std::string, std::less<>> resolved; // earlier lines win over the environment
  for (auto& e : file.entries) {
    const std::string& v = e.value;
    std::string out;
    std::size_t cursor = 0;
    std::size_t at = 0;
    // python-dotenv: \$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}, scanned left to right.
    while ((at = v.find("${", at)) != std::string::npos) {
      std::size_t p = at + 2;
      while (p < v.size() && v[p] != '}' && v[p] != ':')
        ++p;
      std::string name = v.substr(at + 2, p - at - 2);
      std::optional<std::string> fallback;
      if (p < v.size() && v[p] == ':') {
        if (p + 1 >= v.size() || v[p + 1] != '-') {
          ++at;
          continue;
        }
        std::size_t close = v.find('}', p + 2);
        if (close == std::string::npos) {
          ++at;
          continue;
        }
        fallback = v.substr(p + 2, close - p - 2);
        p = close;
      }
      if (p >= v.size()) {
        ++at;
        continue;
      }
      out.append(v, cursor, at - cursor);
      if (auto it = resolved.find(name); it != resolved.end())
        out += it->second;
      else if (auto env = environment(name))
        out += *env;
      else if (fallback)
        out += *fallback;
      else if (detail::portable_key(name))
        file.issues.push_back(detail::make_problem(
          problem::severity::warning, file.path, e.line, e.key,
          "refers to ${" + name + "}, which is neither set earlier in the file nor in the environment; it becomes empty",
          "set " + name + " first, or write ${" + name + ":-default}"));
      cursor = at = p + 1;
    }
    if (cursor > 0) {
      out.append(v, cursor, std::string::npos);
      e.value = std::move(out);
    }
    resolved[e.key] = e.value;
  }
}

dotenv_file read_dotenv(const std::filesystem::path& path) {
  constexpr std::uintmax_t max_size = 16u << 20; // far beyond any real .env
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    dotenv_file out;
    out.path = path;
    out.issues.push_back(detail::make_problem(problem::severity::error, path, 0, {},
                                              std::string("cannot be read: ") + std::strerror(err),
                                              "check that the file exists and is readable"));
    return out;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_size) {
      dotenv_file out;
      out.path = path;
      out.issues.push_back(detail::make_problem(problem::severity::error, path, 0, {},
                                                "is larger than 16 MiB",
                                                "a .env file holds settings only; trim it"));
      return out;
    }
  }
  return parse_dotenv(text, path);
}

} // namespace hm::profiles
