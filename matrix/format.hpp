#pragma once

// Markdown (what the agent writes) to the HTML a Matrix client renders in formatted_body.
//
// How it stays safe: we never sanitize HTML text. cmark parses the Markdown into its
// AST and we render that AST ourselves (format.cpp), writing only tags and attributes
// from the spec's allowlist (client-server API, "m.room.message msgtypes"). Raw HTML in
// the Markdown (cmark's HTML block and inline HTML nodes) is written as escaped text, so
// `<script>` reaches the room as the visible characters "<script>", never as a tag. Link
// and image URLs are checked against an allowlist of schemes; a link that fails keeps
// its text and loses the <a>. There is no general HTML parser to get wrong.
//
// Plain cmark 0.30 is CommonMark only: no tables, no ~~strikethrough~~, no task lists
// (those are GFM extensions). They stay visible as their literal Markdown text.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matrix/content.hpp"

namespace hm::matrix {

/// A user to turn into a pill wherever their user id appears in the text.
struct mention {
  std::string user_id;      // @alice:example.org
  std::string display_name; // shown in the pill; the user id when empty
};

/// What markdown_to_html rendered: the HTML, and the users it made pills for.
struct rendered_html {
  std::string html;
  std::vector<std::string> mentioned_user_ids; // in order of first appearance
};

/// CommonMark to allowlisted HTML (see the comment at the top). Soft line breaks become
/// <br>, as chat users expect a newline they typed to stay a newline. Invalid UTF-8 is
/// replaced by U+FFFD. Never emits a tag or attribute outside the spec's allowlist, and
/// never nests tags more than `max_html_depth` deep (the spec's limit is 100).
[[nodiscard]] std::string markdown_to_html(std::string_view markdown);

/// As markdown_to_html, and every occurrence of a mentioned user id in ordinary text
/// (not in code, not inside a link) becomes a pill (mention_pill_html).
[[nodiscard]] rendered_html markdown_to_html(std::string_view markdown,
                                             const std::vector<mention>& mentions);

inline constexpr int max_html_depth = 64;

/// True when the HTML adds nothing to the plain text: the Markdown is only paragraphs of
/// text whose rendering shows exactly what the source shows (no emphasis, code, links,
/// lists, headings, escapes or entities). Then the bot sends `body` alone.
[[nodiscard]] bool plain_is_enough(std::string_view markdown);

/// Escapes text for HTML text and attribute values: & < > " '.
[[nodiscard]] std::string html_escape(std::string_view text);

/// https://matrix.to/#/<id> with the identifier percent-encoded (every byte outside
/// RFC 3986 "unreserved"), as the spec's matrix.to appendix asks: @a:b -> %40a%3Ab.
[[nodiscard]] std::string matrix_to_url(std::string_view identifier);

/// <a href="https://matrix.to/#/%40alice%3Aexample.org">Alice</a>. The display name is
/// escaped; the user id is used when it is empty.
[[nodiscard]] std::string mention_pill_html(std::string_view user_id,
                                            std::string_view display_name);

/// The message the bot sends for a Markdown reply (also for each streamed state of it):
/// body is the Markdown, formatted_body the HTML unless plain_is_enough and nobody was
/// pilled; mention_user_ids the users pilled. For a streaming edit pass the result to
/// edit_content (content.hpp), which adds the "* " fallback prefix to both bodies.
[[nodiscard]] outgoing_message formatted_message(std::string_view markdown,
                                                 message_kind kind,
                                                 const std::vector<mention>& mentions = {});

} // namespace hm::matrix
