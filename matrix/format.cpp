#include "matrix/format.hpp"

#include <algorithm>
#include <memory>

#include <cmark.h>

namespace hm::matrix {

namespace {

struct node_free {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
struct iter_free {
  void operator()(cmark_iter* i) const { cmark_iter_free(i); }
};
using node_ptr = std::unique_ptr<cmark_node, node_free>;
using iter_ptr = std::unique_ptr<cmark_iter, iter_free>;

node_ptr parse(std::string_view markdown) {
  // CMARK_OPT_SAFE and CMARK_OPT_UNSAFE only steer cmark's own renderers, which we do
  // not use; the parser keeps raw HTML as nodes either way and our renderer escapes
  // them. VALIDATE_UTF8 replaces invalid bytes, so the HTML is valid UTF-8 for JSON.
  const char* data = markdown.empty() ? "" : markdown.data();
  node_ptr doc{cmark_parse_document(data, markdown.size(), CMARK_OPT_VALIDATE_UTF8)};
  // cmark splits text at every character that might have started markup ("_", "!");
  // mentions are found in whole text runs.
  cmark_consolidate_text_nodes(doc.get());
  return doc;
}

std::string_view literal(cmark_node* n) {
  const char* s = cmark_node_get_literal(n);
  return s != nullptr ? std::string_view{s} : std::string_view{};
}

std::string_view url_of(cmark_node* n) {
  const char* s = cmark_node_get_url(n);
  return s != nullptr ? std::string_view{s} : std::string_view{};
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// The spec permits http, https, ftp, mailto and magnet; matrix: URIs (spec appendix)
/// are safe too. Anything else, and any relative URL, is refused: an allowlist, so
/// "javascript:", "data:", "JaVaScRiPt:" and "java\tscript:" all fail the same way.
bool allowed_href(std::string_view url) {
  auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(url[0]))
    return false;
  std::string scheme;
  for (char c : url.substr(0, colon)) {
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.')
      return false;
    scheme += lower(c);
  }
  auto rest = url.substr(colon + 1);
  if (scheme == "http" || scheme == "https" || scheme == "ftp")
    return rest.size() > 2 && rest.substr(0, 2) == "//"; // absolute, with a host
  return (scheme == "mailto" || scheme == "magnet" || scheme == "matrix") && !rest.empty();
}

/// mxc://<server name>/<media id>, the only image source the spec allows.
bool allowed_image_src(std::string_view url) {
  constexpr std::string_view prefix = "mxc://";
  if (url.substr(0, prefix.size()) != prefix)
    return false;
  auto rest = url.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size())
    return false;
  auto server_ok = std::all_of(rest.begin(), rest.begin() + static_cast<long>(slash), [](char c) {
    return is_alnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
  auto media_ok = std::all_of(rest.begin() + static_cast<long>(slash) + 1, rest.end(),
                              [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
  return server_ok && media_ok;
}

/// Percent-encodes what may not stand in an href (as cmark's own renderer does), then
/// escapes for the attribute. Already percent-encoded sequences are kept. The scheme is
/// written in lower case, so what a client checks is what allowed_href checked.
std::string href_attribute(std::string_view url) {
  constexpr std::string_view keep = "-_.!~*'();/?:@&=+$,%#";
  constexpr char hex[] = "0123456789ABCDEF";
  std::string encoded;
  auto scheme_length = std::min(url.find(':'), url.size()); // all of it is ASCII (checked)
  for (std::size_t i = 0; i < scheme_length; ++i)
    encoded += lower(url[i]);
  url.remove_prefix(encoded.size());
  for (char c : url) {
    if (is_alnum(c) || keep.find(c) != std::string_view::npos) {
      encoded += c;
    } else {
      auto b = static_cast<unsigned char>(c);
      encoded += '%';
      encoded += hex[b >> 4];
      encoded += hex[b & 0xF];
    }
  }
  return html_escape(encoded);
}

/// "language-<first word of the info string>", when that word is a plausible language
/// name; otherwise no class at all (the only class the spec allows on code).
std::string code_class(cmark_node* n) {
  const char* info = cmark_node_get_fence_info(n);
  if (info == nullptr)
    return {};
  std::string_view word{info};
  word = word.substr(0, word.find_first_of(" \t"));
  if (word.empty() || word.size() > 32)
    return {};
  for (char c : word)
    if (!is_alnum(c) && c != '_' && c != '-' && c != '+' && c != '#' && c != '.')
      return {};
  return "language-" + std::string{word};
}

/// Plain text of a node's children (an image's alt text).
std::string text_of(cmark_node* n) {
  std::string out;
  iter_ptr it{cmark_iter_new(n)};
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it.get())) != CMARK_EVENT_DONE) {
    auto* c = cmark_iter_get_node(it.get());
    if (ev != CMARK_EVENT_ENTER || c == n)
      continue;
    switch (cmark_node_get_type(c)) {
    case CMARK_NODE_TEXT:
    case CMARK_NODE_CODE:
    case CMARK_NODE_HTML_INLINE:
      out += literal(c);
      break;
    case CMARK_NODE_SOFTBREAK:
    case CMARK_NODE_LINEBREAK:
      out += ' ';
      break;
    default:
      break;
    }
  }
  return out;
}

bool mxid_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '=' || c == '-' || c == '/' ||
         c == '+' || c == ':' || c == '[' || c == ']';
}

/// The renderer: walks cmark's AST and writes only allowlisted HTML.
class html_writer {
public:
  explicit html_writer(const std::vector<mention>& mentions) : mentions_{mentions} {}

