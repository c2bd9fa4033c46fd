#pragma once

#include "agent/sse_parser.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hm::agent {

/// A fragment of the reply (`choices[0].delta.content`).
struct text_delta {
  std::string text;
  friend bool operator==(const text_delta&, const text_delta&) = default;
};

/// `event: hermes.tool.progress`: the agent is using a tool.
struct tool_progress {
  std::string tool;   // `tool` (older servers: `name`)
  std::string emoji;
  std::string label;
  std::string status; // e.g. "running", "completed"
  std::string call_id; // `toolCallId`: the running and completed events of one call
  friend bool operator==(const tool_progress&, const tool_progress&) = default;
};

/// A `:` comment line; the backend is alive but has nothing to say yet.
struct keepalive {
  friend bool operator==(const keepalive&, const keepalive&) = default;
};

enum class finish_reason { stop, length, error, other };

[[nodiscard]] const char* to_string(finish_reason r);

/// Token counts of the turn (`usage`); absent counts are 0.
struct token_usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  friend bool operator==(const token_usage&, const token_usage&) = default;
};

/// The Hermes server's account of the turn (`hermes: {...}` on the last chunk).
struct hermes_outcome {
  bool completed = false;
  bool partial = false;
  bool failed = false;
  std::string error;
  std::string error_code;
  friend bool operator==(const hermes_outcome&, const hermes_outcome&) = default;
};

/// The chunk with a `finish_reason` (or a bare `{"error": ...}` chunk mid-stream,
/// which some OpenAI-compatible servers send instead).
struct finish {
  finish_reason reason = finish_reason::stop;
  std::string raw_reason;             // as sent, for `other` and for logs
  std::optional<token_usage> usage;
  std::optional<std::string> error;   // `error` (string, or `error.message`)
  std::optional<hermes_outcome> hermes;
  friend bool operator==(const finish&, const finish&) = default;
};

/// `data: [DONE]`: the stream is complete.
struct done {
  friend bool operator==(const done&, const done&) = default;
};

/// Something the decoder could not use. Never fatal: the stream goes on.
struct malformed {
  std::string what; // short, for logs; quotes at most a few bytes of the input
  friend bool operator==(const malformed&, const malformed&) = default;
};

using stream_item =
  std::variant<text_delta, tool_progress, keepalive, finish, done, malformed>;

/// Turns an OpenAI chat-completions stream (with Hermes' extensions) into typed items.
/// Feed the response body in chunks as they arrive; the items are the same whatever
/// the chunking. Never throws on bad input: it becomes a `malformed` item.
///
/// Events other than the default "message" and `hermes.tool.progress` are skipped
/// (newer servers add event names; old clients must keep working). Role-only chunks,
/// empty deltas and usage-only chunks (`choices: []`) produce nothing. Items after
/// `done` are still reported; stopping there is the caller's decision.
class chat_stream_decoder {
public:
  explicit chat_stream_decoder(
    std::size_t max_event_bytes = sse_parser::default_max_event_bytes)
    : sse_(max_event_bytes) {}

  /// Appends the items completed by `chunk` to `out`.
  void feed(std::string_view chunk, std::vector<stream_item>& out);

  /// Convenience: the items completed by `chunk`.
  [[nodiscard]] std::vector<stream_item> feed(std::string_view chunk);

  /// True when an event was begun but not finished (a truncated stream).
  [[nodiscard]] bool mid_event() const noexcept { return sse_.mid_event(); }

private:
  sse_parser sse_;
  std::vector<sse_record> records_; // reused between feeds
};

} // namespace hm::agent
