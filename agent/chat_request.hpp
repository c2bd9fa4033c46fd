#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hm::agent {

/// One entry of `messages`: role "system", "user" or "assistant".
struct chat_message {
  std::string role;
  std::string content;
  /// Images of this message as data URLs (`data:image/png;base64,...`, see
  /// image_input.hpp). Empty: `content` goes out as a plain string, as it always did.
  std::vector<std::string> image_urls = {};
  friend bool operator==(const chat_message&, const chat_message&) = default;
};

struct http_header {
  std::string name;
  std::string value;
  friend bool operator==(const http_header&, const http_header&) = default;
};

/// What to send; the caller performs it (design.md, "sans-I/O").
/// `headers` may hold the bearer key: never log a request whole.
struct http_request {
  std::string method;
  std::string url;
  std::vector<http_header> headers;
  std::string body;

  /// The value of the first header called `name` (ASCII case-insensitive), or "".
  [[nodiscard]] std::string_view header(std::string_view name) const;
};

/// Everything one turn's request needs. Views: the caller keeps the data alive
/// for the duration of the call.
struct chat_request_input {
  std::string_view base_url = {};   // GATEWAY_PROXY_URL, e.g. http://127.0.0.1:8642 or .../p/coder
  std::string_view api_key = {};    // GATEWAY_PROXY_KEY (secret::reveal()); empty: no Authorization
  std::string_view session_id = {}; // X-Hermes-Session-Id; empty: header left out
  std::string_view model = {};      // profile name or configured model
  std::span<const chat_message> messages = {};
};

/// A message's `content` as the wire takes it: the plain string when there are no
/// images; otherwise a list of parts, `{"type":"text","text":...}` first (left out when
/// `text` is empty) and one `{"type":"image_url","image_url":{"url":...}}` per image,
/// in order (the OpenAI shape the Hermes server accepts).
[[nodiscard]] nlohmann::json message_content(std::string_view text,
                                             std::span<const std::string> image_urls);

/// `{base}/v1/{path}` with trailing slashes of `base` removed; a base that already
/// ends in `/v1` (how OpenAI clients are often configured) gets `/{path}` only.
[[nodiscard]] std::string v1_url(std::string_view base_url, std::string_view path);

/// `v1_url(base_url, "chat/completions")`.
[[nodiscard]] std::string chat_completions_url(std::string_view base_url);

/// `v` fit for a header value: CR, LF and NUL removed (no header injection from a
/// config file or a server's answer).
[[nodiscard]] std::string header_value(std::string_view v);

/// The bearer header value for `api_key` (CR, LF and NUL removed).
[[nodiscard]] std::string bearer(std::string_view api_key);

/// POST with `stream: true`, `Content-Type: application/json`,
/// `Accept: text/event-stream`, `Authorization: Bearer <key>` only when a key is set,
/// `X-Hermes-Session-Id` when a session id is set. CR, LF and NUL are removed from
/// header values (no header injection from a config file). Invalid UTF-8 in contents
/// is replaced by U+FFFD rather than failing the turn.
[[nodiscard]] http_request build_chat_request(const chat_request_input& in);

/// Who is talking where, for the system context line.
struct conversation_context {
  std::string_view profile; // Hermes profile name
  std::string_view room;    // room id or name
  std::string_view sender;  // MXID of the sender
};

/// "You are the Hermes profile \"coder\", talking on Matrix in room R with S."
[[nodiscard]] std::string context_line(const conversation_context& ctx);

/// How much history a plain OpenAI-compatible backend gets. Oldest messages are
/// dropped first, until both bounds hold. Characters are Unicode code points.
struct history_limits {
  std::size_t max_messages = 40;
  std::size_t max_chars = 32'000;
};

/// For a plain OpenAI-compatible backend (it keeps no state): a system message with
/// the profile's SOUL.md text and the context line, then the most recent `history`
/// (oldest first, bounded by `limits`), then this message as "user" with `images`
/// (data URLs). History goes as text only: its images are not sent again (they would
/// cost the model a turn's worth of tokens each) and count nothing toward max_chars.
[[nodiscard]] std::vector<chat_message>
build_plain_messages(std::string_view soul, const conversation_context& ctx,
                     std::span<const chat_message> history, std::string_view this_message,
                     const history_limits& limits = {},
                     std::span<const std::string> images = {});

/// For the Hermes server, which keeps the history itself (per X-Hermes-Session-Id)
/// and knows the profile's SOUL.md: only the context line and this message (with
/// `images`, data URLs).
[[nodiscard]] std::vector<chat_message>
build_session_messages(const conversation_context& ctx, std::string_view this_message,
                       std::span<const std::string> images = {});

/// Unicode code points in UTF-8 `s` (continuation bytes are not counted).
[[nodiscard]] std::size_t count_chars(std::string_view s) noexcept;

} // namespace hm::agent
