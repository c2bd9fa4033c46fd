#define CAF_SUITE format
#include "caf/test/unit_test.hpp"

#include "matrix/format.hpp"

#include <string>

using namespace hm::matrix;

namespace {

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

CAF_TEST(headings_and_emphasis) {
  CAF_CHECK_EQUAL(markdown_to_html("# One\n## Two\n###### Six"),
                  "<h1>One</h1><h2>Two</h2><h6>Six</h6>");
  CAF_CHECK_EQUAL(markdown_to_html("*a* _b_ **c** __d__ `e`"),
                  "<p><em>a</em> <em>b</em> <strong>c</strong> <strong>d</strong> "
                  "<code>e</code></p>");
  CAF_CHECK_EQUAL(markdown_to_html("a\n\n---\n\nb"), "<p>a</p><hr><p>b</p>");
}

CAF_TEST(soft_and_hard_breaks_are_br) {
  CAF_CHECK_EQUAL(markdown_to_html("one\ntwo  \nthree\\\nfour"),
                  "<p>one<br>two<br>three<br>four</p>");
}

CAF_TEST(lists) {
  CAF_CHECK_EQUAL(markdown_to_html("- a\n- b"), "<ul><li>a</li><li>b</li></ul>");
  CAF_CHECK_EQUAL(markdown_to_html("1. a\n2. b"), "<ol><li>a</li><li>b</li></ol>");
  CAF_CHECK_EQUAL(markdown_to_html("7. a\n8. b"), "<ol start=\"7\"><li>a</li><li>b</li></ol>");
  // A loose list keeps its paragraphs.
  CAF_CHECK_EQUAL(markdown_to_html("- a\n\n- b"), "<ul><li><p>a</p></li><li><p>b</p></li></ul>");
  CAF_CHECK_EQUAL(markdown_to_html("- a\n  - b"), "<ul><li>a<ul><li>b</li></ul></li></ul>");
}

CAF_TEST(code_blocks_with_language_class) {
  CAF_CHECK_EQUAL(markdown_to_html("```python\nprint(\"<hi>\")\n```"),
                  "<pre><code class=\"language-python\">print(&quot;&lt;hi&gt;&quot;)\n"
                  "</code></pre>");
  CAF_CHECK_EQUAL(markdown_to_html("~~~c++ extra words\nx\n~~~"),
                  "<pre><code class=\"language-c++\">x\n</code></pre>");
  CAF_CHECK_EQUAL(markdown_to_html("```\nx\n```"), "<pre><code>x\n</code></pre>");
  CAF_CHECK_EQUAL(markdown_to_html("    indented\n"), "<pre><code>indented\n</code></pre>");
  // An info string that could break out of the attribute gets no class at all.
  CAF_CHECK_EQUAL(markdown_to_html("```a\"onclick=x\nx\n```"), "<pre><code>x\n</code></pre>");
  // An unclosed fence (a reply still streaming) runs to the end.
  CAF_CHECK_EQUAL(markdown_to_html("```sh\nls"), "<pre><code class=\"language-sh\">ls\n</code></pre>");
}

CAF_TEST(allowed_links) {
  CAF_CHECK_EQUAL(markdown_to_html("[x](https://example.org/a?b=1&c=2)"),
                  "<p><a href=\"https://example.org/a?b=1&amp;c=2\">x</a></p>");
  CAF_CHECK_EQUAL(markdown_to_html("<http://example.org>"),
                  "<p><a href=\"http://example.org\">http://example.org</a></p>");
  CAF_CHECK_EQUAL(markdown_to_html("[m](mailto:a@example.org) [t](matrix:u/alice:example.org)"),
                  "<p><a href=\"mailto:a@example.org\">m</a> "
                  "<a href=\"matrix:u/alice:example.org\">t</a></p>");
  CAF_CHECK_EQUAL(markdown_to_html("[c](HTTPS://e.org/X)"), "<p><a href=\"https://e.org/X\">c</a></p>");
  CAF_CHECK_EQUAL(markdown_to_html("[p](https://matrix.to/#/%40alice%3Aexample.org)"),
                  "<p><a href=\"https://matrix.to/#/%40alice%3Aexample.org\">p</a></p>");
  // Quotes and spaces in a URL are percent-encoded; titles are not allowed on <a>.
  CAF_CHECK_EQUAL(markdown_to_html("[q](<https://e.org/a b\"c> \"title\")"),
                  "<p><a href=\"https://e.org/a%20b%22c\">q</a></p>");
}

CAF_TEST(forbidden_links_keep_only_their_text) {
  for (auto md : {"[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))",
                  "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](vbscript:msgbox)",
                  "[x](/relative/path)", "[x](//evil.org/)", "[x](file:///etc/passwd)",
                  "[x](java&#x09;script:alert(1))", "[x](https:no-host)"}) {
    CAF_MESSAGE(md);
    CAF_CHECK_EQUAL(markdown_to_html(md), "<p>x</p>");
  }
  CAF_CHECK_EQUAL(markdown_to_html("<javascript:alert(1)>"), "<p>javascript:alert(1)</p>");
}

CAF_TEST(raw_html_is_escaped_text) {
  const char* attacks[] = {
      "<script>alert(1)</script>",
      "x <script>alert(1)</script> y",
      "<img src=x onerror=alert(1)>",
      "a <img src=\"x\" onerror=\"alert('1')\"> b",
      "<iframe src=\"https://evil.org\"></iframe>",
      "<a href=\"javascript:alert(1)\">click</a>",
      "<a href='x' onclick=\"a()\">q</a>",
      "<div onmouseover=\"alert(1)\">hover</div>",
      "<style>body{display:none}</style>",
      "<!-- comment --><p>x</p>",
      "<details><summary>s</summary>body</details>",
  };
  for (auto md : attacks) {
    auto html = markdown_to_html(md);
    CAF_MESSAGE(md << " -> " << html);
    CAF_CHECK(!contains(html, "<script"));
    CAF_CHECK(!contains(html, "<img"));
    CAF_CHECK(!contains(html, "<iframe"));
    CAF_CHECK(!contains(html, "<a "));
    CAF_CHECK(!contains(html, "<div"));
    CAF_CHECK(!contains(html, "<style"));
    CAF_CHECK(!contains(html, "<details"));
    CAF_CHECK(!contains(html, "<!--"));
    CAF_CHECK(!contains(html, "\""));
  }
  CAF_CHECK_EQUAL(markdown_to_html("<script>alert(1)</script>"),
                  "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
  CAF_CHECK_EQUAL(markdown_to_html("a <b onclick=\"x\">b</b>"),
                  "<p>a &lt;b onclick=&quot;x&quot;&gt;b&lt;/b&gt;</p>");
  // A multi-line HTML block keeps its lines.
  CAF_CHECK_EQUAL(markdown_to_html("<div>\nx\n</div>"), "<p>&lt;div&gt;<br>x<br>&lt;/div&gt;</p>");
}

CAF_TEST(images_only_from_mxc) {
  CAF_CHECK_EQUAL(markdown_to_html("![cat](mxc://example.org/abcDEF_12-3 \"A cat\")"),
                  "<p><img src=\"mxc://example.org/abcDEF_12-3\" alt=\"cat\" title=\"A cat\"></p>");
  CAF_CHECK_EQUAL(markdown_to_html("![a *b*](mxc://example.org/x)"),
                  "<p><img src=\"mxc://example.org/x\" alt=\"a b\"></p>");
  // Elsewhere the image becomes a link to it (when the URL is allowed) or its alt text.
  CAF_CHECK_EQUAL(markdown_to_html("![chart](https://e.org/c.png)"),
                  "<p><a href=\"https://e.org/c.png\">chart</a></p>");
  CAF_CHECK_EQUAL(markdown_to_html("![x](javascript:alert(1))"), "<p>x</p>");
  CAF_CHECK_EQUAL(markdown_to_html("![x](data:image/png;base64,AAAA)"), "<p>x</p>");
  CAF_CHECK_EQUAL(markdown_to_html("![x](mxc://example.org/a\"b)"), "<p>x</p>");
  CAF_CHECK_EQUAL(markdown_to_html("![x](mxc://example.org/)"), "<p>x</p>");
  CAF_CHECK_EQUAL(markdown_to_html("![alt \" onerror=1](mxc://e.org/a)"),
                  "<p><img src=\"mxc://e.org/a\" alt=\"alt &quot; onerror=1\"></p>");
}

CAF_TEST(no_tables_or_strikethrough_in_plain_commonmark) {
  // cmark 0.30 is CommonMark without the GFM extensions: the table stays its text.
  CAF_CHECK_EQUAL(markdown_to_html("| a | b |\n|---|---|\n| 1 | 2 |"),
                  "<p>| a | b |<br>|---|---|<br>| 1 | 2 |</p>");
  CAF_CHECK_EQUAL(markdown_to_html("~~gone~~"), "<p>~~gone~~</p>");
}

CAF_TEST(nested_blockquotes) {
  CAF_CHECK_EQUAL(markdown_to_html("> a\n>> b\n>>> c"),
                  "<blockquote><p>a</p><blockquote><p>b</p><blockquote><p>c</p>"
                  "</blockquote></blockquote></blockquote>");
}

CAF_TEST(nesting_depth_is_limited) {
  std::string md(500, '>');
  md += " deep";
  auto html = markdown_to_html(md);
  std::size_t opens = 0;
  for (std::size_t p = 0; (p = html.find("<blockquote>", p)) != std::string::npos; ++p)
    ++opens;
  CAF_CHECK_EQUAL(opens, static_cast<std::size_t>(max_html_depth));
  CAF_CHECK(contains(html, "deep"));
  // A link past the limit loses its tag, and links after it still work.
  md = std::string(200, '>') + " [x](https://a.org)\n\n[y](https://b.org)";
  html = markdown_to_html(md);
  CAF_CHECK(!contains(html, "https://a.org"));
  CAF_CHECK(html.ends_with("<p><a href=\"https://b.org\">y</a></p>"));
}

CAF_TEST(entities_and_escapes) {
  CAF_CHECK_EQUAL(markdown_to_html("&amp; &copy; &#35; &lt;b&gt; \\*x\\* a<b 'q'"),
                  "<p>&amp; \xC2\xA9 # &lt;b&gt; *x* a&lt;b &#39;q&#39;</p>");
  CAF_CHECK_EQUAL(markdown_to_html("&#0;"), "<p>\xEF\xBF\xBD</p>");
  // Invalid UTF-8 is replaced, so formatted_body is always valid JSON text.
  CAF_CHECK_EQUAL(markdown_to_html("a\xFF"), "<p>a\xEF\xBF\xBD</p>");
}

CAF_TEST(plain_is_enough_only_for_unformatted_text) {
  CAF_CHECK(plain_is_enough(""));
  CAF_CHECK(plain_is_enough("hello world"));
  CAF_CHECK(plain_is_enough("two\nlines"));
  CAF_CHECK(plain_is_enough("one\n\n\n  two  \n"));
  CAF_CHECK(plain_is_enough("a < b & c > d, 'quoted' \"too\""));
  CAF_CHECK(plain_is_enough("snake_case and 2*3 and x!"));
  CAF_CHECK(!plain_is_enough("*em*"));
  CAF_CHECK(!plain_is_enough("`code`"));
  CAF_CHECK(!plain_is_enough("# heading"));
  CAF_CHECK(!plain_is_enough("- item"));
  CAF_CHECK(!plain_is_enough("> quote"));
  CAF_CHECK(!plain_is_enough("[l](https://e.org)"));
  CAF_CHECK(!plain_is_enough("<https://e.org>"));
  CAF_CHECK(!plain_is_enough("a \\* b")); // the body shows the backslash, HTML does not
  CAF_CHECK(!plain_is_enough("&amp;"));
  CAF_CHECK(!plain_is_enough("<b>x</b>"));
  CAF_CHECK(!plain_is_enough("x\n\n---"));
}

CAF_TEST(html_escape_escapes_five_characters) {
  CAF_CHECK_EQUAL(html_escape("<a href=\"x\">'&'</a>"),
                  "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  CAF_CHECK_EQUAL(html_escape("plain \xC3\xA9"), "plain \xC3\xA9");
}

CAF_TEST(mention_pills) {
  CAF_CHECK_EQUAL(matrix_to_url("@alice:example.org"), "https://matrix.to/#/%40alice%3Aexample.org");
  CAF_CHECK_EQUAL(matrix_to_url("!room/x+y=z:e.org"),
                  "https://matrix.to/#/%21room%2Fx%2By%3Dz%3Ae.org");
  CAF_CHECK_EQUAL(mention_pill_html("@alice:example.org", "Alice <3"),
                  "<a href=\"https://matrix.to/#/%40alice%3Aexample.org\">Alice &lt;3</a>");
  CAF_CHECK_EQUAL(mention_pill_html("@bob:e.org", ""),
                  "<a href=\"https://matrix.to/#/%40bob%3Ae.org\">@bob:e.org</a>");
}

CAF_TEST(mentions_become_pills_in_text_only) {
  std::vector<mention> who{{"@alice:example.org", "Alice"}, {"@bob_x:e.org", ""}};
  auto r = markdown_to_html("Hi @alice:example.org. And @bob_x:e.org, `@alice:example.org`, "
                            "[@alice:example.org](https://e.org), @alice:example.org.uk "
                            "x@alice:example.org @alice:example.orgx",
                            who);
  CAF_CHECK_EQUAL(r.html,
                  "<p>Hi <a href=\"https://matrix.to/#/%40alice%3Aexample.org\">Alice</a>. And "
                  "<a href=\"https://matrix.to/#/%40bob_x%3Ae.org\">@bob_x:e.org</a>, "
                  "<code>@alice:example.org</code>, <a href=\"https://e.org\">@alice:example.org</a>, "
                  "@alice:example.org.uk x@alice:example.org @alice:example.orgx</p>");
  CAF_CHECK_EQUAL(r.mentioned_user_ids,
                  (std::vector<std::string>{"@alice:example.org", "@bob_x:e.org"}));
}

CAF_TEST(formatted_message_sets_formatted_body_when_needed) {
  auto plain = formatted_message("just text", message_kind::notice);
  CAF_CHECK_EQUAL(plain.body, "just text");
  CAF_CHECK(!plain.formatted_body);
  CAF_CHECK(plain.mention_user_ids.empty());
  auto rich = formatted_message("**bold**", message_kind::text);
  CAF_CHECK(rich.kind == message_kind::text);
  CAF_CHECK_EQUAL(rich.formatted_body.value_or(""), "<p><strong>bold</strong></p>");
  auto pinged = formatted_message("thanks @a:e.org", message_kind::notice, {{"@a:e.org", "A"}});
  CAF_CHECK_EQUAL(pinged.formatted_body.value_or(""),
                  "<p>thanks <a href=\"https://matrix.to/#/%40a%3Ae.org\">A</a></p>");
  CAF_CHECK_EQUAL(pinged.mention_user_ids, std::vector<std::string>{"@a:e.org"});
  // Streaming: edit_content adds "* " to both bodies; format does not.
  auto edit = edit_content(rich, "@bot:e.org", "$orig", {});
  CAF_CHECK_EQUAL(edit["formatted_body"], "* <p><strong>bold</strong></p>");
  CAF_CHECK_EQUAL(edit["m.new_content"]["formatted_body"], "<p><strong>bold</strong></p>");
}
