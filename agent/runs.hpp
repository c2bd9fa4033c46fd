#pragma once

// Hermes' runs API (`/v1/runs`), sans-I/O: the requests that start a run, follow its
// events, answer its approvals, stop it and ask its status, and the decoder of its
// event stream. As the real server speaks it (../../shared/reference/hermes-api-server/,
// Hermes 0.18.x; newer servers add Idempotency-Key on POST, offered in capabilities):
// - POST /v1/runs answers 202 {"run_id", "status": "started"} at once;
// - GET /v1/runs/{id}/events is `data: {json}` frames with the event name inside
//   ("message.delta", "tool.started", "approval.request", "run.completed", ...), read
//   by one consumer only: once that stream ends the events are gone, and a run is
//   followed further only through GET /v1/runs/{id} (status, and `output` when done);
// - an approval is answered with POST /v1/runs/{id}/approval {"choice"}; a timeout on
//   the server sends no event (its status stays waiting_for_approval).

#include "agent/chat_request.hpp"
#include "agent/chat_stream.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hm::agent {

/// The answers to an approval the server takes.
enum class approval_choice { once, session, always, deny };

[[nodiscard]] const char* to_string(approval_choice c);

/// "once", "session", "always", "deny" (any case); nullopt for anything else.
[[nodiscard]] std::optional<approval_choice> parse_approval_choice(std::string_view text);

/// Everything POST /v1/runs needs. Views: the caller keeps the data alive.
struct run_request_input {
  std::string_view base_url = {};
  std::string_view api_key = {};
  std::string_view session_id = {};   ///< the conversation's session on the server
  std::string_view input = {};        ///< what the person said
  std::string_view instructions = {}; ///< the context line (the server has the persona)
  /// The conversation so far: a 0.18.x server does not load it by session_id.
  std::span<const chat_message> history = {};
  /// Sent as Idempotency-Key where the server honours one; "" for none.
  std::string_view idempotency_key = {};
  /// Images of this message (data URLs). With any, `input` goes as one user message
  /// whose content is a list of parts (message_content): the server hands the last
  /// input message's content to the agent as it is. Without, a plain string.
  std::span<const std::string> images = {};
};

[[nodiscard]] http_request build_run_request(const run_request_input& in);

/// What POST /v1/runs answered: the run, or nullopt when it did not start one (any
/// other status, or a body without a run id; the caller describes the error).
struct run_started {
  std::string run_id;
  bool replayed = false; ///< an Idempotency-Key replay: the run existed already
};
[[nodiscard]] std::optional<run_started> parse_run_started(int status, std::string_view body);

[[nodiscard]] http_request build_run_events_request(std::string_view base_url,
                                                    std::string_view api_key,
                                                    std::string_view run_id);
[[nodiscard]] http_request build_run_status_request(std::string_view base_url,
                                                    std::string_view api_key,
                                                    std::string_view run_id);
[[nodiscard]] http_request build_run_approval_request(std::string_view base_url,
                                                      std::string_view api_key,
                                                      std::string_view run_id,
                                                      approval_choice choice);
[[nodiscard]] http_request build_run_stop_request(std::string_view base_url,
                                                  std::string_view api_key,
                                                  std::string_view run_id);

/// `approval.request`: the agent wants to run something dangerous and waits.
struct approval_request {
  std::string command;     ///< as the server gives it (already redacted by it)
  std::string description; ///< why it is dangerous
  std::vector<approval_choice> choices; ///< what the server takes; "always" left out
                                        ///< where allow_permanent is false
  friend bool operator==(const approval_request&, const approval_request&) = default;
};

/// `approval.responded`: an answer reached the server.
struct approval_responded {
  std::string choice;
  friend bool operator==(const approval_responded&, const approval_responded&) = default;
};

enum class run_end_kind { completed, failed, cancelled };

/// The terminal event: `run.completed {output}`, `run.failed {error}`, `run.cancelled`.
struct run_end {
  run_end_kind kind = run_end_kind::completed;
  std::string output; ///< the final text (completed)
  std::string error;  ///< why (failed)
  friend bool operator==(const run_end&, const run_end&) = default;
};

using run_item = std::variant<text_delta, tool_progress, approval_request, approval_responded,
                              run_end, keepalive, malformed>;

/// Turns a run's event stream into typed items, whatever the chunking. `tool.started`
/// becomes a running tool_progress labelled with its preview, `tool.completed` a
/// completed one (runs carry no call id: the newest running call of that tool is it).
/// Unknown events (reasoning, subagents, what newer servers add) are skipped; bad
/// frames become `malformed`. Never throws.
class run_stream_decoder {
public:
  [[nodiscard]] std::vector<run_item> feed(std::string_view chunk);

private:
  sse_parser sse_;
  std::vector<sse_record> records_;
};

/// GET /v1/runs/{id}: where the run is.
struct run_status {
  std::string status;                ///< queued, running, waiting_for_approval, stopping,
                                     ///< completed, failed, cancelled, interrupted, ...
  std::string output;                ///< completed: the final text
  std::string error;                 ///< failed: why
  [[nodiscard]] bool terminal() const;
};

/// What GET /v1/runs/{id} said: the status, `not_found` (404: the server does not know
/// the run, e.g. it restarted or forgot it), or nullopt when it could not be read (no
/// answer, 5xx, a body that is not the status: ask again later).
struct run_not_found {};
[[nodiscard]] std::optional<std::variant<run_status, run_not_found>>
parse_run_status(int status, std::string_view body);

} // namespace hm::agent