  rendered_html render(cmark_node* root) {
    iter_ptr it{cmark_iter_new(root)};
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it.get())) != CMARK_EVENT_DONE) {
      auto* n = cmark_iter_get_node(it.get());
      if (ev == CMARK_EVENT_ENTER) {
        // Children already written: go to the node's exit. cmark_iter_reset consumes
        // that exit event itself, so leave() is not called for this node.
        if (enter(n))
          cmark_iter_reset(it.get(), n, CMARK_EVENT_EXIT);
      } else if (ev == CMARK_EVENT_EXIT) {
        leave(n);
      }
    }
    return {std::move(out_), std::move(mentioned_)};
  }

private:
  /// Opens a tag unless the nesting limit is reached; remembers which, for leave().
  void open(std::string_view name, std::string_view attributes = {}) {
    bool write = depth_ < max_html_depth;
    if (write) {
      out_ += '<';
      out_ += name;
      out_ += attributes;
      out_ += '>';
      ++depth_;
    }
    open_.emplace_back(write ? name : std::string_view{});
  }

  /// For containers that write no tag (they still get an exit event).
  void open_nothing() { open_.emplace_back(); }

  void close() {
    auto tag = std::move(open_.back());
    open_.pop_back();
    if (tag.empty())
      return;
    out_ += "</";
    out_ += tag;
    out_ += '>';
    --depth_;
  }

  /// Leaf elements (<hr>, <br>, <img>) count as a level but need no closing tag.
  void leaf(std::string_view tag_with_attributes) {
    if (depth_ < max_html_depth) {
      out_ += '<';
      out_ += tag_with_attributes;
      out_ += '>';
    }
  }

  static bool tight_paragraph(cmark_node* p) {
    auto* item = cmark_node_parent(p);
    if (item == nullptr || cmark_node_get_type(item) != CMARK_NODE_ITEM)
      return false;
    auto* list = cmark_node_parent(item);
    return list != nullptr && cmark_node_get_list_tight(list) != 0;
  }

  /// Returns true when the node's children were written already (skip to its exit).
  bool enter(cmark_node* n) {
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_BLOCK_QUOTE:
      open("blockquote");
      break;
    case CMARK_NODE_LIST:
      if (cmark_node_get_list_type(n) == CMARK_ORDERED_LIST) {
        int start = cmark_node_get_list_start(n);
        open("ol", start == 1 ? std::string{} : " start=\"" + std::to_string(start) + "\"");
      } else {
        open("ul");
      }
      break;
    case CMARK_NODE_ITEM:
      open("li");
      break;
    case CMARK_NODE_PARAGRAPH:
      if (tight_paragraph(n))
        open_nothing(); // no <p> in tight lists, as cmark renders them
      else
        open("p");
      break;
    case CMARK_NODE_HEADING: {
      static constexpr std::string_view headings[] = {"h1", "h2", "h3", "h4", "h5", "h6"};
      int level = std::clamp(cmark_node_get_heading_level(n), 1, 6);
      open(headings[level - 1]);
      break;
    }
    case CMARK_NODE_EMPH:
      open("em");
      break;
    case CMARK_NODE_STRONG:
      open("strong");
      break;
    case CMARK_NODE_LINK:
      enter_link(n);
      break;
    case CMARK_NODE_IMAGE:
      return enter_image(n);
    case CMARK_NODE_CODE_BLOCK: {
      auto cls = code_class(n);
      open("pre");
      open("code", cls.empty() ? std::string{} : " class=\"" + cls + "\"");
      out_ += html_escape(literal(n));
      close();
      close();
      break;
    }
    case CMARK_NODE_HTML_BLOCK:
      // Raw HTML is shown as the text the agent wrote, never interpreted.
      open("p");
      text_with_breaks(literal(n));
      close();
      break;
    case CMARK_NODE_THEMATIC_BREAK:
      leaf("hr");
      break;
    case CMARK_NODE_TEXT:
      text(literal(n));
      break;
    case CMARK_NODE_SOFTBREAK:
    case CMARK_NODE_LINEBREAK:
      leaf("br");
      break;
    case CMARK_NODE_CODE:
      open("code");
      out_ += html_escape(literal(n));
      close();
      break;
    case CMARK_NODE_HTML_INLINE:
      out_ += html_escape(literal(n));
      break;
    case CMARK_NODE_DOCUMENT:
    case CMARK_NODE_CUSTOM_BLOCK:
    case CMARK_NODE_CUSTOM_INLINE:
    default:
      // Only the API makes custom nodes; their on_enter/on_exit HTML is never written.
      open_nothing();
      break;
    }
    return false;
  }

  void leave(cmark_node* n) {
    auto type = cmark_node_get_type(n);
    if ((type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE) && open_.back() == "a")
      --in_link_;
    close();
  }

  void enter_link(cmark_node* n) {
    auto url = url_of(n);
    // Past the depth limit no <a> is written either; in_link_ must then stay as is.
    if (!allowed_href(url) || in_link_ > 0 || depth_ >= max_html_depth) {
      open_nothing(); // the text stays, the link goes
      return;
    }
    open("a", " href=\"" + href_attribute(url) + "\"");
    ++in_link_;
  }

  /// An mxc:// image becomes <img>; any other image is shown as a link to its URL
  /// (when that URL is allowed) with the alt text, so the reader can still reach it.
  bool enter_image(cmark_node* n) {
    auto url = url_of(n);
    if (!allowed_image_src(url)) {
      enter_link(n);
      return false;
    }
    std::string tag = "img src=\"" + html_escape(url) + "\" alt=\"" + html_escape(text_of(n)) + "\"";
    if (const char* title = cmark_node_get_title(n); title != nullptr && *title != '\0')
      tag += " title=\"" + html_escape(title) + "\"";
    leaf(tag);
    return true;
  }

  void text_with_breaks(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
      s.remove_suffix(1);
    std::size_t pos = 0;
    while (pos <= s.size()) {
      auto nl = s.find('\n', pos);
      auto line = s.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      out_ += html_escape(line);
      if (nl == std::string_view::npos)
        break;
      leaf("br");
      pos = nl + 1;
    }
  }

  /// Escaped text; user ids of `mentions_` outside links become pills.
  void text(std::string_view s) {
    if (mentions_.empty() || in_link_ > 0) {
      out_ += html_escape(s);
      return;
    }
    std::size_t done = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '@' || (i > 0 && mxid_char(s[i - 1])))
        continue;
      for (const auto& m : mentions_) {
        if (m.user_id.empty() || s.substr(i, m.user_id.size()) != m.user_id)
          continue;
        auto end = i + m.user_id.size();
        // The id must end here: "@a:b.org" is not a mention inside "@a:b.org.uk" or
        // "@a:b.orgx", but is one before a full stop ending the sentence.
        bool more = end < s.size() &&
                    (mxid_char(s[end]) && !(s[end] == '.' && (end + 1 == s.size() ||
                                                               !is_alnum(s[end + 1]))));
        if (more)
          continue;
        out_ += html_escape(s.substr(done, i - done));
        out_ += mention_pill_html(m.user_id, m.display_name);
        if (std::find(mentioned_.begin(), mentioned_.end(), m.user_id) == mentioned_.end())
          mentioned_.push_back(m.user_id);
        done = end;
        i = end - 1;
        break;
      }
    }
    out_ += html_escape(s.substr(done));
  }

  const std::vector<mention>& mentions_;
  std::string out_;
  std::vector<std::string> mentioned_;
  std::vector<std::string> open_; // per entered container: its tag, or "" when none written
  int depth_ = 0;
  int in_link_ = 0;
};

} // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c; break;
    }
  }
  return out;
}

