#pragma once

// The files the agent asks to send, in the words of its reply. Hermes' agent names a
// file by `MEDIA:<path>` (gateway/platforms/base.py `extract_media`, gateway/run.py
// `_TOOL_MEDIA_RE`) and makes audio a voice message with `[[audio_as_voice]]`; the
// gateway sends the files and shows the rest of the text. What counts, as Hermes counts
// it:
//   - the path is anchored (`/`, `~/`, or a Windows drive `C:\` / `C:/`) and ends on a
//     deliverable extension (Hermes' MEDIA_DELIVERY_EXTS); an unquoted path may hold
//     spaces, it ends at the first such extension followed by a delimiter;
//   - `MEDIA:` may be followed by spaces and the path may be quoted ('…', "…", `…`);
//     quotes, backticks or markdown emphasis (`**MEDIA:/x.png**`) around it go with it;
//   - an example the agent shows is not a request: `MEDIA:` inside a fenced code block,
//     an inline code span, a blockquote or a JSON string value (a stored earlier reply)
//     is left alone and stays in the text verbatim;
//   - a `MEDIA:` whose path has no deliverable extension is no directive and is shown;
//   - `[[as_document]]` (send images as files) is removed like `[[audio_as_voice]]`.
// A hand-written scanner, linear in the text: the streaming reply is checked on every
// edit, and the text is the agent's (anyone who talks to it can steer it).

#include <string>
#include <string_view>
#include <vector>

namespace hm::agent {

struct media_directive {
  /// As written, quotes removed: `~/` is kept (the caller expands it against
  /// HERMES_HOME), and so is a Windows path (which the store then refuses).
  std::string path;

  friend bool operator==(const media_directive&, const media_directive&) = default;
};

struct media_directives {
  std::string visible_text;           ///< the reply without the directives and tags
  std::vector<media_directive> files; ///< in order of appearance, each path once
  bool as_voice = false;              ///< `[[audio_as_voice]]`: audio goes as a voice message
  bool as_document = false;           ///< `[[as_document]]`: images go as files
};

/// The directives of a finished reply and the text the room is shown.
[[nodiscard]] media_directives extract_media(std::string_view reply_text);

/// The text of a reply that is still streaming, as the room may see it: complete
/// directives and tags removed as by extract_media, and what may be the start of one
/// at the end of the text (`MEDIA:/tmp/rep`, `MEDI`, `[[audio_`) hidden until the line
/// it is on is complete.
[[nodiscard]] std::string hide_partial_media(std::string_view streaming_text);

} // namespace hm::agent