std::string matrix_to_url(std::string_view identifier) {
  constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "https://matrix.to/#/";
  for (char c : identifier) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      auto b = static_cast<unsigned char>(c);
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 0xF];
    }
  }
  return out;
}

std::string mention_pill_html(std::string_view user_id, std::string_view display_name) {
  return "<a href=\"" + html_escape(matrix_to_url(user_id)) + "\">" +
         html_escape(display_name.empty() ? user_id : display_name) + "</a>";
}

rendered_html markdown_to_html(std::string_view markdown, const std::vector<mention>& mentions) {
  auto doc = parse(markdown);
  return html_writer{mentions}.render(doc.get());
}

bool plain_is_enough(std::string_view markdown) {
  auto doc = parse(markdown);
  // What a reader of the plain body sees: the source lines, trimmed, blank-line runs as
  // one paragraph break. What the HTML would show: the paragraphs' text.
  std::string shown;
  for (auto* block = cmark_node_first_child(doc.get()); block != nullptr;
       block = cmark_node_next(block)) {
    if (cmark_node_get_type(block) != CMARK_NODE_PARAGRAPH)
      return false;
    if (!shown.empty())
      shown += "\n\n";
    for (auto* in = cmark_node_first_child(block); in != nullptr; in = cmark_node_next(in)) {
      auto type = cmark_node_get_type(in);
      if (type == CMARK_NODE_TEXT)
        shown += literal(in);
      else if (type == CMARK_NODE_SOFTBREAK)
        shown += '\n';
      else
        return false;
    }
  }
  std::string source;
  bool blank_pending = false;
  std::size_t pos = 0;
  while (pos <= markdown.size()) {
    auto nl = markdown.find('\n', pos);
    auto line = markdown.substr(pos, nl == std::string_view::npos ? std::string_view::npos
                                                                   : nl - pos);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
      blank_pending = !source.empty();
    } else {
      line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
      if (!source.empty())
        source += blank_pending ? "\n\n" : "\n";
      source += line;
      blank_pending = false;
    }
    if (nl == std::string_view::npos)
      break;
    pos = nl + 1;
  }
  return shown == source;
}

std::string markdown_to_html(std::string_view markdown) {
  return markdown_to_html(markdown, {}).html;
}

outgoing_message formatted_message(std::string_view markdown, message_kind kind,
                                   const std::vector<mention>& mentions) {
  outgoing_message m;
  m.kind = kind;
  m.body = std::string{markdown};
  auto r = markdown_to_html(markdown, mentions);
  if (!r.mentioned_user_ids.empty() || !plain_is_enough(markdown))
    m.formatted_body = std::move(r.html);
  m.mention_user_ids = std::move(r.mentioned_user_ids);
  return m;
}

} // namespace hm::matrix
